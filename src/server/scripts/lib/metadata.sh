# shellcheck shell=sh
# Functions on the metadata directory, $M (`<deploy dir>/.atomic-deploy`), which the including
# script sets first. Removals go through lib/guard.sh, which the including script also includes.

# Append an event to the release log; $M is the metadata directory, set by each script. Stamped
# with log_stamp where the caller set it (events of one moment share one date, a process),
# otherwise with the time now.
log_event() { printf '%s\t%s\t%s\n' "$1" "$2" "${log_stamp:-$(date -u "$stamp_format")}" >> "$M/log"; }

# blob NAME FILE LIMIT: print FILE (a regular file, not a symlink) as `!blob <name> <length>`
# followed by its raw bytes; one longer than LIMIT bytes is reported as `!toolarge <name>
# <length>` instead, and not read.
blob() {
  [ -f "$2" ] && [ ! -L "$2" ] || return 0
  # An empty file (a release without shared links, say) needs no process.
  if [ ! -s "$2" ]; then
    printf '!blob %s 0\n' "$1"
    return 0
  fi
  n=$(wc -c < "$2") || return 0
  n=$((n + 0))
  if [ "$n" -gt "$3" ]; then
    say "toolarge $1 $n"
    return 0
  fi
  printf '!blob %s %s\n' "$1" "$n"
  head -c "$n" "$2"
}

# blob_text NAME TEXT: TEXT as a blob, byte for byte (a symlink's target may hold anything).
blob_text() {
  # Printable ASCII (a release's path, mostly) is one byte a character in every shell: its
  # length is the shell's; anything else is counted by wc.
  case $2 in
    *[!\ -~]*) n=$(printf '%s' "$2" | wc -c) ;;
    *) n=${#2} ;;
  esac
  printf '!blob %s %s\n%s' "$1" "$((n + 0))" "$2"
}

# drop_base [NAME]: remove the copy of a release named NAME (`base.<pid>`: see start_copy), or
# every such copy when NAME is not given (but the one named by db_keep: see drop_bases_but):
# only the holder of the lock does that, when the copies left are those of runs that are gone.
# A copy still running is stopped first; its pid is only signalled while it is still a cp
# (where /proc tells). A copy left running is harmless anyway: its directory is gone, and its
# name is never used again.
drop_base() {
  if [ $# -gt 0 ]; then
    case $1 in base.[A-Za-z0-9]*) ;; *) return 0 ;; esac
    case $1 in *[!A-Za-z0-9.]*) return 0 ;; esac
    set -- "$M/$1"
  else
    set -- "$M"/base.*
    [ -e "$1" ] || [ -L "$1" ] || return 0
  fi
  for db_b; do
    # A copy's records name it too: one whose directory is gone already goes by them.
    case $db_b in
      *.rc.tmp) db_b=${db_b%.rc.tmp} ;;
      *.pid | *.from | *.rc) db_b=${db_b%.*} ;;
    esac
    [ "${db_b##*/}" != "${db_keep:-}" ] || continue
    [ -e "$db_b" ] || [ -L "$db_b" ] || [ -e "$db_b.from" ] || [ -e "$db_b.pid" ] ||
      [ -e "$db_b.rc" ] || [ -e "$db_b.rc.tmp" ] || continue
    db_rel=".atomic-deploy/${db_b##*/}"
    # A copy whose job has ended (its exit status, the job's last write, is there: the copy
    # taken over by a release, a spare) has nothing running to stop: everything goes at once.
    if [ -f "$db_b.rc" ] && [ ! -L "$db_b.rc" ]; then
      guarded_rm "$db_rel.from" "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null
      continue
    fi
    # The record of what the copy is of goes first: a copy's job writes its exit status only
    # while that record is there (start_copy), so one stopped here leaves nothing behind.
    guarded_rm "$db_rel.from" >/dev/null
    p='' comm=''
    if [ -f "$db_b.pid" ] && [ ! -L "$db_b.pid" ]; then
      IFS= read -r p 2>/dev/null < "$db_b.pid"
      case $p in '' | *[!0-9]*) ;; *)
        IFS= read -r comm 2>/dev/null < "/proc/$p/comm"
        [ "$comm" != cp ] || kill "$p" 2>/dev/null
        ;;
      esac
    fi
    guarded_rm "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null
  done
  :
}

