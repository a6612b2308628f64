# shellcheck shell=sh
# What the scripts that own a new release share (release.sh, abort.sh): where it lives, and how it
# goes away on failure.
#
# @param DEPLOY_DIR string The resolved absolute deploy directory (from the inspect phase).
# @param RELEASE_ID string The new release's id.
# @param UMASK string The server umask to create directories with, already including o-w.

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
umask "$UMASK"
ID=$RELEASE_ID
R="$D/releases/$ID"
T="$M/tmp/$ID"

# On any failure before the switch, the new release and its metadata go, and current is untouched.
fail() {
  kind=$1
  shift
  say "error $kind $*"
  cleanup_release
  exit 1
}

cleanup_release() {
  trap '' HUP INT TERM PIPE
  cd "$D" 2>/dev/null || cd /
  # Never remove what current points to, whatever went wrong before.
  if [ "$(readlink "$D/current" 2>/dev/null)" = "releases/$ID" ]; then
    say "warning release $ID is live; it was not removed"
    return 0
  fi
  # Logged once, by whoever moves the release away: rename(2) succeeds for one of two cleanups
  # running at once (the runner's abort, sent as soon as it gave up, and this script's own).
  was=''
  if [ -d "$R" ] && mv "$R" "$D/releases/.aborting.$ID.$$" 2>/dev/null; then
    was=1
    rm -rf "$D/releases/.aborting.$ID.$$"
  fi
  rm -rf "$R" "$T" "$M/manifests/$ID".* "$M/revisions/$ID.json"
  # A complete copy of the live release stays for the next deploy: it was not this one's to use up.
  drop_base "$(live_copy)"
  # Shared paths this release seeded or created go back to how they were: absent.
  if [ -f "$M/seeded.$ID" ]; then
    while IFS= read -r line; do
      case $line in
        'seeded '*) rm -rf "$D/shared/${line#seeded }" ;;
        'created '*) rmdir "$D/shared/${line#created }" 2>/dev/null ;;
      esac
    done < "$M/seeded.$ID"
    rm -f "$M/seeded.$ID"
  fi
  [ -z "$was" ] || log_event abort "$ID" 2>/dev/null
}

# Called once releases/<id> is ours: from then on a signal removes it. Before, nothing may.
# SIGPIPE is what a dropped connection delivers at the next write to stdout; it cleans up
# quietly (there is nobody left to tell).
own_release() {
  trap 'fail signal "interrupted by a signal"' HUP INT TERM
  trap 'cleanup_release; exit 1' PIPE
}
