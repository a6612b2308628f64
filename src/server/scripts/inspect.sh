# shellcheck shell=sh
# Phases 1-3 on the server: resolve the deploy path, refuse foreign or system directories, create
# the layout, take the lock, and report what the planner needs: umask, tools, `current`, the
# releases, the release log, and what the release a new one starts from holds: `same` when its
# manifest's digest is the one the runner sends on stdin (a deploy with nothing changed needs
# nothing more), otherwise its manifest's view (see lib/manifest.sh), or the manifest an older
# version of atomic-deploy wrote.
#
# @param PATH_INPUT string The `path` input (absolute, or relative to the login directory).
# @param LOCK flag Create the layout and take the lock (false for a dry run: read only).
# @param LOCK_OWNER string One-line JSON recorded in the lock.
# @param REUSE previous|cache|none Which starting point's manifest to report.
# @param SYSTEM_EXACT list Directories refused as the deploy path.
# @param SYSTEM_TREES list Directories (ending in /) whose every descendant is refused.
# @param LOG_LIMIT string Bytes of the release log the runner accepts: a longer one is reported by its size, not sent.
# @param MANIFEST_LIMIT string Bytes of a stored manifest the runner accepts, likewise.
# @param LINKS_LIMIT string Bytes of a link list the runner accepts, likewise.
# @param PREFETCH none|copy|hardlink With LOCK and REUSE previous: start copying the live release for the next one as soon as the lock is ours, with cp -a or cp -al (none: do not).
# @param REQUIRE_TOOLS list With LOCK: commands the deploy needs in PATH; checked before anything is written (refused as `tools <missing...>`).
# @param REQUIRE_TAR flag With LOCK: tar is needed too (transfer: tar).
# @param REQUIRE_TAR_OR_SFTP flag With LOCK: tar is needed unless SFTP carries the files, which this script cannot know: without tar it stops before writing, as `need-sftp`, for the runner to probe SFTP and ask again.
# @param DRIFT flag Compare the live release with the listing and ready marker its deploy recorded, and name what changed since (drift lines, see lib/diff.sh).
# @param WANT_DIGEST flag Read the digest of the source's manifest from stdin once everything else is said, and report the starting point's manifest against it (same, or the view).

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh
# shellcheck source=lib/listing.sh
. ./lib/listing.sh
# shellcheck source=lib/diff.sh
. ./lib/diff.sh

# The exit statuses the runner tells apart (LOCK_EXIT and REFUSED_EXIT in remote-scripts.ts).
refused_exit=3
lock_exit=75

# release_id TEXT: 0 when TEXT is a release id (as release-id.ts defines one).
release_id() {
  case $1 in '' | . | .. | .* | *[!A-Za-z0-9._-]*) return 1 ;; esac
  [ ${#1} -le 128 ]
}

# Directories are resolved physically by cd -P, which sets PWD to the physical path: where
# $(pwd -P) is a process, this is none. The script does not depend on its working directory.
case $PATH_INPUT in
  /*) D=$PATH_INPUT ;;
  *)
    cd -P . 2>/dev/null || { say "refused access cannot enter the login directory"; exit $refused_exit; }
    D="$PWD/$PATH_INPUT"
    ;;
esac
# Resolve the nearest existing ancestor physically, so a symlink cannot smuggle in a system dir.
A=$D R='' i=0
while [ ! -d "$A" ] && [ $i -lt 256 ]; do
  R="/${A##*/}$R"
  A=${A%/*}
  [ -n "$A" ] || A=/
  i=$((i + 1))
done
if [ -e "$D" ] && [ ! -d "$D" ]; then say "refused notdir $D exists and is not a directory"; exit $refused_exit; fi
cd -P "$A" 2>/dev/null || { say "refused access cannot enter $A"; exit $refused_exit; }
A=$PWD
case $A in /) D=${R:-/} ;; *) D="$A$R" ;; esac
M="$D/.atomic-deploy"
# Every later script gets this path as a value, and the runner reads it as a line.
case $D in *"$nl"*)
  say "refused layout the deploy path resolves to a name that contains a newline"
  exit $refused_exit
  ;;
esac
# The listed directories are compared as strings (quoted patterns): no list entry is a pattern.
eval "set -- $SYSTEM_EXACT"
for s; do
  if [ "$D" = "$s" ]; then say "refused system $D is a system directory"; exit $refused_exit; fi
done
eval "set -- $SYSTEM_TREES"
for s; do
  case "$D/" in "$s"*) say "refused system $D is inside a system directory"; exit $refused_exit ;; esac
done
say "path $D"
if [ -d "$D" ] && [ ! -d "$M" ]; then
  # First deploy: only entries of our own layout may be there (a hand-made shared/ is welcome).
  foreign=''
  for e in "$D"/* "$D"/.[!.]* "$D"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    case ${e##*/} in releases | shared | cache | current | .atomic-deploy) ;; *) foreign=1; say "foreign ${e##*/}" ;; esac
  done
  if [ -n "$foreign" ]; then say "refused foreign $D holds files that are not a deploy layout"; exit $refused_exit; fi
