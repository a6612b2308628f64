# shellcheck shell=sh
# Phase 7 by the shell: `current` moved with rename(2). The new link is made under the final name
# `current` in a private directory, then mv moves it into the deploy directory: every POSIX mv
# renames onto the existing name (not ln -sfn, which BSD and BusyBox do as unlink then symlink;
# not mv -T, which is GNU only). The destination operand is the directory, so a `current` that
# points to a directory is replaced, not entered. D and M are set by the including script, which
# includes lib/guard.sh too.

# switch_current ID [DIR]: point current at releases/ID, or (ID empty) remove it. Says `switched`
# once the rename happened, then what `current` reads back as; on failure says `error io ...` and
# returns 1, current unchanged. DIR, where given, is a private directory of this run's under $M
# (the release script's temporary one) that the new link is made in: no directory of its own to
# make and remove, two processes.
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
    if [ $# -gt 1 ] && [ -d "$2" ] && [ ! -L "$2" ]; then
      P=$2 sc_own=''
      # Nothing of that name is there before (the guard removes what is).
      guarded_rm "${P#"$D"/}/current" || {
        say "error io cannot remove $P/current: $why"
        return 1
      }
    else
      P="$M/switch.$$" sc_own=1
      guarded_rm ".atomic-deploy/${P##*/}" || {
        say "error io cannot remove $P: $why"
        return 1
      }
      (umask 077 && mkdir "$P") || {
        say "error io cannot create $P"
        return 1
      }
    fi
    # What is left of a failed attempt goes: the directory when it is the switch's own, else
    # the link in it.
    sc_left="${P#"$D"/}"
    [ -n "$sc_own" ] || sc_left="$sc_left/current"
    ln -s "releases/$1" "$P/current" || {
      guarded_rm "$sc_left"
      say "error io cannot create a link in $P"
      return 1
    }
    mv -f "$P/current" "$D/" || {
      guarded_rm "$sc_left"
      say "error io cannot rename the new link over $D/current"
      return 1
    }
    [ -z "$sc_own" ] || rmdir "$P" 2>/dev/null
  fi
  say switched
  if [ -L "$D/current" ]; then say "current $(readlink "$D/current")"; fi
}