# drop_bases_but KEEP: every copy of a release but KEEP (`base.<pid>`, or empty: none kept).
drop_bases_but() {
  db_keep=$1
  drop_base
  db_keep=''
}

# start_copy ID METHOD: copy releases/ID into `$M/base.<pid>` in the background (METHOD copy or
# hardlink), with `.from` (the release copied and the copy's kind: `ID copy`, or `ID hardlink`
# for a copy whose files are the release's own, hard-linked), `.pid` (the cp) and, once it ends,
# `.rc` (its exit status). Only a whole copy can start a release made with copy-method copy
# (copy_of).
# Below the copy's directory, cp keeps the release's modes; the directory itself is private
# (0700) while it waits in .atomic-deploy, and gets the release's mode when it is taken over
# (check_copy in release.sh). Every stream of the job is redirected, so it never holds the
# channel open, and it ignores SIGHUP, so it outlives the session. With a third word `low`, cp
# runs under `nice -n 10` where there is a nice: a copy nothing waits for (the spare, made
# after the switch) yields the CPU to the live site and to what else runs. Sets B to the copy's
# directory.
start_copy() {
  B="$M/base.$$"
  sc_from="$1 copy" sc_nice=''
  [ "$2" != hardlink ] || sc_from="$1 hardlink"
  if [ "${3:-}" = low ] && command -v nice > /dev/null 2>&1; then sc_nice='nice -n 10'; fi
  { (umask 077 && mkdir "$B") 2>/dev/null && printf '%s\n' "$sc_from" > "$B.from"; } || return 1
  (
    trap '' HUP
    # nice runs cp in its own process (exec): the pid recorded is cp's either way.
    # shellcheck disable=SC2086 # sc_nice: no word or three, split on purpose
    if [ "$2" = hardlink ]; then
      $sc_nice cp -al "$D/releases/$1/." "$B/" &
    elif cp --version >/dev/null 2>&1; then
      $sc_nice cp -a --reflink=auto "$D/releases/$1/." "$B/" &
    else
      $sc_nice cp -a "$D/releases/$1/." "$B/" &
    fi
    echo $! > "$B.pid"
    wait_job $!
    rc=$?
    # cp -a gave the copy's directory the release's mode: private again while it waits.
    [ $rc -ne 0 ] || chmod 700 "$B" || rc=1
    # A copy dropped meanwhile (drop_base removes .from first) leaves nothing behind: not even
    # when it was dropped between the check and the rename, which the second check sees.
    [ -f "$B.from" ] && echo $rc > "$B.rc.tmp" && mv "$B.rc.tmp" "$B.rc" &&
      { [ -f "$B.from" ] || guarded_rm ".atomic-deploy/${B##*/}.rc"; }
  ) < /dev/null > /dev/null 2>&1 &
}

