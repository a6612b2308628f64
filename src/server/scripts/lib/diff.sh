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
# file (lf), the recorded listing (rf), then the actual listing, in which `N ./<path>` lines name
# files modified after a reference time. Prints, for kind k, `!k-added <line>` (only the actual
# listing has it), `!k-missing <line>` and `!k-newer <path>`, at most `max` of each, then
# `!k <added> <missing> <newer>` with the full counts.
diff_awk='function linked(p,   i) { while (1) { if (p in links) return 1; i = match(p, /\/[^\/]*$/); if (!i) return 0; p = substr(p, 1, i - 1) } }'
diff_awk="$diff_awk$nl"'function pathof(line,   p) { p = line; sub(/^(f [0-7]+ [0-9]+|l [0-9]+|d [0-7]+|d) \.\//, "", p); return p }'
diff_awk="$diff_awk$nl"'BEGIN { lf = ENVIRON["ADT_LF"]; rf = ENVIRON["ADT_RF"] }'
diff_awk="$diff_awk$nl"'FILENAME == lf { links[$0] = 1; next }'
diff_awk="$diff_awk$nl"'FILENAME == rf { e[$0]++; next }'
diff_awk="$diff_awk$nl"'/^N \.\// { p = substr($0, 5); if (!linked(p)) { n++; if (n <= max) print "!" k "-newer " p }; next }'
diff_awk="$diff_awk$nl"'{ if (e[$0] > 0) e[$0]--; else if (!linked(pathof($0))) { a++; if (a <= max) print "!" k "-added " $0 } }'
diff_awk="$diff_awk$nl"'END { for (x in e) if (e[x] > 0 && !linked(pathof(x))) { m += e[x]; if (m <= max) print "!" k "-missing " x }; print "!" k " " a + 0 " " m + 0 " " n + 0 }'

# listing_diff KIND MAX LINKS RECORDED ACTUAL (- for stdin)
# The file names reach awk through the environment, not -v: awk processes escape sequences in a -v
# value (POSIX awk, "-v assignment"), so a deploy path holding a backslash would never equal
# FILENAME and the recorded listing would be read as the actual one.
listing_diff() {
  ADT_LF=$3 ADT_RF=$4 awk -v k="$1" -v max="$2" "$diff_awk" "$3" "$4" "$5"
}

# drift_list REFERENCE: list_tree's lines for the working directory, and `N ./<path>` for every
# file or link modified after REFERENCE (file times are the server's own: tar extracts with -m).
# GNU find does both in one walk.
drift_list() {
  if find . -maxdepth 0 -printf '' 2>/dev/null; then
    find . ! -name . \( ! -type d -newer "$1" -printf 'N %p\n' -o -true \) \( -type f -printf 'f %m %s %p\n' -o -type d -printf 'd %m %p\n' -o -type l -printf 'l %s %p\n' \)
  else
    list_tree && find . ! -type d -newer "$1" -exec printf 'N %s\n' {} +
  fi
}
