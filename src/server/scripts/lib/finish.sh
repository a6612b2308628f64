# shellcheck shell=sh
# Phase 9, as finish.sh runs it, and as release.sh runs it right behind the switch on a single
# server with nothing to run or check after the switch: record events, prune, compact the
# release log, leave a copy of the new live release for the next deploy, release the lock. D and
# M are set by the including script, which includes lib/guard.sh and lib/metadata.sh too; it
# also has LOCK_TOKEN, this run's lock token.
#
# @param EVENTS list Events to append to the release log, as pairs of words: event, release id.
# @param PRUNE list Releases to delete (complete ones beyond keep-releases).
# @param FORGET list Ids whose lines are dropped from the log (pruned or long gone), so it stays small.
# @param SEEDED list Releases whose seed records go: their shared paths stay in shared/ for good.
# @param FINISH_KEEP list Releases the guard keeps from here on, whatever else asks (with GUARD_KEEP): the one live when the run began and the one it switched to.
# @param SPARE_RELEASE string Copy this release, once live, in the background for the next deploy to start from (empty: no copy).
# @param SPARE_NEED_KB string Kilobytes the disk must have free for that copy.
# @param SPARE_METHOD string How that copy is made: copy (cp -a) or hardlink (cp -al), as copy-method says.

# shellcheck disable=SC2154 # why and ct: set by lib/guard.sh
finish_run() {
  # shellcheck disable=SC2034 # guard_also_keep: read by lib/guard.sh
  guard_also_keep=$FINISH_KEEP
  eval "set -- $EVENTS"
  # Events of one moment: one stamp (a process) for all of them, or the one the release script
  # gave ready just before.
  [ $# -lt 2 ] || [ -n "${log_stamp:-}" ] || log_stamp=$(date -u "$stamp_format")
  while [ $# -ge 2 ]; do
    log_event "$1" "$2"
    shift 2
  done
  log_stamp=''
  # What is shared by every run (other releases, the log, the seed records, the copies of a
  # release) is touched only while this run holds the lock: a run that outlived its runner never
  # acts on a later run's things.
  spare='' pruning=''
  if lock_is_ours "$LOCK_TOKEN"; then
    # Pruning passes the guard: never what current points to, nor the releases the runner keeps
    # (the live one and the one it replaced), whatever the runner believed. A release's tree is
    # renamed aside (prune_aside) and removed once the run is done; its records go now.
    eval "set -- $PRUNE"
    for id; do
      # Each record by its name: a pattern such as "$id".* would also match the records of a
      # release whose id merely starts with this one and a dot (v1.0 and v1.0.1).
      if prune_aside "$id" && guarded_rm ".atomic-deploy/revisions/$id.json" \
        ".atomic-deploy/manifests/$id.json.gz" ".atomic-deploy/manifests/$id.links" \
        ".atomic-deploy/manifests/$id.listing" ".atomic-deploy/manifests/$id.hook" \
        ".atomic-deploy/manifests/$id.ready" ".atomic-deploy/manifests/$id.m2" \
        ".atomic-deploy/manifests/$id.digest" ".atomic-deploy/manifests/$id.view.gz" \
        ".atomic-deploy/manifests/$id.view"; then
        say "pruned $id"
      else
        say "kept $id: $why"
      fi
    done
    eval "set -- $FORGET"
    if [ $# -gt 0 ]; then
      # The ids are awk's operands after the log, taken out of ARGV before any is read (not -v
      # values, whose escapes awk processes; not a file, which is a removal more): the log is
      # the only file read.
      awk -F '\t' 'BEGIN { for (i = 2; i < ARGC; i++) { f[ARGV[i]] = 1; delete ARGV[i] } } !($2 in f)' "$M/log" "$@" > "$M/log.new.$$" &&
        mv "$M/log.new.$$" "$M/log"
      guarded_rm ".atomic-deploy/log.new.$$"
    fi
    eval "set -- $SEEDED"
    for id; do guarded_rm ".atomic-deploy/seeded.$id"; done
    # The spare: a copy of the release now live, made in the background after the deploy (and
    # so after after-switch), for the next deploy to start from instead of copying then. It is
    # the copy that deploy would make at lock time (copy-method copy: cp -a, every file its own
    # inode; hardlink: cp -al), only made earlier; the next deploy takes it only when it is
    # complete and of the release live then, unchanged since (see inspect.sh), and drops it
    # otherwise. Not made when the disk is short of room (SPARE_NEED_KB).
    current_target
    if [ -n "$SPARE_RELEASE" ] && [ "$ct" = "releases/$SPARE_RELEASE" ]; then
      # df -P prints a header of six fields (its last, "Mounted on", is two words), then the
      # file system's line: the available kilobytes are the eleventh word. Split by the shell
      # rather than by awk: one process fewer.
      # shellcheck disable=SC2086 # split into words on purpose (globbing is off)
      avail=$(df -Pk "$M" 2>/dev/null) && set -f && set -- $avail && set +f && avail=${11:-}
      case $avail in '' | *[!0-9]*) avail=0 ;; esac
      if [ "$avail" -gt "$SPARE_NEED_KB" ]; then
        drop_base
        start_copy "$SPARE_RELEASE" "$SPARE_METHOD" low && spare=${B##*/} && say "spare $spare"
      else
        say "no-spare $avail"
      fi
    fi
  elif [ -n "$PRUNE$FORGET$SEEDED" ]; then
    say "warning the lock on $D is no longer this run's: nothing was pruned"
  fi
  unlock_if_ours "$LOCK_TOKEN"
  # The pruned trees, renamed aside above, go once the run is done, in the background (reading
  # /dev/null and writing nowhere, so the channel closes without waiting for it): removing a
  # 3,500-file release took 0.1 s, on every deploy that prunes. What a lost server leaves
  # half-removed, the next deploy's prepare removes with the other leftovers.
  if [ -n "$pruning" ]; then
    (
      trap '' HUP
      rm -rf -- "$D"/releases/.pruning.*."$$"
    ) < /dev/null > /dev/null 2>&1 &
  fi
  say finished
}

# prune_aside ID: the tree of release ID renamed to releases/.pruning.ID.<pid>, for finish_run
# to remove in the background, when the guard allows its removal (never what current points to,
# nor a kept release); on a refusal, says so (refused-remove, as guarded_rm) and returns 1. The
# rename stays within releases/, so it never copies; where it fails, the tree is removed now.
prune_aside() {
  pa_rel="releases/$1"
  current_target
  if ! removable "$pa_rel"; then
    say "refused-remove $why"
    return 1
  fi
  [ -e "$D/$pa_rel" ] || [ -L "$D/$pa_rel" ] || return 0
  if mv "$D/$pa_rel" "$D/releases/.pruning.$1.$$" 2>/dev/null; then
    pruning=1
  else
    guarded_rm "$pa_rel"
  fi
}