fi
for e in releases shared cache .atomic-deploy; do
  if [ -e "$D/$e" ] && [ ! -d "$D/$e" ]; then say "refused layout $D/$e exists and is not a directory"; exit $refused_exit; fi
done
if [ -e "$D/current" ] && [ ! -L "$D/current" ]; then say "refused layout $D/current exists and is not a symlink"; exit $refused_exit; fi
# The layout's directories must be real directories of the deploy user's that no other user may
# write to: a symlink would carry every write and removal elsewhere, and a directory another
# account owns or may write to could be swapped for one at any time. Refused before anything
# is written. The deploy directory itself may belong to another user (root, say), but not be
# writable by every user (layout_dirs checks it first).
layout_dirs releases shared cache .atomic-deploy .atomic-deploy/manifests .atomic-deploy/revisions .atomic-deploy/tmp || {
  say "refused layout $why"
  exit $refused_exit
}
# Report the login's umask (new release directories follow it); what users read is created with
# it, plus o-w: never anything world-writable, whatever it is.
# Four digits, as dash, bash and BusyBox print it (posh prints three).
u=$login_umask
case $u in ???) u=0$u ;; esac
say "umask $u"
# The same plus o-w: its last digit with the 2 bit set (no printf in a command substitution, a
# process).
case $u in
  [0-7][0-7][0-7][0-7])
    case ${u#???} in
      0 | 2) cu=${u%?}2 ;;
      1 | 3) cu=${u%?}3 ;;
      4 | 6) cu=${u%?}6 ;;
      *) cu=${u%?}7 ;;
    esac
    ;;
  *) cu=$(printf '%04o' $((u | 2))) ;;
esac
if [ -n "$LOCK" ]; then
  # What the deploy needs from PATH, before the first write.
  missing=''
  eval "set -- $REQUIRE_TOOLS"
  [ -z "$REQUIRE_TAR" ] || set -- "$@" tar
  for t; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
  if [ -n "$missing" ]; then say "refused tools$missing"; exit $refused_exit; fi
  if [ -n "$REQUIRE_TAR_OR_SFTP" ] && ! command -v tar >/dev/null 2>&1; then say "refused need-sftp"; exit $refused_exit; fi
  # What exists already (layout_dirs checked it) is not made again, and the metadata directory
  # is made private only when it is not (meta_mode): on most deploys, no process here.
  if { [ -d "$D/releases" ] && [ -d "$D/shared" ]; } || (umask "$cu" && mkdir -p "$D/releases" "$D/shared") 2>/dev/null; then made=1; else made=''; fi
  if [ -z "$made" ] || { [ ! -d "$M" ] && ! mkdir -p "$M" 2>/dev/null; } || { [ "$meta_mode" != 700 ] && ! chmod 700 "$M"; }; then
    say "refused permission user $(id -un) cannot create directories in $D"
    exit $refused_exit
  fi
  if [ ! -w "$D" ] || [ ! -w "$D/releases" ] || [ ! -w "$M" ]; then say "refused permission user $(id -un) cannot write to $D"; exit $refused_exit; fi
  if ! mkdir "$M/lock" 2>/dev/null; then
    say locked
    # The holder writes its owner record right after its mkdir: a lock taken a moment ago may not
    # have one yet. It is looked for again for up to about a second (where sleep takes no
    # fraction, one second, once), then reported as it is.
    n=0
    while [ ! -s "$M/lock/owner" ] && [ -d "$M/lock" ] && [ $n -lt 10 ]; do
      if sleep 0.1 2>/dev/null; then n=$((n + 1)); else sleep 1; n=10; fi
    done
    if [ -f "$M/lock/owner" ]; then blob_text owner "$(head -c 4000 "$M/lock/owner")"; fi
    exit $lock_exit
  fi
  printf '%s\n' "$LOCK_OWNER" > "$M/lock/owner"
  say locked-by-us
fi
for t in tar gzip sha256sum stat find awk; do command -v "$t" >/dev/null 2>&1 && say "tool $t"; done
GNU_CP=''
cp --version >/dev/null 2>&1 && GNU_CP=1 && say "tool gnu-cp"
# Whose tools these are, and the login shell that runs every command line: for the log.
if [ -n "$GNU_CP" ]; then
  say "toolset gnu"
else
  case $(readlink "$(command -v cp)" 2>/dev/null) in *busybox) say "toolset busybox" ;; esac
fi
[ -z "${SHELL:-}" ] || say "shell $SHELL"
# What the server holds is reported as it is, for the runner to check: current's target as a
# blob (it may hold anything, a line break included), releases only by names that are release
# ids and only when they are real directories, records only up to their limits.
cur='' c=''
if [ -L "$D/current" ]; then
  cur=$(readlink "$D/current" && echo _)
  cur=${cur%?_}
  blob_text current "$cur"
  c=${cur%/}
  c=${c#"$D"/}
  case $c in releases/*) c=${c#releases/} ;; *) c='' ;; esac
  release_id "$c" || c=''
fi
for r in "$D"/releases/*; do
  release_id "${r##*/}" && [ -d "$r" ] && [ ! -L "$r" ] && say "release ${r##*/}"
done
blob log "$M/log" "$LOG_LIMIT"
case $REUSE in
  cache)
    if [ -d "$D/cache" ]; then
      # What an interrupted update of cache/ left unlike its manifest (see release.sh).
      blob pending "$M/cache.pending" "$MANIFEST_LIMIT"
    fi
    ;;
  previous)
    if [ -n "$c" ]; then
      blob links "$M/manifests/$c.links" "$LINKS_LIMIT"
    fi
    ;;
