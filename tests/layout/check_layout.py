#!/usr/bin/env python3
"""Checks the source tree's shape: includes point only down the floors of
docs/architecture.md, the core includes nothing but Abseil, RE2, the C++
library and itself, core/internal/ is included only from core/, no
source file outside tests/ is over 600 lines, and the installed public
headers (CUTOVER_PUBLIC_HEADERS in cmake/install.cmake) include of the
project only each other: no generated protobuf, server or internal header.
Also that no Catch2 test name under tests/ holds a ';': ctest's test list
is ';'-separated, so catch_discover_tests turns such a test into names that
match no test, and it never runs.

Usage: check_layout.py SOURCE_DIR. Prints one line per breach and exits 1
if there is any; prints a one-line summary and exits 0 otherwise.
"""
import os
import re
import sys

# Which project folders (and generated protobuf packages) each folder may
# include from. A folder may always include itself.
ALLOWED = {
    "core": set(),
    "rpc": set(),
    "credentials": set(),
    "convert": {"core", "cutover/v1"},
    "yaml": {"cutover/v1"},
    "server": {"core", "convert", "rpc", "credentials", "yaml",
               "cutover/v1", "cutover/storage", "cutover/config"},
    "client": {"core", "convert", "rpc", "cutover/v1"},
    "cli": {"core", "convert", "rpc", "credentials", "yaml", "client",
            "cutover/v1"},
    "examples": {"core", "convert", "rpc", "client", "cutover/v1"},
}
PROJECT_PREFIXES = ["core", "convert", "rpc", "credentials", "yaml", "server",
                    "client", "cli", "examples", "tests", "cutover/v1",
                    "cutover/storage", "cutover/config"]
# What the pure core may include besides itself and <standard headers>.
CORE_EXTERNAL = ("absl/", "re2/")
MAX_LINES = 600

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
PUBLIC_HEADERS = re.compile(r"set\(CUTOVER_PUBLIC_HEADERS\s+([^)]*)\)")


def public_header_breaches(root):
    """Project includes of installed headers that are not installed."""
    with open(os.path.join(root, "cmake", "install.cmake"),
              encoding="utf-8") as f:
        m = PUBLIC_HEADERS.search(f.read())
    if not m:
        return ["cmake/install.cmake: no set(CUTOVER_PUBLIC_HEADERS ...)"]
    public = set(m.group(1).split())
    breaches = []
    for header in sorted(public):
        with open(os.path.join(root, header), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                inc = INCLUDE.match(line)
                if inc and owner(inc.group(1)) and inc.group(1) not in public:
                    breaches.append(
                        f"{header}:{number}: includes \"{inc.group(1)}\", "
                        "which is not installed (CUTOVER_PUBLIC_HEADERS)")
    return breaches


TEST_CASE = re.compile(r'TEST_CASE\(((?:\s*"(?:[^"\\]|\\.)*")+)')
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def test_name_breaches(root):
    breaches = []
    for dirpath, _, names in os.walk(os.path.join(root, "tests")):
        for name in sorted(names):
            if not name.endswith(".cc"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for m in TEST_CASE.finditer(text):
                test = "".join(STRING.findall(m.group(1)))
                if ";" in test:
                    line = text.count("\n", 0, m.start()) + 1
                    breaches.append(
                        f"{os.path.relpath(path, root)}:{line}: test name "
                        f"\"{test}\" holds a ';': ctest would never run it")
    return breaches


def owner(include):
    for prefix in PROJECT_PREFIXES:
        if include.startswith(prefix + "/"):
            return prefix
    return None


def main():
    root = sys.argv[1]
    breaches = []
    files = 0
    for folder in ALLOWED:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for name in sorted(names):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                files += 1
                with open(path, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                if len(lines) - 1 > MAX_LINES:
                    breaches.append(f"{rel}: {len(lines) - 1} lines, over "
                                    f"{MAX_LINES}: split it by concern")
                for number, line in enumerate(lines, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    include = m.group(1)
                    target = owner(include)
                    where = f"{rel}:{number}: includes \"{include}\""
                    if include.startswith("core/internal/") and \
                            folder != "core":
                        breaches.append(f"{where}: core/internal/ is the "
                                        "core's own")
                    if target is None:
                        if folder == "core" and \
                                not include.startswith(CORE_EXTERNAL):
                            breaches.append(f"{where}: the core includes "
                                            "only Abseil, RE2 and itself")
                        continue
                    if target == folder:
                        continue
                    if target not in ALLOWED[folder]:
                        breaches.append(f"{where}: {folder}/ may include "
                                        "only from " + (", ".join(
                                            sorted(ALLOWED[folder]))
                                            or "itself"))
    breaches += public_header_breaches(root)
    breaches += test_name_breaches(root)
    for breach in breaches:
        print(breach)
    if breaches:
        print(f"{len(breaches)} breaches in {files} files")
        return 1
    print(f"layout: {files} files, every include points down, none over "
          f"{MAX_LINES} lines, installed headers include only installed ones, "
          "no test name with a ';'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
