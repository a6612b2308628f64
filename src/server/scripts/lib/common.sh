# shellcheck shell=sh
# What every server script starts with. Included (inlined) by each script in this directory;
# the runner's prelude of parameters comes before it (see src/server/script-values.ts).
#
# Results go to stdout as lines `!key value`; tool errors and hook output go to stderr, which is
# streamed to the log.

set -u
# The login's umask, which inspect reports: what users read is created with it, plus o-w.
# shellcheck disable=SC2034 # login_umask: read by inspect.sh, which includes this file
login_umask=$(umask)
# Private unless said otherwise: metadata, temporary files, hook scripts (which carry secrets)
# and the lock are 0600 and 0700 whatever the login's umask (000 included). What users must
# read, the releases and shared/, is created under the login's umask plus o-w, explicitly.
umask 077
# Machine-readable parsing of tool output (find order, awk, stat) must not depend on locale.
LC_ALL=C
export LC_ALL

# A line break, for `case` patterns: names holding one are refused where a line is a record.
# Written out rather than made with $(printf): a command substitution is a fork.
# shellcheck disable=SC2034 # nl: read by the scripts that include this file
nl='
'

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
say() { printf '!%s\n' "$*"; }
