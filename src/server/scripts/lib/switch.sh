# shellcheck shell=sh
# Phase 7 by the shell: `current` moved with rename(2). The new link is made under the final name
# `current` in a private directory, then mv moves it into the deploy directory: every POSIX mv
# renames onto the existing name (not ln -sfn, which BSD and BusyBox do as unlink then symlink;
# not mv -T, which is GNU only). The destination operand is the directory, so a `current` that
# points to a directory is replaced, not entered. D and M are set by the including script, which
# includes lib/guard.sh too.

# switch_current ID: point current at releases/ID, or (ID empty) remove it. Says `switched` once
# the rename happened, then what `current` reads back as; on failure says `error io ...` and
# returns 1, current unchanged.
# shellcheck disable=SC2154 # why and ct: set by lib/guard.sh
switch_current() {
  if [ -z "$1" ]; then
    # The one removal the guard is not asked about: the link current itself (never what it
    # points to), when the switch of a first deploy is undone and no release was live before.
    rm -f "$D/current" || {
      say "error io cannot remove $D/current"
      return 1
    }
  else
    P="$M/switch.$$"
    guarded_rm ".atomic-deploy/${P##*/}" || {
      say "error io cannot remove $P: $why"
      return 1
    }
    (umask 077 && mkdir "$P") || {
      say "error io cannot create $P"
      return 1
    }
    ln -s "releases/$1" "$P/current" || {
      guarded_rm ".atomic-deploy/${P##*/}"
      say "error io cannot create a link in $P"
      return 1
    }
    mv -f "$P/current" "$D/" || {
      guarded_rm ".atomic-deploy/${P##*/}"
      say "error io cannot rename the new link over $D/current"
      return 1
    }
    rmdir "$P" 2>/dev/null
  fi
  say switched
  if [ -L "$D/current" ]; then say "current $(readlink "$D/current")"; fi
}
