# shellcheck shell=sh
# Phases 4 to 6 on the server, in one script: prepare (clear leftovers, create releases/<id> from
# its starting point, remove the paths the plan deletes or replaces, and with a tar transfer
# extract the changed files from stdin), then finalize (verify the release against the manifest,
# link shared paths, install the manifest and revision record, run before-switch, and mark the
# release ready in the log). With a tar transfer both halves run in one channel, the tar stream
# between them on stdin: one round trip for phases 4 to 6. With SFTP, prepare runs, the files
# are uploaded, then finalize runs.
#
# @param PREPARE flag Run the first half.
# @param STALE_RELEASES list Incomplete releases from earlier runs, to remove first.
# @param BASE none|release|cache What the new release starts from.
# @param BASE_ID string With BASE release: the release copied.
# @param BASE_SHARED_LINKS list With BASE release: its shared links, removed from the copy.
# @param PREFETCHED string With BASE release: the copy of it started at lock time (`base.<pid>` under .atomic-deploy), or empty.
# @param CACHE_EXISTS flag With BASE cache: cache/ exists already.
# @param CACHE_TOUCHED list With BASE cache and CACHE_EXISTS: the paths this sync removes or writes in cache/, each a JSON string, recorded in cache.pending before they change.
# @param COPY_METHOD copy|hardlink How a release is copied: cp -a, or hard links (cp -al).
# @param REMOVE list Paths to remove from the starting copy (relative to it).
# @param WRITE_DIRS list Directories of the starting copy the plan writes into or removes from: each must be a real directory there, never a symlink.
# @param DIR_MODE string The permission bits every directory of the release has (three octal digits): the login's umask plus o-w.
# @param DIR_CHMOD string DIR_MODE as chmod's symbolic + and - (which keep a directory's set-group-ID bit, as = does not on BusyBox).
# @param TRANSFER tar|tar-gzip|sftp How the changed files arrive: a tar stream on stdin (gzipped or not), or later over SFTP.
# @param FINALIZE flag Run the second half.
# @param FROM_CACHE none|copy|hardlink With reuse cache: copy the synced cache into the release first, with this method.
# @param MANIFEST_DIGEST string The sha256 of the source's manifest (see lib/manifest.sh): the manifest put together here must have it.
# @param MANIFEST_BASE string The manifest the release starts from, as a path under .atomic-deploy without `.m2` (manifests/<id>, or cache), or empty when the runner sends the whole manifest.
# @param VERIFY_ALL flag Check the sha256 of every file of the release, not only of those sent.
# @param SWITCH_AFTER flag Once the release is ready, switch current to it and finish (lib/finish.sh) in this same script: a single server with nothing to run or check after the switch, two round trips fewer.
# @param ODD_SUMS list Files whose names cannot go in a sha256sum -c list (newline or backslash), as pairs of words: path, sha256.
# @param LINKS list Symlinks whose target is read back and compared, as pairs of words: path, target.
# @param SHARED auto|explicit Link every entry of shared/, or only SHARED_PATHS.
# @param SHARED_PATHS list With SHARED explicit: the shared-paths input (a path ending in / is created as a directory when missing).
# @param SHARED_CONFLICT fail|replace What to do with a path both in shared/ and in the release.
# @param HOOK_NAME string The hook to run in the verified release (before-switch), or empty for none.
# @param HOOK_SCRIPT string The hook's script.
# @param HOOK_ENV list NAME=value words exported to the hook.
# @param LOCK_OWNER string The lock's owner record (one-line JSON with LOCK_TOKEN), for taking the lock again when it was cleared while the hook ran.
# @param UPDATES_CACHE flag Write the cache's manifest after verification (reuse cache).

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh
# shellcheck source=lib/release.sh
. ./lib/release.sh
# shellcheck source=lib/listing.sh
. ./lib/listing.sh
# shellcheck source=lib/hook.sh
. ./lib/hook.sh
# shellcheck source=lib/manifest.sh
. ./lib/manifest.sh
# shellcheck source=lib/switch.sh
. ./lib/switch.sh
# shellcheck source=lib/finish.sh
. ./lib/finish.sh
# shellcheck source=lib/diff.sh
. ./lib/diff.sh

