# shellcheck shell=sh
# Phase 7 without SFTP: `current` moved with rename(2) by the shell. The new link is made under
# the final name `current` in a private directory, then mv moves it into the deploy directory:
# every POSIX mv renames onto the existing name (not ln -sfn, which BSD and BusyBox do as unlink
# then symlink; not mv -T, which is GNU only). The destination operand is the directory, so a
# `current` that points to a directory is replaced, not entered. Says `switched` once the rename
# happened, then what `current` reads back as.
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.
# @param RELEASE_ID string The release `current` is to point to; empty removes `current` (a first deploy undone).

# shellcheck source=lib/common.sh
. ./lib/common.sh

D=$DEPLOY_DIR
M="$D/.atomic-deploy"
umask 077
if [ -z "$RELEASE_ID" ]; then
  rm -f "$D/current" || { say "error io cannot remove $D/current"; exit 1; }
else
  P="$M/switch.$$"
  rm -rf "$P"
  mkdir "$P" || { say "error io cannot create $P"; exit 1; }
  ln -s "releases/$RELEASE_ID" "$P/current" || { rm -rf "$P"; say "error io cannot create a link in $P"; exit 1; }
  mv -f "$P/current" "$D/" || { rm -rf "$P"; say "error io cannot rename the new link over $D/current"; exit 1; }
  rmdir "$P" 2>/dev/null
fi
say switched
if [ -L "$D/current" ]; then say "current $(readlink "$D/current")"; fi
