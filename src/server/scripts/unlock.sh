# shellcheck shell=sh
# mode: unlock. Report who held the lock, then remove it and any copy started under it.
#
# @param PATH_INPUT string The `path` input (absolute, or relative to the login directory).

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh

case $PATH_INPUT in /*) D=$PATH_INPUT ;; *) D="$(pwd -P)/$PATH_INPUT" ;; esac
M="$D/.atomic-deploy"
say "path $D"
[ ! -L "$D/current" ] || say "current $(readlink "$D/current")"
if [ ! -d "$M/lock" ]; then say "not-locked"; exit 0; fi
if [ -f "$M/lock/owner" ]; then printf '!owner '; head -c 4000 "$M/lock/owner"; echo; fi
# A killed run's copy goes, unless it is a complete copy of the live release: the next deploy
# starts from that.
drop_base "$(live_copy)"
rm -rf "$M/lock" || { say "error io cannot remove $M/lock"; exit 1; }
say unlocked
