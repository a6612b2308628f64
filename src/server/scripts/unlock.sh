# shellcheck shell=sh
# mode: unlock. Report who held the lock, then remove it and any copy started under it.
#
# @param PATH_INPUT string The `path` input (absolute, or relative to the login directory).

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/guard.sh
. ./lib/guard.sh
# shellcheck source=lib/metadata.sh
. ./lib/metadata.sh

case $PATH_INPUT in /*) D=$PATH_INPUT ;; *) D="$(pwd -P)/$PATH_INPUT" ;; esac
M="$D/.atomic-deploy"
# What the server holds is reported as it is, for the runner to check (a record may hold a line
# break, which a line cannot carry).
case $D in *"$nl"*) ;; *) say "path $D" ;; esac
if [ -L "$D/current" ]; then
  cur=$(readlink "$D/current" && echo _)
  blob_text current "${cur%?_}"
fi
if [ ! -d "$M/lock" ]; then say "not-locked"; exit 0; fi
if [ -f "$M/lock/owner" ]; then blob_text owner "$(head -c 4000 "$M/lock/owner")"; fi
# The holder is gone: the copies started under its lock go with it, but a complete copy of the
# live release, which the next deploy starts from.
# shellcheck disable=SC2119 # without an id: current is read
live_copy
drop_bases_but "$live"
guarded_rm .atomic-deploy/lock || {
  say "error io cannot remove $M/lock: $why"
  exit 1
}
say unlocked
