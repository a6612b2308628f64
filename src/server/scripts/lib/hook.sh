# shellcheck shell=sh
# Running a user's hook (before-switch, after-switch).

# run_hook NAME DIR SCRIPT ENV UMASK: run SCRIPT under `sh -e` in DIR, with ENV (a list of
# NAME=value words, quoted as the runner's lists are) in its environment and UMASK as its umask,
# stdin closed and all output on stderr (streamed to the log). Leaves the exit status in $rc;
# returns 1, with $why, when the hook could not be set up. The script reaches the server as a
# value, never as script text. It is written to a file in a directory made for this run alone
# under $M/tmp (mkdir fails on a name that exists), private (0700, the file 0600: hooks carry
# secrets), in a $M/tmp that is a real directory of the deploy user's: no other account can read
# it or swap it before `sh -e` reads it. `env` sets the variables for the hook alone: the
# script's own variables (its parameters are read-only, and one is RELEASE_ID) stay as they
# are, and none of them reaches the hook.
run_hook() {
  rc=1
  mkdir -p "$M/tmp" 2>/dev/null
  real_dir "$M/tmp" || return 1
  # A name left by a run that is gone (and had this pid) is passed over, not reused.
  hn=0
  while :; do
    hd="$M/tmp/hook.$$.$hn"
    mkdir "$hd" 2>/dev/null && break
    hn=$((hn + 1))
    if [ $hn -ge 10 ]; then
      why="cannot create a directory for the hook in $M/tmp"
      return 1
    fi
  done
  H="$hd/$1.sh"
  printf '%s\n' "$3" > "$H" || {
    # shellcheck disable=SC2034 # why: read by the caller, as the guard's is
    why="cannot write $H"
    return 1
  }
  say "hook-start $1"
  (
    cd "$2" || exit 1
    umask "$5" || exit 1
    eval "set -- $4"
    exec env ${1+"$@"} sh -e "$H"
  ) </dev/null >&2
  rc=$?
  guarded_rm ".atomic-deploy/tmp/${hd##*/}" >/dev/null
  say "hook-exit $1 $rc"
}
