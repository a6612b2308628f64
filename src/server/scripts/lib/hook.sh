# shellcheck shell=sh
# Running a user's hook (before-switch, after-switch).

# run_hook NAME DIR SCRIPT ENV: run SCRIPT under `sh -e` in DIR, with ENV (a list of NAME=value
# words, quoted as the runner's lists are) in its environment, stdin closed and all output on
# stderr (streamed to the log). Leaves the exit status in $rc. The script reaches the server as a
# value, never as script text, and is written to a file under $M/tmp that `sh -e` runs. `env`
# sets the variables for the hook alone: the script's own variables (its parameters are
# read-only, and one is RELEASE_ID) stay as they are, and none of them reaches the hook.
run_hook() {
  H="$M/tmp/$1.$$.sh"
  mkdir -p "$M/tmp" && printf '%s\n' "$3" > "$H"
  say "hook-start $1"
  (
    cd "$2" || exit 1
    eval "set -- $4"
    exec env "$@" sh -e "$H"
  ) </dev/null >&2
  rc=$?
  rm -f "$H"
  say "hook-exit $1 $rc"
}