exists() { [ -e "$1" ] || [ -L "$1" ]; }

# copy_tree METHOD FROM TO: fill TO with FROM's contents, with hard links (METHOD hardlink) or
# with cp -a, which makes reflinks where GNU cp and the filesystem can.
copy_tree() {
  if [ "$1" = hardlink ]; then
    cp -al "$2/." "$3/"
  elif cp --version >/dev/null 2>&1; then
    cp -a --reflink=auto "$2/." "$3/"
  else
    cp -a "$2/." "$3/"
  fi
}

# Start releases/<id> as a copy of the release BASE_ID: take over the copy started at lock time,
# or make one now. Its shared links go: they are made afresh in finalize.
start_from_release() {
  PREV="$D/releases/$BASE_ID"
  [ ! -L "$PREV" ] || fail copy "releases/$BASE_ID is a symlink; it is not used as the starting point"
  if [ "$COPY_METHOD" = hardlink ]; then
    failure="cannot hard-link $PREV into $R (hard links need one filesystem)"
  else
    failure="cannot copy $PREV into $R"
  fi
  # A copy of BASE_ID, whole or (recorded so by start_copy) hard-linked; a hard-linked one, or
  # one whose record does not say, starts only a release made with hard links (copy_of,
  # lib/metadata.sh).
  if [ -n "$PREFETCHED" ] && copy_of "$M/$PREFETCHED.from" "$BASE_ID" "$COPY_METHOD"; then
    # Take over the copy started at lock time, once it has ended (at most 10 minutes). A line
    # every 30 seconds tells the runner that the server is still at work (command-timeout).
    B="$M/$PREFETCHED"
    # Most often the copy ended long before (a spare): sleep's support of fractions is tried
    # (which takes its 10 ms and a fork) only when there is something to wait for.
    i=0 n=0
    if [ ! -f "$B.rc" ]; then
      if sleep 0.01 2>/dev/null; then w=0.01 n=60000 beat=3000; else w=1 n=600 beat=30; fi
    fi
    while [ ! -f "$B.rc" ] && [ $i -lt $n ]; do
      sleep "$w"
      i=$((i + 1))
      [ $((i % beat)) -ne 0 ] || say "waiting for the copy of $BASE_ID"
    done
    [ -f "$B.rc" ] || fail copy "$failure: the copy did not end within 10 minutes"
    brc=''
    IFS= read -r brc 2>/dev/null < "$B.rc"
    [ "$brc" = 0 ] || fail copy "$failure"
    [ ! -L "$B" ] || fail copy "$failure: the copy is a symlink"
    { rmdir "$R" && mv "$B" "$R"; } || fail copy "cannot move the copy of $PREV to $R"
    drop_base "$PREFETCHED"
  else
    # Without a copy of this release to take over, this run's copy (if any) is dropped.
    drop_base "$PREFETCHED"
    copy_tree "$COPY_METHOD" "$PREV" "$R" || fail copy "$failure"
  fi
  guarded_rm_list "releases/$ID" copy "$BASE_SHARED_LINKS"
}

# check_copy REL WHAT: the starting copy (REL, relative to $D; WHAT names it for the user) is
# about to be written into. A directory the plan writes into must be one there: where the server
# has a symlink instead (a release changed by hand, or planted), writes and removals would follow
# it out of the release, so the release is refused before anything is written. Then every
# directory gets the release's mode: one made world-writable on the server is not carried on.
# Only the directories whose permission bits differ from DIR_MODE are changed (a directory that
# lacks one of its bits, or has one it has not: POSIX find's -perm -MODE, bit by bit): a chmod
# writes the inode even when the mode stays, and on a 6,500-directory copy that took 0.11 s
# where finding the few to change takes 0.03 s.
check_copy() {
  cc_rel=$1 cc_what=$2
  eval "set -- $WRITE_DIRS"
  for cc_dir; do
    if [ -L "$D/$cc_rel/$cc_dir" ]; then
      fail drift "$cc_dir is a symlink in $cc_what, where the manifest has a directory; nothing was written through it. The live release was changed on the server: deploy once with 'reuse: none' (or use 'reuse: cache')"
    fi
  done
  cc_mode=$((0$DIR_MODE))
  set -- ! -perm "-$DIR_MODE"
  # Each permission bit as a number and in octal, written out rather than made by printf (a
  # command substitution is a fork).
  for cc_bit in 1:1 2:2 4:4 8:10 16:20 32:40 64:100 128:200 256:400; do
    [ $((cc_mode & ${cc_bit%:*})) -ne 0 ] || set -- "$@" -o -perm "-${cc_bit#*:}"
  done
  find "$D/$cc_rel" -type d \( "$@" \) -exec chmod "$DIR_CHMOD" {} + >&2 ||
    fail io "cannot set the mode of the directories in $cc_what"
}