# live_copy [ID [KIND]]: sets live to the name of a complete copy of the live release under $M
# (base.*, with .rc 0), if there is one, else to '', and live_kind to its kind (copy_of). With
# KIND copy, only a whole copy counts: a release made with copy-method copy shares no file with
# another. ID is the live release when the caller has read current already (empty or absent:
# current is read). Needs D.
# shellcheck disable=SC2120 # called with the live release's id, or without
live_copy() {
  # shellcheck disable=SC2034 # live_kind: read by inspect.sh
  live='' live_kind=''
  lc=${1:-}
  if [ -z "$lc" ]; then
    lc=$(readlink "$D/current" 2>/dev/null) || return 0
  fi
  lc=${lc%/}
  lc=${lc##*/}
  [ -n "$lc" ] || return 0
  for f in "$M"/base.*.from; do
    b=${f%.from} rc=''
    copy_of "$f" "$lc" "${2:-}" || continue
    [ ! -L "$b.rc" ] || continue
    IFS= read -r rc 2>/dev/null < "$b.rc"
    if [ "$rc" = 0 ] && [ -d "$b" ] && [ ! -L "$b" ]; then
      # shellcheck disable=SC2034 # live_kind: read by inspect.sh
      live=${b##*/} live_kind=$ck
      return 0
    fi
  done
}

# copy_of RECORD ID [METHOD]: 0 when RECORD (a copy's `.from`, see start_copy) names a copy of
# release ID that a release made with copy-method METHOD may start from: for copy, a whole copy
# only; for hardlink, any; with no METHOD (a copy kept, not started from), any. A record with the
# id alone (`ID`, as builds before the kind was recorded wrote it, for both kinds) may be of a
# hard-linked copy: kind unknown, never taken for copy. A RECORD that is not a regular file (a
# symlink, a fifo, absent) names nothing. Sets ck to the kind: copy, hardlink or unknown.
copy_of() {
  ck='' co_from=''
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  IFS= read -r co_from 2>/dev/null < "$1"
  case $co_from in
    "$2 copy") ck=copy ;;
    "$2 hardlink") ck=hardlink ;;
    "$2") ck=unknown ;;
    *) return 1 ;;
  esac
  case ${3:-} in
    copy) [ "$ck" = copy ] ;;
    hardlink | '') return 0 ;;
    *) return 1 ;;
  esac
}

# changed_since DIR MARK [KIND]: whether anything under DIR was written after MARK was, or (where
# find has -cnewer: GNU) had its mode or links changed. With KIND hardlink (a copy whose files
# are DIR's own, see start_copy), only a directory's change counts: a file written, or its mode
# set, since is the copy's file too (one inode), and making the copy changed every file's links;
# the copy's directories are its own, so an entry added, removed or renamed, or a directory's
# mode, is a change.
changed_since() {
  cs_dirs=''
  [ "${3:-}" != hardlink ] || cs_dirs='-type d'
  # shellcheck disable=SC2086 # cs_dirs: no word or two, split on purpose
  if find "$1" -maxdepth 0 -cnewer "$2" > /dev/null 2>&1; then
    [ -n "$(find "$1" $cs_dirs \( -newer "$2" -o -cnewer "$2" \) -print 2> /dev/null | head -n 1)" ]
  else
    [ -n "$(find "$1" $cs_dirs -newer "$2" -print 2> /dev/null | head -n 1)" ]
  fi
}

# lock_is_ours TOKEN: 0 while the lock's owner record holds TOKEN (a run's own random token).
# Whatever a run still does on the server after a long step (a hook, a wait) that touches more
# than its own release first checks this: the lock may have been cleared and taken by a later
# run meanwhile (mode: unlock after the runner was killed), and that run's things are not ours.
lock_is_ours() {
  [ -n "$1" ] && [ -f "$M/lock/owner" ] && [ ! -L "$M/lock/owner" ] || return 1
  # Read by the shell, line by line, rather than by grep -F: no process. The record's last line
  # may lack its line feed.
  while IFS= read -r lo_line || [ -n "$lo_line" ]; do
    case $lo_line in *"$1"*) return 0 ;; esac
  done < "$M/lock/owner" 2>/dev/null
  return 1
}

# unlock_if_ours TOKEN: release the lock when its owner record holds TOKEN (nothing when TOKEN is
# empty). Copies started at lock time and never taken over (an abort before the release script)
# go with the lock, but a complete copy of the live release, which the next deploy starts from
# (the spare a finishing deploy just started, $spare, too: see lib/finish.sh).
unlock_if_ours() {
  if lock_is_ours "$1"; then
    # shellcheck disable=SC2119 # without an id: current is read
    if [ -n "${spare:-}" ]; then live=$spare; else live_copy; fi
    drop_bases_but "$live"
    guarded_rm .atomic-deploy/lock && say unlocked
  fi
}
