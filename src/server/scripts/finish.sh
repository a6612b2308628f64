# shellcheck shell=sh
# Phase 9: prune, record events, compact the release log, release the lock (lib/finish.sh).
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh
# shellcheck source=lib/finish.sh
. ./lib/finish.sh

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
finish_run