# shellcheck disable=SC2120 # "$@" here is a list parameter's words, set by eval "set -- ..."
prepare_release() {
  C="$D/cache"
  cd "$D" || { say "error io cannot enter $D"; exit 1; }
  # Creating the release directory is the first write, and it must not fail into cleanup: a
  # release that exists already is someone else's and stays as it is.
  with_umask mkdir "$R" 2>/dev/null || { say "error exists cannot create $R (does release $ID exist already?)"; exit 1; }
  own_release
  # A seed record for this new id can only have been planted: this run's record starts empty.
  guarded_rm ".atomic-deploy/seeded.$ID" || fail io "cannot remove $M/seeded.$ID: $why"
  log_event start "$ID" || fail io "cannot write $M/log"
  # Leftovers of runs that are gone (this run holds the lock): their incomplete releases, the
  # temporary names of an interrupted switch, their temporary files. The guard keeps anything
  # live whatever the release log said.
  eval "set -- $STALE_RELEASES"
  for s; do
    if guarded_rm "releases/$s"; then log_event abort "$s"; else say "warning kept release $s: $why"; fi
  done
  # What cleanups killed half-way (see cleanup_release), interrupted switches, prunes whose
  # removal in the background was cut (see finish_run) and runs that are gone left behind.
  for s in "$D"/.current.tmp-* "$D"/releases/.aborting.* "$D"/releases/.pruning.* "$M"/tmp/* "$M"/tmp/.[!.]* "$M"/tmp/..?*; do
    [ -e "$s" ] || [ -L "$s" ] || continue
    s=${s#"$D"/}
    guarded_rm "$s" || say "warning $s was not removed: $why"
  done
  mkdir -p "$M/manifests" "$M/revisions" "$T" || fail io "cannot create $T"
  # The directory the changed files land in: the new release, or cache/ which is then copied.
  target=$R
  case $BASE in
    release) start_from_release ;;
    cache)
      # The cache manifest is rewritten once the release built from the cache is verified. Until
      # then it stays, and cache.pending lists the paths this sync touches: an interrupted sync (a
      # signal, a lost connection, a failure after the upload) costs the next deploy only those.
      target=$C
      drop_base "$PREFETCHED"
      if [ -n "$CACHE_EXISTS" ]; then
        eval "set -- $CACHE_TOUCHED"
        if [ $# -gt 0 ]; then
          printf '%s\n' "$@" >> "$M/cache.pending" || fail io "cannot write $M/cache.pending"
        fi
      else
        guarded_rm .atomic-deploy/cache.m2 .atomic-deploy/cache.digest .atomic-deploy/cache.view.gz \
          .atomic-deploy/cache.view .atomic-deploy/cache.manifest.json.gz .atomic-deploy/cache.pending ||
          fail io "cannot remove the cache manifest: $why"
        { guarded_rm cache && with_umask mkdir "$D/cache"; } || fail io "cannot create $D/cache"
      fi
      real_dir "$C" || fail layout "$why"
      ;;
    *) drop_base "$PREFETCHED" ;;
  esac
  target_rel=${target#"$D"/}
  if [ "$BASE" = release ]; then
    check_copy "$target_rel" "the copy of release $BASE_ID"
  elif [ "$BASE" = cache ]; then
    check_copy "$target_rel" "cache/"
  fi
  guarded_rm_list "$target_rel" io "$REMOVE"
  case $TRANSFER in
    tar | tar-gzip)
      # The archive carries the final modes (directories already masked by the server's umask,
      # nothing world-writable). BusyBox tar ignores -p for non-root users and applies the umask
      # instead, so the umask is cleared for tar alone; every directory is listed before its
      # contents, so nothing is created with a mode the archive did not give. tar runs in $D
      # rather than being given it with -C: GNU tar unquotes -C's argument, so a path holding a
      # backslash escape (\\, \n) would name another directory.
      (
        cd "$D" && umask 000 || exit 1
        # -m: files get the server's time of extraction, so no file of a release is newer than
        # its ready marker whatever the runner's clock says (the drift check compares with it).
        [ "$TRANSFER" = tar ] || exec tar -x -p -o -m -z -f -
        exec tar -x -p -o -m -f -
      ) >&2 || fail transfer "tar could not extract the upload (is the disk full?)"
      ;;
  esac
  say prepared
}

# Check the uploaded files' sha256 in up to four parts at once, one per core, while the listing
# runs: on a 3,500-file first deploy this took verification from about 190 ms to about 70 ms.
# Names with a newline or backslash are checked one by one elsewhere, so lines split safely.
# Background jobs read /dev/null and write only to files, so none holds the channel open.
start_sums() {
  n=$(nproc 2>/dev/null) || n=2
  case $n in '' | *[!0-9]*) n=2 ;; esac
  [ "$n" -le 4 ] || n=4
  [ "$(wc -l < "$T/sums")" -ge 64 ] || n=1
  i=0
  while [ $i -lt "$n" ]; do
    awk -v n="$n" -v i=$i 'NR % n == i' "$T/sums" > "$T/sums.$i"
    sha256sum -c "$T/sums.$i" > "$T/sums.all.$i" 2>&1 < /dev/null &
    sumjobs="$sumjobs $!"
    i=$((i + 1))
  done
}

wait_sums() {
  for j in $sumjobs; do wait_job "$j" || bad=1; done
  # One line per bad file (GNU and BusyBox both end it in ': FAILED...'); anything else verbatim.
  [ -z "$bad" ] || cat "$T"/sums.all.* | grep ': FAILED' >> "$T/sums.out" || cat "$T"/sums.all.* >> "$T/sums.out"
}

# record_link REL: add REL to the release's link list ($T/<id>.links), one path a line. A name
# holding a line break or a % is written with those two percent-encoded (%0A, %25), so every line
# is one path and the runner reads each back exactly (server-data.ts, parseLinkList).
record_link() {
  case $1 in
    *"$nl"* | *%*)
      printf '%s' "$1" | awk 'BEGIN { ORS = "" } { gsub(/%/, "%25"); if (NR > 1) print "%0A"; print } END { print "\n" }' >> "$T/$ID.links"
      ;;
    *) printf '%s\n' "$1" >> "$T/$ID.links" ;;
  esac
}

# A shared path's conflict with the release's own copy, under SHARED_CONFLICT: conflict REL DST.
conflict() {
  if [ "$SHARED_CONFLICT" = replace ]; then
    guarded_rm "releases/$ID/$1" || fail shared "cannot replace $1: $why"
    say "shared-replaced $1"
  else
    fail shared-conflict "$1 is both in shared/ and in the release; remove it from the source, or set shared-conflict: replace"
  fi
}

# Link every entry of shared/ at the first level the release does not have: when both have a
# directory of that name, descend into it. Positional parameters are per call in POSIX sh, so the
# recursion needs no `local`. link_shared PREFIX UP: PREFIX is the relative directory ('' or
# ending in /), UP the ../ to climb out of it.
link_shared() {
  for s in "$S/$1"* "$S/$1".[!.]* "$S/$1"..?*; do
    exists "$s" || continue
    rel="$1${s##*/}"
    dst="$R/$rel"
    if [ -d "$dst" ] && [ ! -L "$dst" ] && [ -d "$s" ] && [ ! -L "$s" ]; then
      link_shared "$rel/" "$2../"
      continue
    fi
    if exists "$dst"; then conflict "$rel" "$dst"; fi
    ln -s "$2../../shared/$rel" "$dst" || fail shared "cannot link $rel"
    record_link "$rel"
    say "shared $rel"
  done
}

