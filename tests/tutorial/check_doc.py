#!/usr/bin/env python3
"""Checks that every command of docs/tutorial.md is a line of
scripts/tutorial.sh: the doc and the script that ctest runs tell the same
story. Commands are the lines of ```sh blocks, continuation lines ("\\")
joined, whitespace collapsed. Exits 1 naming the first command missing.

  check_doc.py DOC SCRIPT
"""
import re
import sys


def commands(text, fenced):
    """Logical lines of the text (inside ```sh blocks if fenced)."""
    lines, inside, pending = [], not fenced, ""
    for raw in text.splitlines():
        if fenced and raw.startswith("```"):
            inside = raw.strip() == "```sh"
            continue
        if not inside:
            continue
        line = raw.strip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = re.sub(r"\s+", " ", (pending + line).strip())
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def main():
    doc, script = (open(path).read() for path in sys.argv[1:3])
    script_lines = commands(script, fenced=False)
    checked = 0
    for command in commands(doc, fenced=True):
        if not any(command in line for line in script_lines):
            print(f"docs/tutorial.md: not in scripts/tutorial.sh: {command}")
            return 1
        checked += 1
    if checked < 20:
        print(f"only {checked} commands found in the doc's sh blocks")
        return 1
    print(f"{checked} commands of the doc are in the script")
    return 0


if __name__ == "__main__":
    sys.exit(main())
