# shellcheck shell=sh
# Functions on the metadata directory, $M (`<deploy dir>/.atomic-deploy`), which the including
# script sets first.

# Append an event to the release log; $M is the metadata directory, set by each script.
log_event() { printf '%s\t%s\t%s\n' "$1" "$2" "$(now)" >> "$M/log"; }

# Remove every copy started at lock time (see prefetch in inspect.sh) and stop the ones still
# running. The recorded pid is only signalled while it is still a cp (where /proc tells); a copy
# left running is harmless anyway: its directory is gone, and its name is never used again.
drop_base() {
  set -- "$M"/base.*
  [ -e "$1" ] || [ -L "$1" ] || return 0
  for f in "$M"/base.*.pid; do
    [ -f "$f" ] || continue
    p='' comm=''
    IFS= read -r p 2>/dev/null < "$f"
    case $p in '' | *[!0-9]*) continue ;; esac
    IFS= read -r comm 2>/dev/null < "/proc/$p/comm"
    [ "$comm" = cp ] && kill "$p" 2>/dev/null
  done
  rm -rf "$M"/base.* 2>/dev/null
  :
}

# unlock_if_ours TOKEN: release the lock when its owner record holds TOKEN (nothing when TOKEN is
# empty). A copy started at lock time and never taken over (an abort before the release script)
# goes with the lock that started it.
unlock_if_ours() {
  [ -n "$1" ] || return 0
  if [ -f "$M/lock/owner" ] && grep -qF -e "$1" "$M/lock/owner" 2>/dev/null; then
    drop_base
    rm -rf "$M/lock" && say unlocked
  fi
}