# shared_entry ENTRY: rel (ENTRY without a trailing /), s (its place in shared/), dst (in the
# release), parent (rel's parent, or empty), target (the relative link from dst to s).
shared_entry() {
  rel=${1%/}
  s="$S/$rel"
  dst="$R/$rel"
  case $rel in */*) parent=${rel%/*} ;; *) parent='' ;; esac
  target="../../shared/$rel"
  x=$rel
  while :; do
    case $x in
      */*)
        x=${x#*/}
        target="../$target"
        ;;
      *) break ;;
    esac
  done
}

# Create the parent of a shared link inside the release when the source lacks it, recording the
# topmost directory made in the links file: the next release's copy removes it with the links,
# or its verification would find a directory the source does not have.
create_parent() {
  top='' p='' rest="$parent/"
  while [ -n "$rest" ]; do
    p=${p:+$p/}${rest%%/*}
    rest=${rest#*/}
    if [ -z "$top" ] && ! exists "$R/$p"; then top=$p; fi
  done
  with_umask mkdir -p "$R/$parent" || fail shared "cannot create the parent of $rel"
  [ -z "$top" ] || record_link "$top"
}

# Explicit shared paths, in two passes: first every listed path is checked (missing, conflict),
# so a refusal leaves shared/ untouched; then paths are seeded, created and linked. What was
# seeded or created is recorded in $M/seeded.<id>, so an abort later in this run (a failing
# before-switch, another server failing) puts shared/ back as it was.
link_explicit() {
  eval "set -- $SHARED_PATHS"
  for entry; do
    shared_entry "$entry"
    # Nothing is moved, made or removed through a symlink: not in the release (a path beneath a
    # symlink of the source), not in shared/ (a directory of it that links elsewhere), and only
    # in directories of shared/ that are the deploy user's own.
    if ! parents_real "$R" "$rel"; then
      why=${why%% is a symlink}
      fail shared "$rel lies beneath ${why#"releases/$ID/"}, a symlink in the release; list a path that is not beneath a symlink"
    fi
    sc_p=$S sc_rest=$rel
    real_dir "$sc_p" || fail layout "$why"
    while :; do
      case $sc_rest in */*) ;; *) break ;; esac
      sc_p="$sc_p/${sc_rest%%/*}"
      sc_rest=${sc_rest#*/}
      real_dir "$sc_p" || fail layout "$why"
    done
    if exists "$s"; then
      if exists "$dst" && [ "$SHARED_CONFLICT" = fail ]; then
        fail shared-conflict "$rel is both in shared/ and in the release; remove it from the source or exclude it, or set shared-conflict: replace"
      fi
    elif ! exists "$dst"; then
      case $entry in
        */) ;;
        *) fail shared-missing "$rel is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory" ;;
      esac
    fi
  done
  for entry; do
    shared_entry "$entry"
    if exists "$s"; then
      if exists "$dst"; then
        guarded_rm "releases/$ID/$rel" || fail shared "cannot replace $rel: $why"
        say "shared-replaced $rel"
      fi
    elif exists "$dst"; then
      if [ -n "$parent" ]; then with_umask mkdir -p "$S/$parent" || fail shared "cannot create the parent of shared/$rel"; fi
      printf 'seeded %s\n' "$rel" >> "$M/seeded.$ID"
      mv "$dst" "$s" || fail shared "cannot move $rel into shared/"
      say "shared-seeded $rel"
    else
      printf 'created %s\n' "$rel" >> "$M/seeded.$ID"
      with_umask mkdir -p "$s" || fail shared "cannot create shared/$rel"
      say "shared-created $rel"
    fi
    [ -z "$parent" ] || create_parent
    ln -s "$target" "$dst" || fail shared "cannot link $rel"
    record_link "$rel"
    say "shared $rel"
  done
}

