# shellcheck shell=sh
# Phase 9: record events, prune, compact the release log, release the lock (lib/finish.sh).
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.
# @param LOCK_TOKEN string Release the lock if this token holds it (empty: leave it). Pruning, compacting the log, dropping seed records and the spare copy happen only while it does.

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh
# shellcheck source=lib/finish.sh
. ./lib/finish.sh

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
# shellcheck disable=SC2119 # finish_run takes no arguments
finish_run
