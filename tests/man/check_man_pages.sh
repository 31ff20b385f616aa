#!/usr/bin/env bash
# The manual pages (docs/man/, configured into BUILD_DIR/man/ by
# cmake/install.cmake): each renders with groff and with man-db as lintian
# runs it, without a single warning; the version is filled in; and the
# pages name what the programs really have: every option of `cutoverd
# --help` in cutoverd(8), every global option and command of `cutoverctl
# --help` in cutoverctl(1).
#
# Usage: check_man_pages.sh BUILD_DIR VERSION CUTOVERD CUTOVERCTL
set -euo pipefail
BUILD="$1"
VERSION="$2"
CUTOVERD="$3"
CUTOVERCTL="$4"

fail() { echo "FAIL: $*"; exit 1; }

for page in "$BUILD/man/cutoverd.8" "$BUILD/man/cutoverctl.1"; do
  [ -f "$page" ] || fail "$page missing (configure the build)"
  echo "== $(basename "$page")"
  grep -q "^\.TH .* \"cutover $VERSION\" " "$page" ||
    fail "$page: .TH does not carry the version $VERSION"
  if grep -n '@[A-Z_]*@' "$page"; then fail "$page: a placeholder is left"; fi
  # -ww: every warning; -z: no output but the diagnostics.
  out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  [ -z "$out" ] || fail "groff warns about $page: $out"
  # What lintian's manual page check runs.
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
        "$page" 2>&1 > /dev/null)
  [ -z "$out" ] || fail "man warns about $page: $out"
done

# "--data-dir" in roff is "\-\-data\-dir".
roff_option() { printf '%s' "$1" | sed 's/-/\\-/g'; }
# The long options of a --help text (CLI11's "  -o,--output TEXT ...").
long_options() {
  grep -oE '^  (-[a-zA-Z],)?--[a-z][a-z-]*' | sed 's/^ *\(-[a-zA-Z],\)\?//' |
    grep -vxE -- '--help'
}

missing=0
for option in $("$CUTOVERD" --help | long_options); do
  grep -qF -- "$(roff_option "$option")" "$BUILD/man/cutoverd.8" ||
    { echo "cutoverd.8 does not name $option"; missing=1; }
done
for option in $("$CUTOVERCTL" --help | long_options); do
  grep -qF -- "$(roff_option "$option")" "$BUILD/man/cutoverctl.1" ||
    { echo "cutoverctl.1 does not name $option"; missing=1; }
done
# Commands: the "Subcommands:" list of the top level and of each group.
commands=$("$CUTOVERCTL" --help | sed -n '/^Subcommands:/,$p' |
           grep -oE '^  [a-z]+' | tr -d ' ')
[ -n "$commands" ] || fail "no commands in cutoverctl --help"
for command in $commands; do
  subcommands=$("$CUTOVERCTL" "$command" --help |
                sed -n '/^Subcommands:/,$p' | grep -oE '^  [a-z]+' |
                tr -d ' ' || true)
  if [ -z "$subcommands" ]; then
    grep -qE "^\.(B|BI|BR) \"?$command( |\"|$)" "$BUILD/man/cutoverctl.1" ||
      { echo "cutoverctl.1 has no entry for $command"; missing=1; }
  fi
  for sub in $subcommands; do
    grep -qE "^\.(B|BI|BR) \"?$command $sub( |\"|$)" \
        "$BUILD/man/cutoverctl.1" ||
      { echo "cutoverctl.1 has no entry for $command $sub"; missing=1; }
  done
done
[ "$missing" -eq 0 ] || fail "the manual pages miss what the programs have"
echo "OK: both pages render without warnings and name every option and command"