# check_odd_sums LIST: sha256 of each path of LIST's pairs (path, sha256), one by one. A bad one
# is reported by its number in the list (`!badodd <n>`): its name may hold a line break.
check_odd_sums() {
  eval "set -- $1"
  co_n=0
  while [ $# -ge 2 ]; do
    h=$(sha256sum < "./$1")
    [ "${h%% *}" = "$2" ] || {
      bad=1
      say "badodd $co_n"
    }
    co_n=$((co_n + 1))
    shift 2
  done
}

# check_links LIST: the target of each symlink of LIST's pairs (path, target), reported by
# number (`!badlink <n>`) when it differs.
check_links() {
  eval "set -- $1"
  cl_n=0
  while [ $# -ge 2 ]; do
    [ "$(readlink "./$1")" = "$2" ] || {
      bad=1
      say "badlink $cl_n"
    }
    cl_n=$((cl_n + 1))
    shift 2
  done
}

# The awk rule for a listing's directory line (list_tree's `d <mode> ./<path>`): its permission
# bits must be DIR_MODE's (dm), or bad_dir() is called; the line is then as the manifest's
# expected lines write a directory, without its mode.
# shellcheck disable=SC2016 # awk's fields, not the shell's
DIR_LINE='/^d [0-7]+ / { dmode = $2; while (length(dmode) < 3) dmode = "0" dmode; sub(/^d [0-7]+ /, "d "); if (substr(dmode, length(dmode) - 2) != dm) { bad_dir(); next } }'

# sorted_digest FILE: the sha256 (hex) of FILE's lines sorted bytewise (LC_ALL is C), by way of
# FILE.sorted.
sorted_digest() {
  sort -o "$1.sorted" "$1" && sd=$(sha256sum < "$1.sorted") && printf '%s\n' "${sd%% *}"
}

finalize_release() {
  own_release
  cd "$D" || fail io "cannot enter $D"
  case $FROM_CACHE in
    hardlink) copy_tree hardlink "$D/cache" "$R" || fail copy "cannot hard-link cache into $R" ;;
    copy) copy_tree copy "$D/cache" "$R" || fail copy "cannot copy cache into $R" ;;
  esac
  # Nothing writes into the release from here until it is compared with its manifest, so its
  # listing is taken now, beside the manifest's assembly below, on another core where there is
  # one: on a 50,000-file release, the listing's 0.15 s and the assembly's 0.2 s overlap. It
  # reads /dev/null and writes only to files, so it never holds the channel open.
  (cd "$R" && list_tree > "$T/$ID.listing" 2> "$T/find.err") < /dev/null &
  listjob=$!
  # The release's manifest: the starting point's, less what the plan removed, plus the lines of
  # what was sent ($T/removed and $T/delta, from the runner). It must be the source's manifest,
  # whose digest the runner computed: what the verification below checks the release against.
  mb=''
  if [ -n "$MANIFEST_BASE" ]; then
    mb="$M/$MANIFEST_BASE.m2"
    [ -f "$mb" ] || fail verify "the manifest $MANIFEST_BASE.m2 the plan started from is gone"
  fi
  # The manifest's files (and its view, by start_view) are made in $T under the names they get in
  # manifests/, and moved there with one mv once the release is verified and linked.
  mf="$T/$ID.m2"
  if [ -n "$mb" ] && [ ! -s "$T/removed" ] && [ ! -s "$T/delta" ]; then
    # Nothing removed, nothing sent (a deploy with nothing changed): the starting point's
    # manifest as it is, copied rather than merged. Its digest is checked below all the same.
    cp "$mb" "$mf" || fail io "cannot write the manifest"
  else
    manifest_assemble "$mb" "$T/removed" "$T/delta" > "$mf" || fail io "cannot write the manifest"
  fi
  md=$(manifest_digest "$mf") || fail io "cannot read the manifest"
  [ "$md" = "$MANIFEST_DIGEST" ] || fail verify "the manifest put together on the server is not the source's (${MANIFEST_BASE:-none}.m2 was changed since it was read?)"
  # The manifest is the source's: its view, and the listing it expects, are made now, beside the
  # release's listing, rather than once that is done.
  start_view "$mf" "$T/$ID"
  (expected_listing "$mf" > "$T/expected" && sorted_digest "$T/expected" > "$T/expected.sum") < /dev/null 2> /dev/null &
  expjob=$!
  if [ -n "$VERIFY_ALL" ]; then
    manifest_sums "$mf" > "$T/sums"
  elif [ -s "$T/delta" ]; then
    manifest_sums "$T/delta" > "$T/sums"
  else
    : > "$T/sums"
  fi || fail io "cannot write the sums"
  has_sums=''
  [ ! -s "$T/sums" ] || has_sums=1
  cd "$R" || fail io "cannot enter $R"
  bad='' sumjobs=''
  : > "$T/sums.out"
  [ -z "$has_sums" ] || start_sums
  lrc=0 erc=0
  wait_job "$listjob" || lrc=$?
  wait_job "$expjob" || erc=$?
  # Compare the listings as multisets of lines: order-free, and a name holding a newline splits
  # the same way on both sides. First by the digests of both sorted: equal, they match. Unequal,
  # or when a step of that failed, the awk below compares them line by line and names what
  # differs. On a 50,000-file release the listing's side of this took about 0.11 s where that
  # awk takes 0.3 s (the expected side is made beside the listing). A directory's listed line
  # carries its mode, whose permission bits must be DIR_MODE's (set-id and sticky bits are the
  # server's: a set-group-ID parent passes its bit on); it is then compared without it.
  same=''
  if [ $lrc -eq 0 ] && [ $erc -eq 0 ] &&
    awk -v dm="$DIR_MODE" 'function bad_dir() { exit 1 } '"$DIR_LINE"' { print }' "$T/$ID.listing" > "$T/listed" &&
    ls_sum=$(sorted_digest "$T/listed") && IFS= read -r ex_sum < "$T/expected.sum" &&
    [ -n "$ls_sum" ] && [ "$ls_sum" = "$ex_sum" ]; then
    same=1
  fi
  [ -z "$has_sums" ] || wait_sums
  [ $lrc -eq 0 ] || fail verify "cannot list $R: $(head -c 300 "$T/find.err")"
  # The line-by-line comparison makes the expected lines from the manifest's in the same awk (no
  # pass of their own), as expected_listing prints them; want() splits an expected name at its
  # line breaks, as the listing file does.
  if [ -z "$same" ] && ! awk -v dm="$DIR_MODE" "$MANIFEST_UNESCAPE"'function want(s,  k, i, part) { k = split(s, part, "\n"); for (i = 1; i <= k; i++) e[part[i]]++ } function bad_dir() { x++; if (x <= 50) print "!unexpected d " dmode " " substr($0, 3) } FILENAME == ARGV[1] { if ($2 == "f") want("f " $3 " " $4 " ./" unesc($1)); else if ($2 == "d") want("d ./" unesc($1)); else if ($2 == "l") want("l " $4 " ./" unesc($1)); next } '"$DIR_LINE"' { if (e[$0] > 0) e[$0]--; else { x++; if (x <= 50) print "!unexpected " $0 } } END { for (k in e) if (e[k] > 0) { m++; if (m <= 50) print "!missing " k }; exit (x + m > 0) }' "$mf" "$T/$ID.listing"; then
    fail verify "the release does not match the manifest"
  fi
  check_odd_sums "$ODD_SUMS"
  check_links "$LINKS"
  if [ -n "$bad" ]; then
    head -n 50 "$T/sums.out" | while IFS= read -r l; do say "badsum $l"; done
    fail verify "sha256 mismatch"
  fi
  view_made || fail io "cannot write the manifest's view"
  if [ -n "$UPDATES_CACHE" ]; then
    # Verified: cache/ holds exactly the manifest, whatever happens to this release from here.
    { install_manifest "$mf" "$md" "$M/cache" "$T/$ID" && guarded_rm .atomic-deploy/cache.manifest.json.gz .atomic-deploy/cache.pending; } || fail io "cannot write the cache manifest"
  fi
  S="$D/shared"
  : > "$T/$ID.links"
  case $SHARED in
    explicit) link_explicit ;;
    *) [ ! -d "$S" ] || link_shared '' '' ;;
  esac
  # The listing (what the release is when verified: the next deploy's drift check compares the
  # live release with it and with the ready marker below), the links, the manifest's view, the
  # manifest and its digest, last (what tells the next deploy that nothing changed), by one mv:
  # each file whole under its name, or not there.
  printf '%s\n' "$md" > "$T/$ID.digest" || fail io "cannot write the manifest"
  if [ -f "$T/$ID.view.gz" ]; then mv_view="$T/$ID.view.gz"; else mv_view="$T/$ID.view"; fi
  mv -f "$T/$ID.listing" "$T/$ID.links" "$mv_view" "$mf" "$T/$ID.digest" "$M/manifests" ||
    fail io "cannot write the manifest"
  [ "$mv_view" = "$T/$ID.view" ] || guarded_rm ".atomic-deploy/manifests/$ID.view" || fail io "cannot write the manifest: $why"
  mv "$T/revision.json" "$M/revisions/$ID.json" || fail io "cannot write the revision record"
  if [ -n "$HOOK_NAME" ]; then
    # What the hook modifies is newer than this mark, a same-size edit included.
    mark_time "$T/hook.mark" || fail io "cannot write $T/hook.mark"
    run_hook "$HOOK_NAME" "$R" "$HOOK_SCRIPT" "$HOOK_ENV" "$UMASK" || fail hook "cannot run $HOOK_NAME: $why"
    [ $rc -eq 0 ] || fail hook "$HOOK_NAME exited with status $rc"
    # The hook may have run long, and the lock been cleared meanwhile (mode: unlock). Cleared
    # and free, it is taken again; taken by a later run, this release is removed and nothing
    # else is touched: the rest of the deploy belongs to that run.
    if ! lock_is_ours "$LOCK_TOKEN"; then
      if mkdir "$M/lock" 2>/dev/null; then
        printf '%s\n' "$LOCK_OWNER" > "$M/lock/owner"
        say "warning the lock was cleared while $HOOK_NAME ran; it is held again by this run"
      else
        fail lock "the lock on $D is no longer this run's (cleared and taken by another run while $HOOK_NAME ran); release $ID was removed"
      fi
    fi
    # What the hook changed (its listing against the verified one, and the files it modified
    # since the mark, which catches an edit that keeps the size) is recorded for the next deploy,
    # whose copy of this release drops it, and reported now, on this deploy. The listing after
    # the hook is what the release is when ready.
    cd "$R" || fail io "cannot enter $R"
    drift_list "$T/hook.mark" > "$T/post" 2>/dev/null || fail io "cannot list $R after $HOOK_NAME"
    listing_diff hook 1000 "$M/manifests/$ID.links" "$M/manifests/$ID.listing" "$T/post" > "$M/manifests/$ID.hook" || fail io "cannot compare $R after $HOOK_NAME"
    { strip_newer < "$T/post" > "$T/post.listing" && mv "$T/post.listing" "$M/manifests/$ID.listing"; } || fail io "cannot write the listing"
    hs=$(tail -n 1 "$M/manifests/$ID.hook")
    if [ "$hs" != '!hook 0 0 0' ]; then
      sed '$d' "$M/manifests/$ID.hook" | head -n 20
      printf '%s\n' "$hs"
    fi
  fi
  # With SWITCH_AFTER, $T stays until the switch has made its link there.
  [ -n "$SWITCH_AFTER" ] || guarded_rm ".atomic-deploy/tmp/$ID" || fail io "cannot remove $T: $why"
  : > "$M/manifests/$ID.ready" || fail io "cannot write $M/manifests/$ID.ready"
  # The switch and the events finish_run logs follow within milliseconds: they share ready's
  # stamp (one date, a process, for all of them).
  [ -z "$SWITCH_AFTER" ] || log_stamp=$(date -u "$stamp_format")
  log_event ready "$ID" || fail io "cannot write $M/log"
  trap '' HUP INT TERM
  # `ready` reaching a runner that gave up (a closed channel: SIGPIPE) still removes the release.
  say ready
  if [ -n "$SWITCH_AFTER" ]; then
    # A failed switch leaves current as it was, and the release ready (and $T): the runner
    # aborts it.
    switch_current "$ID" "$T" || exit 1
    # Live now: whatever becomes of the channel, the run finishes (prunes, unlocks).
    trap '' PIPE
    guarded_rm ".atomic-deploy/tmp/$ID" || say "warning $T was not removed: $why"
    # shellcheck disable=SC2119 # finish_run takes no arguments
    finish_run
  fi
}

# shellcheck disable=SC2119 # prepare_release takes no arguments (see above)
[ -z "$PREPARE" ] || prepare_release
[ -z "$FINALIZE" ] || finalize_release
