# shellcheck shell=sh
# Print the listing of a directory as the release phase's verification computes it (list_tree).
#
# @param LIST_DIR string The directory to list.

# shellcheck source=lib/common.sh
. ./lib/common.sh
# shellcheck source=lib/listing.sh
. ./lib/listing.sh

cd "$LIST_DIR" || exit 1
list_tree
