# Sourced by the build scripts: with_progress WHAT COMMAND... runs COMMAND and says every
# PROGRESS_EVERY seconds (30) that WHAT is still going, then how long it took, through the caller's
# log function; a first build's minutes of compiling show as progress rather than silence.
# Returns COMMAND's status. bash 3.2 safe (no wait -n).

with_progress() {
  local what=$1 every=${PROGRESS_EVERY:-30} started=$SECONDS pid status=0
  shift
  "$@" &
  pid=$!
  while ! _ended_within "$pid" "$every"; do log "$what: $((SECONDS - started)) s so far"; done
  wait "$pid" || status=$?
  if [ "$status" = 0 ]; then log "$what: done in $((SECONDS - started)) s"; fi
  return "$status"
}

# True once process $1 has ended, false after $2 seconds while it runs.
_ended_within() {
  local waited=0
  while [ "$waited" -lt "$2" ]; do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 1
    waited=$((waited + 1))
  done
  return 1
}
