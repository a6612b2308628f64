# shellcheck shell=sh
# Phase 7 without SFTP: `current` moved with rename(2) by the shell (lib/switch.sh).
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.
# @param RELEASE_ID string The release `current` is to point to; empty removes `current` (a first deploy undone).

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/switch.sh
. ./lib/switch.sh

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
switch_current "$RELEASE_ID" || exit 1
