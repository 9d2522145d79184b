#!/usr/bin/env bash
# Read .env-style files as Compose and python-dotenv read them, for the Makefile (which runs before
# any venv exists, so it cannot use python-dotenv).
#
#   env-value.sh NAME FILE...      the value NAME has after reading the FILEs in order (the last
#                                  setting wins); nothing when no file sets it
#   env-value.sh --check FILE...   one line naming the first line that the three readers would
#                                  not read alike, or nothing; exit 0 either way
#
# Understood, as Compose understands them: blank lines, `# comments`, an optional `export `, and
# values unquoted (an inline comment starts at " #"), in 'single' or in "double" quotes, each
# followed by nothing but an optional comment. Refused, since one reader would see another value:
# `$` outside single quotes (Compose expands `$x`, python-dotenv only `${x}`, make both its own
# way), backslashes and quotes inside double quotes, a value that spans lines, and lines of any
# other shape.
set -uo pipefail

# Sets `value` from one line's value part (after KEY=), or `problem` to why it cannot (and fails).
parse_value() {
  local raw=${1#"${1%%[![:space:]]*}"} rest
  case "$raw" in
    "'"*)
      [[ $raw =~ ^\'([^\']*)\'([[:space:]]*(#.*)?)$ ]] ||
        { problem="a single-quoted value must close its quote on the same line, then hold only a comment"; return 1; }
      value=${BASH_REMATCH[1]}
      ;;
    '"'*)
      [[ $raw =~ ^\"([^\"]*)\"([[:space:]]*(#.*)?)$ ]] ||
        { problem="a double-quoted value must close its quote on the same line, then hold only a comment"; return 1; }
      value=${BASH_REMATCH[1]}
      [[ $value != *[\\\$]* ]] ||
        { problem="\\ and \$ inside double quotes are read differently by Compose and make: use single quotes"; return 1; }
      ;;
    *)
      # An inline comment starts at whitespace followed by #; then trailing whitespace goes.
      rest=${raw%%[[:space:]]#*}
      rest=${rest%"${rest##*[![:space:]]}"}
      [[ $rest != *\$* ]] ||
        { problem="Compose expands \$ in an unquoted value (and make and python-dotenv do not agree with it): put the value in single quotes"; return 1; }
      [[ $rest != [\'\"]* ]] || { problem="unbalanced quotes"; return 1; }
      value=$rest
      ;;
  esac
}

# Calls `visit FILE LINENO KEY` with `value` set for every setting; stops at the first line it
# cannot read, printing "FILE:LINENO: why (the fix)".
walk() {
  local visit=$1 file line number key
  shift
  for file in "$@"; do
    [ -f "$file" ] || continue
    number=0
    while IFS= read -r line || [ -n "$line" ]; do
      number=$((number + 1))
      line=${line%$'\r'}
      [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
      if [[ ! $line =~ ^(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
        echo "$file:$number: not a KEY=value line (${line:0:40}): write it as NAME=value, as .env does"
        return 1
      fi
      key=${BASH_REMATCH[2]}
      if ! parse_value "${BASH_REMATCH[3]}"; then
        echo "$file:$number: $key: $problem"
        return 1
      fi
      "$visit" "$key"
    done <"$file"
  done
}

found="" wanted=""
remember() { [ "$1" != "$wanted" ] || found=$value; }
ignore() { :; }

case "${1:-}" in
  --check)
    shift
    walk ignore "$@" || true
    ;;
  [A-Za-z_]*)
    wanted=$1
    shift
    # A file make cannot read yields nothing here: --check has already stopped make with its line.
    walk remember "$@" >/dev/null && printf '%s\n' "$found"
    ;;
  *)
    echo "usage: env-value.sh NAME FILE... | --check FILE..." >&2
    exit 2
    ;;
esac
