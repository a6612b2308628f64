# shellcheck shell=sh
# What every server script starts with. Included (inlined) by each script in this directory;
# the runner's prelude of parameters comes before it (see src/server/script-values.ts).
#
# Results go to stdout as lines `!key value`; tool errors and hook output go to stderr, which is
# streamed to the log.

set -u
# The login's umask, which inspect reports (what users read is created with it, plus o-w), and
# this user's id, which the guard compares owners with (my_uid, lib/guard.sh). On Linux the
# shell reads both from /proc/$$/status (Umask: since 4.7; Uid: real, effective, ...): no
# process, where $(umask) and id -u are one each, in every script. The lines come early in the
# file, so the loop stops after a few. Elsewhere, or when a value is not as expected, the umask
# is asked for here (before umask 077 below) and the id where it is needed (id -u).
# shellcheck disable=SC2034 # login_umask: read by inspect.sh, which includes this file
login_umask='' my_uid=''
if [ -r "/proc/$$/status" ]; then
  cs_i=0
  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do
    cs_i=$((cs_i + 1))
    case $cs_key in
      Umask:) login_umask=$cs_value ;;
      Uid:)
        my_uid=${cs_rest%%[!0-9]*}
        break
        ;;
    esac
  done < "/proc/$$/status" 2>/dev/null
fi
case $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac
case $my_uid in '' | *[!0-9]*) my_uid='' ;; esac
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

# The time as the release log records it: $(date -u "$stamp_format"). Not a function: in a
# command substitution dash forks once more for one than for a command.
# shellcheck disable=SC2034 # stamp_format: read by lib/metadata.sh and the scripts
stamp_format=+%Y-%m-%dT%H:%M:%SZ
say() { printf '!%s\n' "$*"; }

# wait_job PID: wait for the background job PID; its exit status. posh (0.14.1, Debian's) can
# misread the arguments of its wait builtin after another builtin parsed an option (read -r,
# cd -P): `wait: invalid option`, status 1, whatever the job did. An unset, which takes no
# option here, leaves that parser clean.
wait_job() {
  unset wj_none
  wait "$1"
}
