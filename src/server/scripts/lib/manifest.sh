# shellcheck shell=sh
# The manifest as the server keeps it (see src/release/compact-manifest.ts): one line per entry,
# `<path> <type> <mode> <size> <extra>` (a directory's mode is `-`: the server's umask decides
# it), the path (and a symlink's target) escaped so that a line is one line and a field one field
# (`\\` `\n` `\r` `\t` `\s` for a backslash, a line feed, a carriage return, a tab, a space), the
# lines sorted bytewise, each ending in a line feed; its digest is the sha256 of those bytes. A
# deploy sends only the lines of what changed; the server puts the new manifest together from the
# live one and checks it against the runner's digest.
# LC_ALL is C (common.sh): sort orders bytes, awk reads bytes.

# The awk function that undoes the escaping, for the programs below.
MANIFEST_UNESCAPE='function unesc(s,  out, i, c) {
  out = ""
  while ((i = index(s, "\\")) > 0) {
    out = out substr(s, 1, i - 1)
    c = substr(s, i + 1, 1)
    if (c == "n") c = "\n"
    else if (c == "r") c = "\r"
    else if (c == "t") c = "\t"
    else if (c == "s") c = " "
    out = out c
    s = substr(s, i + 2)
  }
  return out s
}'

# manifest_assemble BASE REMOVED DELTA: the new manifest's lines, sorted. BASE is the manifest
# the release started from (empty: none), less every line whose path is one of REMOVED's lines
# (escaped paths, one a line) or lies beneath one; then the lines of DELTA, the entries sent.
# Both are sorted already (every manifest is), so they are merged rather than sorted again:
# BusyBox sort, which ignores -m, sorts them, to the same lines. Were BASE not sorted, the
# result would not have the source's digest, and the release would be refused.
# Only a removed directory has lines beneath it, and its own line comes before theirs (a space
# sorts before a slash): the ancestors of a line are looked up only once one has gone, which
# on a 50,000-line manifest with only files removed took the merge from about 0.2 s to 0.05 s.
manifest_assemble() {
  if [ -n "$1" ]; then
    awk 'FILENAME == ARGV[1] { gone[$0] = 1; n++; next }
      n {
        if ($1 in gone) {
          if ($2 == "d") dirs++
          next
        }
        if (dirs) {
          k = split($1, part, "/")
          q = part[1]
          for (i = 2; i <= k; i++) {
            if (q in gone) next
            q = q "/" part[i]
          }
        }
      }
      { print }' "$2" "$1"
  fi | sort -m - "$3"
}

# manifest_digest FILE: the sha256 of FILE's bytes, in hex.
manifest_digest() {
  md=$(sha256sum < "$1") || return 1
  printf '%s\n' "${md%% *}"
}

# manifest_sums FILE: a sha256sum -c list of FILE's files, but those whose names a list cannot
# hold alike in GNU and BusyBox (a line break or a backslash: escaped as \n, \r or \\), which the
# runner sends apart (ODD_SUMS).
manifest_sums() {
  awk "$MANIFEST_UNESCAPE"'
    $2 == "f" && $1 !~ /\\[nr\\]/ { printf "%s  ./%s\n", $5, unesc($1) }' "$1"
}

# expected_listing FILE: the lines list_tree prints for the release FILE describes, a directory's
# without its mode: `f <mode> <size> ./<path>`, `d ./<path>`, `l <target length> ./<path>`, in
# FILE's order. A name holding a line break spans lines, as in the listing.
expected_listing() {
  awk "$MANIFEST_UNESCAPE"'
    { p = $1; if (index(p, "\\")) p = unesc(p) }
    $2 == "f" { print "f " $3 " " $4 " ./" p; next }
    $2 == "d" { print "d ./" p; next }
    $2 == "l" { print "l " $4 " ./" p }' "$1"
}

# manifest_view FILE: the lines the next deploy plans against: a file's sha256 cut to 16 hex
# digits (its first 64 bits), about a quarter of the bytes once gzipped.
manifest_view() {
  awk '{ if ($2 == "f") $5 = substr($5, 1, 16); print }' "$1"
}

# start_view FILE STEM: make FILE's view (gzipped where there is gzip) as STEM.view.gz or
# STEM.view, in the background: on a 50,000-line manifest it takes about 0.13 s, which the
# release's listing then hides. It reads /dev/null and writes only to files,
# so it never holds the channel open. view_made waits for it.
start_view() {
  if command -v gzip > /dev/null 2>&1; then
    (manifest_view "$1" | gzip -c > "$2.view.gz") < /dev/null 2> /dev/null &
  else
    manifest_view "$1" > "$2.view" < /dev/null 2> /dev/null &
  fi
  viewjob=$!
}

# view_made: wait for start_view's job; fails when it did.
view_made() {
  wait_job "$viewjob"
}

# install_manifest FILE DIGEST STEM VIEW: FILE, its digest and its view (VIEW.view.gz or VIEW.view,
# made by start_view and view_made) as STEM.m2, STEM.digest and STEM.view.gz (STEM.view where
# there is no gzip), copied under temporary names and renamed, so a reader finds all of them or
# none of the new ones.
install_manifest() {
  if [ -f "$4.view.gz" ]; then
    cp "$4.view.gz" "$3.view.gz.tmp" && mv "$3.view.gz.tmp" "$3.view.gz" &&
      guarded_rm "${3#"$D"/}.view" || return 1
  else
    cp "$4.view" "$3.view.tmp" && mv "$3.view.tmp" "$3.view" || return 1
  fi
  cp "$1" "$3.m2.tmp" && mv "$3.m2.tmp" "$3.m2" &&
    printf '%s\n' "$2" > "$3.digest.tmp" && mv "$3.digest.tmp" "$3.digest"
}
