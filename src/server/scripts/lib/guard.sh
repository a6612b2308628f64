# shellcheck shell=sh
# The one guard every removal on the server passes through, and the checks that keep writes
# inside the deploy directory. What the scripts find on the server is untrusted (another local
# account, a damaged directory, a hand edit): whatever a record or the runner asks to remove,
# the guard refuses current, the release current points to, the releases the runner keeps (the
# live one and the one it replaced), the layout's own directories, anything outside $D, and
# anything reached through a symlink. $D is the resolved deploy directory, set by the including
# script.
#
# @param GUARD_KEEP list Release ids never removed, whatever else asks: the release live when the run began, and the one it replaced.

# More releases kept from some point of a script on (a list as GUARD_KEEP is): lib/finish.sh,
# run by the release script too, keeps the release it switched to.
guard_also_keep=''

# The release current points to, as a path relative to $D (empty when current is no symlink):
# read afresh by each guarded removal, never remembered from an earlier step.
current_target() {
  ct=$(readlink "$D/current" 2>/dev/null) || ct=''
  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac
  while :; do
    case $ct in
      */) ct=${ct%/} ;;
      *) break ;;
    esac
  done
}

# parents_real BASE REL: 0 when no directory between BASE and BASE/REL (REL's parents, not REL
# itself) is a symlink; otherwise 1, with $why naming the first one (relative to $D).
parents_real() {
  pr_p=$1 pr_rest=$2
  while :; do
    case $pr_rest in
      */*) ;;
      *) return 0 ;;
    esac
    pr_p="$pr_p/${pr_rest%%/*}"
    pr_rest=${pr_rest#*/}
    if [ -L "$pr_p" ]; then
      why="${pr_p#"$D"/} is a symlink"
      return 1
    fi
  done
}

