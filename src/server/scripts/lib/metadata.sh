# shellcheck shell=sh
# Functions on the metadata directory, $M (`<deploy dir>/.atomic-deploy`), which the including
# script sets first.

# Append an event to the release log; $M is the metadata directory, set by each script.
log_event() { printf '%s\t%s\t%s\n' "$1" "$2" "$(now)" >> "$M/log"; }

# drop_base [KEEP]: remove every copy of a release under $M (base.*: see start_copy) but the one
# named KEEP, and stop the ones still running. The recorded pid is only signalled while it is
# still a cp (where /proc tells); a copy left running is harmless anyway: its directory is gone,
# and its name is never used again.
drop_base() {
  k=${1-}
  set -- "$M"/base.*
  [ -e "$1" ] || [ -L "$1" ] || return 0
  # The record of what a copy is of goes first: a copy's job writes its exit status only while
  # that record is there (start_copy), so one stopped here leaves nothing behind.
  for f in "$M"/base.*.from; do
    [ -n "$k" ] && [ "$f" = "$M/$k.from" ] && continue
    rm -f "$f"
  done
  for f in "$M"/base.*.pid; do
    [ -f "$f" ] || continue
    [ -n "$k" ] && [ "$f" = "$M/$k.pid" ] && continue
    p='' comm=''
    IFS= read -r p 2>/dev/null < "$f"
    case $p in '' | *[!0-9]*) continue ;; esac
    IFS= read -r comm 2>/dev/null < "/proc/$p/comm"
    [ "$comm" = cp ] && kill "$p" 2>/dev/null
  done
  for f in "$M"/base.*; do
    if [ -n "$k" ]; then
      case $f in "$M/$k" | "$M/$k".*) continue ;; esac
    fi
    rm -rf "$f" 2>/dev/null
  done
  :
}

# start_copy ID METHOD: copy releases/ID into `$M/base.<pid>` in the background (METHOD copy or
# hardlink), with `.from` (the release copied), `.pid` (the cp) and, once it ends, `.rc` (its exit
# status). Every stream of the job is redirected, so it never holds the channel open, and it
# ignores SIGHUP, so it outlives the session. Sets B to the copy's directory.
start_copy() {
  B="$M/base.$$"
  { mkdir "$B" 2>/dev/null && printf '%s\n' "$1" > "$B.from"; } || return 1
  (
    trap '' HUP
    if [ "$2" = hardlink ]; then
      cp -al "$D/releases/$1/." "$B/" &
    elif cp --version >/dev/null 2>&1; then
      cp -a --reflink=auto "$D/releases/$1/." "$B/" &
    else
      cp -a "$D/releases/$1/." "$B/" &
    fi
    echo $! > "$B.pid"
    wait $!
    rc=$?
    # A copy dropped meanwhile (drop_base removes .from first) leaves nothing behind.
    [ -f "$B.from" ] && echo $rc > "$B.rc.tmp" && mv "$B.rc.tmp" "$B.rc"
  ) < /dev/null > /dev/null 2>&1 &
}

# live_copy: the name of a complete copy of the live release under $M (base.*, with .rc 0), if
# there is one. Needs D.
live_copy() {
  lc=$(readlink "$D/current" 2>/dev/null) || return 0
  lc=${lc%/}
  lc=${lc##*/}
  for f in "$M"/base.*.from; do
    [ -f "$f" ] || continue
    b=${f%.from} from='' rc=''
    IFS= read -r from 2>/dev/null < "$f"
    IFS= read -r rc 2>/dev/null < "$b.rc"
    if [ "$from" = "$lc" ] && [ "$rc" = 0 ] && [ -d "$b" ] && [ ! -L "$b" ]; then
      printf '%s\n' "${b##*/}"
      return 0
    fi
  done
}

# changed_since DIR MARK: whether anything under DIR was written after MARK was, or (where find
# has -cnewer: GNU) had its mode or links changed.
changed_since() {
  if find "$1" -maxdepth 0 -cnewer "$2" > /dev/null 2>&1; then
    [ -n "$(find "$1" \( -newer "$2" -o -cnewer "$2" \) -print 2> /dev/null | head -n 1)" ]
  else
    [ -n "$(find "$1" -newer "$2" -print 2> /dev/null | head -n 1)" ]
  fi
}

# unlock_if_ours TOKEN: release the lock when its owner record holds TOKEN (nothing when TOKEN is
# empty). A copy started at lock time and never taken over (an abort before the release script)
# goes with the lock that started it; a complete copy of the live release stays, for the next
# deploy to start from (the spare a finishing deploy just started, $spare, too: see finish.sh).
unlock_if_ours() {
  [ -n "$1" ] || return 0
  if [ -f "$M/lock/owner" ] && grep -qF -e "$1" "$M/lock/owner" 2>/dev/null; then
    drop_base "${spare:-$(live_copy)}"
    rm -rf "$M/lock" && say unlocked
  fi
}
