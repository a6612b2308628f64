# shellcheck shell=sh
# Phase 9: prune, record events, compact the release log, release the lock.
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.
# @param EVENTS list Events to append to the release log, as pairs of words: event, release id.
# @param PRUNE list Releases to delete (complete ones beyond keep-releases).
# @param FORGET list Ids whose lines are dropped from the log (pruned or long gone), so it stays small.
# @param LOCK_TOKEN string Release the lock if this token holds it (empty: leave it).

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
# Pruning never removes what current points to, whatever the runner believed.
eval "set -- $PRUNE"
cur=''
[ $# -eq 0 ] || cur=$(readlink "$D/current")
for id; do
  [ "$cur" = "releases/$id" ] || {
    rm -rf "$D/releases/$id" "$M/manifests/$id.json.gz" "$M/manifests/$id.links" "$M/revisions/$id.json" &&
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
unlock_if_ours "$LOCK_TOKEN"
say finished
