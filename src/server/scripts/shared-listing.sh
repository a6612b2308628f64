# shellcheck shell=sh
# For a dry run: what shared/ holds, DEPTH levels deep, as `!shared-entry <d|f|l> ./<path>` lines
# (at most 20,000), then `!shared-end`. The runner applies the linking rules to it (a dry run
# writes nothing). Reads only.
#
# @param DEPLOY_DIR string The resolved absolute deploy directory.
# @param DEPTH string How many levels of shared/ to list.

# shellcheck source=lib/common.sh
. ./lib/common.sh

case $DEPTH in '' | *[!0-9]*) say "error io bad depth"; exit 1 ;; esac
if [ -d "$DEPLOY_DIR/shared" ] && cd "$DEPLOY_DIR/shared"; then
  {
    find . -maxdepth "$DEPTH" ! -name . -type d | sed 's/^/d /'
    find . -maxdepth "$DEPTH" -type l | sed 's/^/l /'
    find . -maxdepth "$DEPTH" ! -type d ! -type l | sed 's/^/f /'
  } 2>/dev/null | head -n 20000 | sed 's/^/!shared-entry /'
fi
say shared-end
