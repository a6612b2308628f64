# shellcheck shell=sh
# Abort a release that was prepared but will not go live (another server failed, a signal): remove
# it and its metadata, and release the lock if this run holds it.
#
# @param LOCK_TOKEN string The token of this run's lock (empty: leave the lock alone).

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh
# shellcheck source=lib/release.sh
. ./lib/release.sh

cleanup_release
unlock_if_ours "$LOCK_TOKEN"
say aborted
