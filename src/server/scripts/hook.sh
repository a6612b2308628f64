# shellcheck shell=sh
# Run after-switch (or before-switch outside a deploy) in a release; exit with the hook's status.
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.
# @param RELEASE_ID string The release to run in.
# @param HOOK_NAME string The hook's name, for the log (after-switch).
# @param HOOK_SCRIPT string The user's script, run under sh -e.
# @param HOOK_ENV list NAME=value words exported to the hook.
# @param UMASK string The hook's umask: the login's, plus o-w.

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/hook.sh
. ./lib/hook.sh

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
R="$D/releases/$RELEASE_ID"
run_hook "$HOOK_NAME" "$R" "$HOOK_SCRIPT" "$HOOK_ENV" "$UMASK" || {
  say "error hook cannot run $HOOK_NAME: $why"
  exit 1
}
exit $rc
