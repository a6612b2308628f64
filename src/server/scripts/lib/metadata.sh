# shellcheck shell=sh
# Functions on the metadata directory, $M (`<deploy dir>/.atomic-deploy`), which the including
# script sets first. Removals go through lib/guard.sh, which the including script also includes.

# Append an event to the release log; $M is the metadata directory, set by each script.
log_event() { printf '%s\t%s\t%s\n' "$1" "$2" "$(now)" >> "$M/log"; }

# blob NAME FILE LIMIT: print FILE (a regular file, not a symlink) as `!blob <name> <length>`
# followed by its raw bytes; one longer than LIMIT bytes is reported as `!toolarge <name>
# <length>` instead, and not read.
blob() {
  [ -f "$2" ] && [ ! -L "$2" ] || return 0
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
  n=$(printf '%s' "$2" | wc -c)
  printf '!blob %s %s\n%s' "$1" "$((n + 0))" "$2"
}

# drop_base [NAME]: remove the copy started at lock time named NAME (`base.<pid>`, see prefetch in
# inspect.sh), or every such copy when NAME is not given: only the holder of the lock does that,
# when the copies left are those of runs that are gone. A copy still running is stopped first;
# its pid is only signalled while it is still a cp (where /proc tells). A copy left running is
# harmless anyway: its directory is gone, and its name is never used again.
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
    case $db_b in *.pid | *.from | *.rc | *.rc.tmp) continue ;; esac
    [ -e "$db_b" ] || [ -L "$db_b" ] || [ -e "$db_b.from" ] || continue
    p='' comm=''
    if [ -f "$db_b.pid" ] && [ ! -L "$db_b.pid" ]; then
      IFS= read -r p 2>/dev/null < "$db_b.pid"
      case $p in '' | *[!0-9]*) ;; *)
        IFS= read -r comm 2>/dev/null < "/proc/$p/comm"
        [ "$comm" != cp ] || kill "$p" 2>/dev/null
        ;;
      esac
    fi
    db_rel=".atomic-deploy/${db_b##*/}"
    guarded_rm "$db_rel" "$db_rel.from" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null
  done
  :
}

# lock_is_ours TOKEN: 0 while the lock's owner record holds TOKEN (a run's own random token).
# Whatever a run still does on the server after a long step (a hook, a wait) that touches more
# than its own release first checks this: the lock may have been cleared and taken by a later
# run meanwhile (mode: unlock after the runner was killed), and that run's things are not ours.
lock_is_ours() {
  [ -n "$1" ] && [ -f "$M/lock/owner" ] && [ ! -L "$M/lock/owner" ] &&
    grep -qF -e "$1" "$M/lock/owner" 2>/dev/null
}

# unlock_if_ours TOKEN: release the lock when its owner record holds TOKEN (nothing when TOKEN is
# empty). Copies started at lock time and never taken over (an abort before the release script)
# go with the lock.
unlock_if_ours() {
  if lock_is_ours "$1"; then
    drop_base
    guarded_rm .atomic-deploy/lock && say unlocked
  fi
}
