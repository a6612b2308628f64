# shellcheck shell=sh
# What the scripts that own a new release share (release.sh, abort.sh): where it lives, and how it
# goes away on failure.
#
# @param DEPLOY_DIR string The resolved absolute deploy directory (from the inspect phase).
# @param RELEASE_ID string The new release's id.
# @param UMASK string The login's umask plus o-w: what the release's directories and shared/ are created with.
# @param LOCK_TOKEN string This run's lock token: after a long step, the script goes on only while the lock is still this run's.
# @param PREFETCHED string The copy of the base release started at lock time for this run (`base.<pid>` under .atomic-deploy), or empty.
# @param SHARED_PATHS list The shared-paths input: a seed record is acted on only for these paths.

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
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

# listed_shared REL: 0 when REL is one of SHARED_PATHS (without its trailing /).
listed_shared() {
  eval "set -- \"\$1\" $SHARED_PATHS"
  ls_rel=$1
  shift
  for ls_entry; do [ "$ls_rel" != "${ls_entry%/}" ] || return 0; done
  return 1
}

# Remove what this run made for its release, and only that: the release, its temporary files,
# its metadata, its copy of the base, and the shared paths it seeded or created (as its seed
# record says, for the paths this run was given only). Every removal passes the guard, which
# never removes what current points to, whatever went wrong before.
cleanup_release() {
  trap '' HUP INT TERM PIPE
  # The verification's background jobs (listing, sums, the manifest's view) write into $T: they
  # end first, so that nothing is written there while it is removed.
  wait
  cd "$D" 2>/dev/null || cd /
  # Logged once, by whoever moves the release away: rename(2) succeeds for one of two cleanups
  # running at once (the runner's abort, sent as soon as it gave up, and this script's own). The
  # guard is asked first: never what current points to, whatever went wrong before.
  was=''
  current_target
  if [ -d "$R" ] && removable "${R#"$D"/}" && mv "$R" "$D/releases/.aborting.$ID.$$" 2>/dev/null; then
    was=1
    guarded_rm "releases/.aborting.$ID.$$"
  fi
  # shellcheck disable=SC2154 # why: set by the guard (lib/guard.sh) when it refuses
  guarded_rm "${R#"$D"/}" "${T#"$D"/}" ".atomic-deploy/revisions/$ID.json" \
    ".atomic-deploy/manifests/$ID.json.gz" ".atomic-deploy/manifests/$ID.links" \
    ".atomic-deploy/manifests/$ID.listing" ".atomic-deploy/manifests/$ID.hook" \
    ".atomic-deploy/manifests/$ID.ready" ".atomic-deploy/manifests/$ID.m2" \
    ".atomic-deploy/manifests/$ID.digest" ".atomic-deploy/manifests/$ID.view.gz" \
    ".atomic-deploy/manifests/$ID.view" ||
    say "warning release $ID was not removed: $why"
  # This run's copy goes, unless it is a complete copy of the live release (the spare inspect
  # adopted, not yet taken over): the next deploy starts from that.
  if [ -n "$PREFETCHED" ]; then
    # shellcheck disable=SC2119 # without an id: current is read
    live_copy
    # shellcheck disable=SC2154 # live: set by live_copy (lib/metadata.sh)
    [ "$PREFETCHED" = "$live" ] || drop_base "$PREFETCHED"
  fi
  # Shared paths this release seeded or created go back to how they were: absent.
  if [ -f "$M/seeded.$ID" ] && [ ! -L "$M/seeded.$ID" ]; then
    while IFS= read -r line; do
      case $line in
        'seeded '* | 'created '*) cr_rel=${line#* } ;;
        *) continue ;;
      esac
      if ! listed_shared "$cr_rel"; then
        say "warning the seed record of $ID names shared/$cr_rel, which is not in shared-paths; it was left alone"
        continue
      fi
      case $line in
        'seeded '*) guarded_rm "shared/$cr_rel" || say "warning shared/$cr_rel was not removed: $why" ;;
        *)
          current_target
          if removable "shared/$cr_rel"; then rmdir "$D/shared/$cr_rel" 2>/dev/null; fi
          ;;
      esac
    done < "$M/seeded.$ID"
    guarded_rm ".atomic-deploy/seeded.$ID"
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

# with_umask COMMAND...: run COMMAND with the release's umask (UMASK), for what users read.
with_umask() {
  umask "$UMASK"
  "$@"
  wu_rc=$?
  umask 077
  return $wu_rc
}
