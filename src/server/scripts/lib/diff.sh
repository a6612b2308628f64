# shellcheck shell=sh
# The awk program is built of single-quoted pieces: its $0 and fields are awk's, not the shell's.
# shellcheck disable=SC2016
# How a release differs from a listing recorded earlier (inspect.sh's drift check, release.sh's
# record of what before-switch changed). Needs lib/listing.sh.

# A newline, for the awk program below: no quoted string in these files spans lines.
nl=$(printf '\n_')
nl=${nl%_}

# The difference of two listings (list_tree's lines) as multisets, as verification compares them,
# leaving out the shared links the links file names and everything under them. Reads the links
# file (lf, one path a line, a line break or % percent-encoded as record_link writes them), the
# recorded listing (rf), then the actual listing, whose lines start with `N ` for files modified
# after a reference time (drift_list).
#
# A name holding a line break spans lines of a listing: a line that does not start like a listing
# line continues the name of the one before, so each entry is whole before it is compared. Prints,
# for kind k, `!k-added <line>` (only the actual listing has it), `!k-missing <line>` and
# `!k-newer <path>`, at most `max` of each, then `!k <added> <missing> <newer>` with the full
# counts. In what it prints, a line break in a name is %0A and a % is %25, so every result is one
# line. What a directory holds that is new (a directory now, and not one in the record) is new as
# a whole: only the directory is named (and likewise for one that is gone), so a plugin of
# thousands of files, or a cache a hook writes, is one path. A file modified since the reference
# time is named newer only when it is neither added nor under a new directory: those are named
# already.
diff_awk='function linked(p,   i) { while (1) { if (p in links) return 1; i = match(p, /\/[^\/]*$/); if (!i) return 0; p = substr(p, 1, i - 1) } }'
diff_awk="$diff_awk$nl"'function pathof(line,   p) { p = line; sub(/^(f [0-7]+ [0-9]+|l [0-9]+|d [0-7]+|d) \.\//, "", p); return p }'
diff_awk="$diff_awk$nl"'function enc(s) { gsub(/%/, "%25", s); gsub(/\n/, "%0A", s); return s }'
diff_awk="$diff_awk$nl"'function within(p, d1, d2,   i) { while (1) { i = match(p, /\/[^\/]*$/); if (!i) return 0; p = substr(p, 1, i - 1); if ((p in d1) && !(p in d2)) return 1 } }'
diff_awk="$diff_awk$nl"'function fin(   p) { if (!have) return; have = 0; if (src == "r") { e[cur]++; return }; fresh = 0; if (substr(cur, 1, 2) == "N ") { cur = substr(cur, 3); fresh = 1 }; if (!fresh && e[cur] > 0) { e[cur]--; return }; p = pathof(cur); if (linked(p)) return; if (fresh) nw[++nn] = p; if (e[cur] > 0) { e[cur]--; return }; al[++na] = cur; ap[p] = 1; if (cur ~ /^d /) ad[p] = 1 }'
diff_awk="$diff_awk$nl"'BEGIN { lf = ENVIRON["ADT_LF"]; rf = ENVIRON["ADT_RF"] }'
diff_awk="$diff_awk$nl"'FNR == 1 { fin(); src = (FILENAME == lf) ? "l" : ((FILENAME == rf) ? "r" : "a") }'
diff_awk="$diff_awk$nl"'src == "l" { p = $0; gsub(/%0A/, "\n", p); gsub(/%25/, "%", p); links[p] = 1; next }'
diff_awk="$diff_awk$nl"'/^(N )?(f [0-7]+ [0-9]+|l [0-9]+|d [0-7]+|d) \.\// { fin(); cur = $0; have = 1; next }'
diff_awk="$diff_awk$nl"'{ if (have) cur = cur "\n" $0; else { cur = $0; have = 1 } }'
diff_awk="$diff_awk$nl"'END { fin(); for (x in e) if (e[x] > 0) { p = pathof(x); if (linked(p)) e[x] = 0; else if (x ~ /^d /) md[p] = 1 }'
diff_awk="$diff_awk"' for (i = 1; i <= na; i++) { if (within(pathof(al[i]), ad, md)) continue; a++; if (a <= max) print "!" k "-added " enc(al[i]) }'
diff_awk="$diff_awk"' for (x in e) if (e[x] > 0 && !within(pathof(x), md, ad)) { m += e[x]; if (m <= max) print "!" k "-missing " enc(x) }'
diff_awk="$diff_awk"' for (i = 1; i <= nn; i++) { p = nw[i]; if ((p in ap) || within(p, ad, md)) continue; n++; if (n <= max) print "!" k "-newer " enc(p) }'
diff_awk="$diff_awk"' print "!" k " " a + 0 " " m + 0 " " n + 0 }'

