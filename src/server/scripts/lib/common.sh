# shellcheck shell=sh
# What every server script starts with. Included (inlined) by each script in this directory;
# the runner's prelude of parameters comes before it (see src/server/script-values.ts).
#
# Results go to stdout as lines `!key value`; tool errors and hook output go to stderr, which is
# streamed to the log.

set -u
# Machine-readable parsing of tool output (find order, awk, stat) must not depend on locale.
LC_ALL=C
export LC_ALL

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
say() { printf '!%s\n' "$*"; }
