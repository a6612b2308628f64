# shellcheck shell=sh
# Phase 9: prune, record events, compact the release log, release the lock.
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.
# @param EVENTS list Events to append to the release log, as pairs of words: event, release id.
# @param PRUNE list Releases to delete (complete ones beyond keep-releases).
# @param FORGET list Ids whose lines are dropped from the log (pruned or long gone), so it stays small.
# @param LOCK_TOKEN string Release the lock if this token holds it (empty: leave it). Pruning, compacting the log and dropping seed records happen only while it does.
# @param SEEDED list Releases whose seed records go: their shared paths stay in shared/ for good.

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
eval "set -- $EVENTS"
while [ $# -ge 2 ]; do
  log_event "$1" "$2"
  shift 2
done
# What is shared by every run (other releases, the log, the seed records) is touched only while
# this run holds the lock: a run that outlived its runner never acts on a later run's things.
if lock_is_ours "$LOCK_TOKEN"; then
  # Pruning passes the guard: never what current points to, nor the releases the runner keeps
  # (the live one and the one it replaced), whatever the runner believed.
  eval "set -- $PRUNE"
  for id; do
    # Each record by its name: a pattern such as "$id".* would also match the records of a
    # release whose id merely starts with this one and a dot (v1.0 and v1.0.1).
    if guarded_rm "releases/$id" ".atomic-deploy/revisions/$id.json" \
      ".atomic-deploy/manifests/$id.json.gz" ".atomic-deploy/manifests/$id.links" \
      ".atomic-deploy/manifests/$id.listing" ".atomic-deploy/manifests/$id.hook" \
      ".atomic-deploy/manifests/$id.ready"; then
      say "pruned $id"
    else
      say "kept $id: $why"
    fi
  done
  eval "set -- $FORGET"
  if [ $# -gt 0 ]; then
    printf '%s\n' "$@" > "$M/log.forget.$$"
    awk -F '\t' 'NR == FNR { f[$0] = 1; next } !($2 in f)' "$M/log.forget.$$" "$M/log" > "$M/log.new.$$" &&
      mv "$M/log.new.$$" "$M/log"
    guarded_rm ".atomic-deploy/log.forget.$$" ".atomic-deploy/log.new.$$"
  fi
  eval "set -- $SEEDED"
  for id; do guarded_rm ".atomic-deploy/seeded.$id"; done
elif [ -n "$PRUNE$FORGET$SEEDED" ]; then
  say "warning the lock on $D is no longer this run's: nothing was pruned"
fi
unlock_if_ours "$LOCK_TOKEN"
say finished