# listing_diff KIND MAX LINKS RECORDED ACTUAL (- for stdin)
# The file names reach awk through the environment, not -v: awk processes escape sequences in a -v
# value (POSIX awk, "-v assignment"), so a deploy path holding a backslash would never equal
# FILENAME and the recorded listing would be read as the actual one.
listing_diff() {
  ADT_LF=$3 ADT_RF=$4 awk -v k="$1" -v max="$2" "$diff_awk" "$3" "$4" "$5"
}

# drift_list REFERENCE: list_tree's lines for the working directory, each file or link modified
# after REFERENCE (file times are the server's own: tar extracts with -m) with `N ` before it. The
# mark is on the listing line itself, so a name holding a line break is named whole (a separate
# line of its own would split it). GNU find does it in one walk, comparing times to the
# nanosecond. Elsewhere, `stat -c %y` (GNU and BusyBox print nanoseconds there too, where
# BusyBox find -newer compares whole seconds) of every file and link, in one walk (BusyBox find
# runs an `-exec ... {} +` in a branch of -o, but not inside `\( \)`), compared by awk, and one
# walk for directories. Returns non-zero when a walk failed.
drift_list() {
  if find . -maxdepth 0 -printf '' 2>/dev/null; then
    find . ! -name . \( ! -type d -newer "$1" -printf 'N ' -o -true \) \( -type f -printf 'f %m %s %p\n' -o -type d -printf 'd %m %p\n' -o -type l -printf 'l %s %p\n' \)
  else
    dl_ref=$(TZ=UTC0 stat -c '%y' "$1") || return 1
    # `//failed` can be no line of a listing (find never prints an empty segment).
    {
      TZ=UTC0 find . -type f -exec stat -c '%y|f %a %s %n' {} + -o -type l -exec stat -c '%y|l %s %n' {} + &&
        find . ! -name . -type d -exec stat -c 'd %a %n' {} + || echo //failed
    } | awk -v ref="$dl_ref" '$0 == "//failed" { bad = 1; next } /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9][.0-9]* [-+][0-9][0-9][0-9][0-9][|][fl] / { i = index($0, "|"); t = substr($0, 1, i - 1); $0 = substr($0, i + 1); if (t > ref) $0 = "N " $0 } { print } END { exit bad }'
  fi
}

# strip_newer: drift_list's lines as list_tree's (without the `N ` marks), for the record.
strip_newer() {
  awk '/^N (f [0-7]+ [0-9]+|l [0-9]+) \.\// { $0 = substr($0, 3) } { print }'
}

# newer FILE REFERENCE: 0 when FILE was modified after REFERENCE, as drift_list compares them.
newer() {
  if find . -maxdepth 0 -printf '' 2>/dev/null; then
    [ -n "$(find "$1" -newer "$2" 2>/dev/null)" ]
  else
    nw_a=$(TZ=UTC0 stat -c '%y' "$1") && nw_b=$(TZ=UTC0 stat -c '%y' "$2") &&
      awk -v a="$nw_a" -v b="$nw_b" 'BEGIN { exit !(a > b) }'
  fi
}

# mark_time FILE: create FILE as a reference time that whatever is written from now on is newer
# than. File times follow the kernel's coarse clock, which moves every few milliseconds: it waits
# until a file written now is newer than FILE (at most 200 rounds of 10 ms). Opening an existing
# file with O_TRUNC marks its modification time for update (POSIX open()), as a write does.
mark_time() {
  : > "$1" || return 1
  mt_i=0
  while [ $mt_i -lt 200 ]; do
    : > "$1.probe" || return 1
    ! newer "$1.probe" "$1" || break
    sleep 0.01 2>/dev/null || sleep 1
    mt_i=$((mt_i + 1))
  done
  rm -f "$1.probe"
}