# removable REL: 0 when REL, a path relative to $D, may be removed; otherwise 1, with $why
# saying why not. current_target must have run (guarded_rm does it).
removable() {
  why=''
  case /$1/ in
    // | *//* | */./* | */../*) why="'$1' is not a plain relative path" ;;
  esac
  [ -z "$why" ] || return 1
  # The same list as LAYOUT_PATHS in src/server/removal-guard.ts, the guard of SFTP-only deploys.
  case $1 in
    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)
      why="$1 is part of the deploy layout"
      return 1
      ;;
  esac
  if [ -n "$ct" ]; then
    case $1 in
      "$ct" | "$ct"/*)
        why="$1 is what current points to"
        return 1
        ;;
    esac
    case $ct in
      "$1"/*)
        why="$1 holds what current points to"
        return 1
        ;;
    esac
  fi
  eval "set -- \"\$1\" $GUARD_KEEP $guard_also_keep"
  rm_rel=$1
  shift
  for rm_keep; do
    case $rm_rel in
      "releases/$rm_keep" | "releases/$rm_keep"/*)
        why="$rm_rel is release $rm_keep, which is kept"
        return 1
        ;;
    esac
  done
  parents_real "$D" "$rm_rel"
}

# guarded_rm REL...: remove each path (relative to $D) with rm -rf, once the guard has passed
# every one of them; when it refuses one, nothing is removed, `!refused-remove <why>` is printed
# and the status is 1. This is the one way the scripts remove anything.
guarded_rm() {
  # Only what exists goes to rm, and current (a readlink, so a process) is read only when
  # something does: most calls then start no process at all. A path that does not exist is no
  # release current points to; every other check of the guard applies to it all the same.
  gr_n=$#
  for gr_rel; do
    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi
  done
  if [ $# -gt "$gr_n" ]; then current_target; else ct=''; fi
  gr_i=0
  for gr_rel; do
    [ $gr_i -lt "$gr_n" ] || break
    gr_i=$((gr_i + 1))
    if ! removable "$gr_rel"; then
      say "refused-remove $why"
      return 1
    fi
  done
  shift "$gr_n"
  [ $# -eq 0 ] || rm -rf -- "$@"
}

# guarded_rm_list BASE KIND LIST: remove every path of LIST (a list parameter's value, relative
# to BASE, itself relative to $D), once the guard has passed each; rm runs in chunks so no
# command line comes near ARG_MAX. A refusal or a failed rm fails the release as KIND. The
# chunk's command is built from references to the positional parameters (`"${12}"`), so eval
# never sees a path, only its number.
guarded_rm_list() {
  ru_base=$1 ru_kind=$2
  eval "set -- $3"
  # An empty list (most deploys remove nothing from their starting copy) reads nothing.
  [ $# -gt 0 ] || return 0
  current_target
  for ru_path; do
    removable "$ru_base/$ru_path" || fail "$ru_kind" "refusing to remove $ru_base/$ru_path: $why"
  done
  ru_dir="$D/$ru_base"
  ru_words='' ru_count=0 ru_size=0 ru_i=1 ru_path=''
  while [ $ru_i -le $# ]; do
    eval "ru_path=\${$ru_i}"
    ru_words="$ru_words \"\$ru_dir\"/\"\${$ru_i}\""
    ru_count=$((ru_count + 1))
    ru_size=$((ru_size + ${#ru_dir} + ${#ru_path} + 2))
    if [ $ru_count -ge 500 ] || [ $ru_size -gt 60000 ] || [ $ru_i -eq $# ]; then
      eval "rm -rf -- $ru_words" || fail "$ru_kind" "cannot remove paths in $ru_dir"
      ru_words='' ru_count=0 ru_size=0
    fi
    ru_i=$((ru_i + 1))
  done
}

# real_dir PATH: 0 when PATH (absolute) is missing, or a real directory (no symlink) that this
# user owns and no other user may write to; otherwise 1, with $why naming it (relative to $D)
# and what is wrong. Group write is allowed: a group the administrator chose.
real_dir() {
  why=''
  rd_name=${1#"$D"/}
  [ "$rd_name" != "$1" ] || rd_name=$1
  if [ -L "$1" ]; then
    why="$rd_name is a symlink (to $(readlink "$1")); atomic-deploy writes only into real directories. Replace it with the directory itself"
    return 1
  fi
  [ -e "$1" ] || return 0
  if [ ! -d "$1" ]; then
    why="$rd_name exists and is not a directory"
    return 1
  fi
  rd_stat=$(stat -c '%u %a %U' "$1") || {
    why="cannot read the owner of $rd_name"
    return 1
  }
  rd_uid=${rd_stat%% *}
  rd_mode=${rd_stat#* }
  rd_mode=${rd_mode%% *}
  [ -n "${my_uid:-}" ] || my_uid=$(id -u)
  if [ "$rd_uid" != "$my_uid" ]; then
    why="$rd_name is owned by ${rd_stat##* }, not by $(id -un); atomic-deploy writes only into directories of the deploy user. Give it to that user (chown)"
    return 1
  fi
  case $rd_mode in
    *[2367])
      why="$rd_name is writable by every user (mode $rd_mode), so anybody could swap what is in it. Remove that (chmod o-w)"
      return 1
      ;;
  esac
  return 0
}

# open_to_all MODE: 0, with $why, when MODE ($D's permission bits, as stat's %a prints them) lets
# every user write to $D. The deploy directory itself may belong to another user (root, say),
# but not be writable by every user: anybody could swap its entries.
open_to_all() {
  case $1 in
    *[2367])
      why="$D is writable by every user, so anybody could swap its entries; remove that (chmod o-w)"
      return 0
      ;;
  esac
  return 1
}

# layout_dirs REL...: $D's own check (open_to_all), then real_dir for each of these paths of $D,
# with one stat for all of them (the inspect script checks the whole layout on every deploy). 0
# when all pass; otherwise 1, with $why for the first that does not. Sets meta_mode to the
# permission bits of $D/.atomic-deploy when that is one of them.
layout_dirs() {
  # shellcheck disable=SC2034 # meta_mode: read by inspect.sh
  ld_n=$# meta_mode=''
  for ld_rel; do
    ld_p="$D/$ld_rel"
    if [ -L "$ld_p" ] || { [ -e "$ld_p" ] && [ ! -d "$ld_p" ]; }; then
      # $D is checked first, as when the layout is whole.
      ! open_to_all "$(stat -c '%a' "$D" 2>/dev/null)" || return 1
      real_dir "$ld_p"
      return 1
    fi
    [ ! -d "$ld_p" ] || set -- "$@" "$ld_p"
  done
  shift "$ld_n"
  [ -d "$D" ] || return 0
  [ -n "${my_uid:-}" ] || my_uid=$(id -u)
  # One line per directory, $D's first: uid and mode, then the path (which has no line break: $D
  # was refused with one). Split by the shell rather than read by a pipeline's loop: no process
  # but stat. Where stat fails (a directory gone meanwhile), or a line is missing or not as
  # expected, each directory is checked on its own.
  ld_out=$(stat -c '%u %a %n' -- "$D" "$@") || ld_out=''
  # shellcheck disable=SC2154 # nl: set by lib/common.sh
  ld_rest=$ld_out$nl ld_bad='' ld_lines=0
  while [ -n "$ld_rest" ] && [ $ld_lines -le $# ]; do
    ld_line=${ld_rest%%"$nl"*}
    ld_rest=${ld_rest#*"$nl"}
    ld_lines=$((ld_lines + 1))
    ld_uid=${ld_line%% *} ld_path=${ld_line#* }
    ld_mode=${ld_path%% *} ld_path=${ld_path#* }
    case $ld_uid$ld_mode in '' | *[!0-9]*)
      ld_bad=1
      break
      ;;
    esac
    if [ $ld_lines -eq 1 ]; then
      [ "$ld_path" = "$D" ] || { ld_bad=1; break; }
      ! open_to_all "$ld_mode" || return 1
      continue
    fi
    # shellcheck disable=SC2034 # meta_mode: read by inspect.sh
    [ "$ld_path" != "$D/.atomic-deploy" ] || meta_mode=$ld_mode
    if [ "$ld_uid" != "$my_uid" ] || [ $((ld_mode % 10 & 2)) -ne 0 ]; then
      ld_bad=1
      break
    fi
  done
  [ -n "$ld_bad" ] || [ $ld_lines -ne $(($# + 1)) ] || return 0
  # One that does not pass, a line not as expected, or one missing: each directory on its own,
  # for $why.
  # shellcheck disable=SC2034 # meta_mode: read by inspect.sh
  meta_mode=''
  ! open_to_all "$(stat -c '%a' "$D" 2>/dev/null)" || return 1
  for ld_p; do real_dir "$ld_p" || return 1; done
}
