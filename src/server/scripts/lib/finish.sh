# shellcheck shell=sh
# Phase 9, as finish.sh runs it, and as release.sh runs it right behind the switch on a single
# server with nothing to run or check after the switch: prune, record events, compact the
# release log, leave a copy of the new live release for the next deploy, release the lock. D and
# M are set by the including script.
#
# @param EVENTS list Events to append to the release log, as pairs of words: event, release id.
# @param PRUNE list Releases to delete (complete ones beyond keep-releases).
# @param FORGET list Ids whose lines are dropped from the log (pruned or long gone), so it stays small.
# @param LOCK_TOKEN string Release the lock if this token holds it (empty: leave it).
# @param SPARE_RELEASE string Copy this release, once live, in the background for the next deploy to start from (empty: no copy).
# @param SPARE_NEED_KB string Kilobytes the disk must have free for that copy.

finish_run() {
  # Pruning never removes what current points to, whatever the runner believed.
  eval "set -- $PRUNE"
  cur=''
  [ $# -eq 0 ] || cur=$(readlink "$D/current")
  for id; do
    [ "$cur" = "releases/$id" ] || {
      rm -rf "$D/releases/$id" "$M/manifests/$id".* "$M/revisions/$id.json" &&
        say "pruned $id"
    }
  done
  eval "set -- $EVENTS"
  while [ $# -ge 2 ]; do
    log_event "$1" "$2"
    shift 2
  done
  eval "set -- $FORGET"
  if [ $# -gt 0 ]; then
    printf '%s\n' "$@" > "$M/log.forget"
    awk -F '\t' 'NR == FNR { f[$0] = 1; next } !($2 in f)' "$M/log.forget" "$M/log" > "$M/log.new" && mv "$M/log.new" "$M/log"
    rm -f "$M/log.forget" "$M/log.new"
  fi
  set -- "$M"/seeded.*
  if [ -e "$1" ]; then rm -f "$M"/seeded.*; fi
  # The spare: a copy of the release now live, made in the background after the deploy (and so
  # after after-switch), for the next deploy to start from instead of copying then. It is a whole
  # copy like any other (cp -a: every file its own inode), only made earlier; the next deploy
  # takes it only when it is complete and of the release live then, unchanged since (see
  # inspect.sh), and drops it otherwise. Not made when the disk is short of room (SPARE_NEED_KB).
  spare=''
  if [ -n "$SPARE_RELEASE" ] && [ "$(readlink "$D/current" 2>/dev/null)" = "releases/$SPARE_RELEASE" ]; then
    avail=$(df -Pk "$M" 2>/dev/null | awk 'NR == 2 { print $4 }')
    case $avail in '' | *[!0-9]*) avail=0 ;; esac
    if [ "$avail" -gt "$SPARE_NEED_KB" ]; then
      drop_base
      # As at lock time (inspect.sh): the copy's directory never world-writable, whatever the
      # login's umask; below it, cp -a keeps the release's modes.
      umask "$(printf '%04o' $(($(umask) | 2)))"
      start_copy "$SPARE_RELEASE" copy && spare=${B##*/} && say "spare $spare"
    else
      say "no-spare $avail"
    fi
  fi
  unlock_if_ours "$LOCK_TOKEN"
  say finished
}