esac

# What the live release's before-switch changed in it, as recorded then: the next release's copy
# of it (or, with hard links, cache/) must not be trusted at those paths, whatever DRIFT says.
[ -z "$c" ] || blob hooked "$M/manifests/$c.hook" "$LINKS_LIMIT"

# How the live release differs from what it was when it became ready: its listing then and its
# ready marker (release.sh). One walk of the release; releases made before these records existed
# are reported as unknown.
drift_known=''
if [ -n "$DRIFT" ]; then
  lv=$c
  case $lv in
    '') ;;
    *)
      L="$D/releases/$lv" F="$M/manifests/$lv"
      if [ -d "$L" ] && [ ! -L "$L" ] && [ -f "$F.listing" ] && [ -f "$F.ready" ]; then
        lk="$F.links"
        [ -f "$lk" ] || lk=/dev/null
        (cd "$L" && drift_list "$F.ready") 2>/dev/null | listing_diff drift 50 "$lk" "$F.listing" -
        drift_known=1
      else
        say "drift unknown"
      fi
      ;;
  esac
fi

# The copy the next release starts from. A complete copy of the live release made earlier (the
# spare the previous deploy left, see lib/finish.sh; or one a killed run never took over) is
# kept; otherwise the copy starts now, as soon as the lock is ours (start_copy), and runs while
# the runner plans and the release script is on its way. On a 3,500-file release this moves cp's
# 0.1 to 1 s off the critical path; a spare takes it off entirely. With copy-method copy only a
# whole copy is kept, never a hard-linked one (whose files are the live release's own) nor one
# whose record does not say which it is; with hardlink, any. The release script takes it over,
# or drops it.
if [ -n "$LOCK" ] && [ "$REUSE" = previous ] && [ "$PREFETCH" != none ]; then
  kept=''
  if [ -n "$c" ]; then
    live_copy "$c" "$PREFETCH"
    kept=$live
    # Not if the live release changed since it was copied: the new release starts from what is
    # there, as it would without a spare (and verification names what differs). Where the drift
    # check above has just named every change since its deploy, no second walk is needed: the
    # runner plans the paths it named as absent from the copy, so they are sent again whichever
    # copy the release starts from.
    # shellcheck disable=SC2154 # live_kind: set by live_copy (lib/metadata.sh)
    if [ -n "$kept" ] && [ -z "$drift_known" ] && changed_since "$D/releases/$c" "$M/$kept.from" "$live_kind"; then kept=''; fi
  fi
  drop_bases_but "$kept"
  if [ -n "$kept" ]; then
    say "prefetch $kept $c spare"
  elif [ -n "$c" ] && [ -d "$D/releases/$c" ] && [ ! -L "$D/releases/$c" ] &&
    { [ -f "$M/manifests/$c.m2" ] || [ -f "$M/manifests/$c.json.gz" ]; }; then
    start_copy "$c" "$PREFETCH" && say "prefetch ${B##*/} $c"
  fi
fi
# The manifest the new release starts from, read last: the runner sends its digest as soon as
# it has hashed the source, and meanwhile everything above (the copy included) is under way. The
# same digest means nothing changed, and nothing of the manifest needs to cross the wire;
# another means the runner plans against the view, about a quarter of the manifest's bytes.
if [ -n "$WANT_DIGEST" ]; then
  mf='' old=''
  case $REUSE in
    cache) [ ! -d "$D/cache" ] || { mf="$M/cache" old="$M/cache.manifest.json.gz"; } ;;
    previous) [ -z "$c" ] || { mf="$M/manifests/$c" old="$M/manifests/$c.json.gz"; } ;;
  esac
  have=''
  if [ -n "$mf" ] && [ -f "$mf.m2" ]; then
    IFS= read -r have 2>/dev/null < "$mf.digest" || have=''
    case $have in *[!0-9a-f]*) have='' ;; esac
    [ ${#have} -eq 64 ] || have=''
  fi
  want=''
  IFS= read -r want || want=''
  if [ -n "$have" ] && [ "$want" = "$have" ]; then
    say same
  elif [ -n "$have" ] && [ -f "$mf.view.gz" ]; then
    blob view "$mf.view.gz" "$MANIFEST_LIMIT"
  elif [ -n "$have" ] && [ -f "$mf.view" ]; then
    blob view-text "$mf.view" "$MANIFEST_LIMIT"
  elif [ -n "$old" ]; then
    blob manifest "$old" "$MANIFEST_LIMIT"
  fi
fi
say end
