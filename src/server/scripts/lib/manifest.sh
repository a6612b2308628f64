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

# manifest_listing FILE: the listing the release must match (what list_tree prints for it), one
# line per entry of the manifest FILE.
manifest_listing() {
  awk "$MANIFEST_UNESCAPE"'
    $2 == "f" { printf "f %s %s ./%s\n", $3, $4, unesc($1); next }
    $2 == "d" { printf "d ./%s\n", unesc($1); next }
    $2 == "l" { printf "l %s ./%s\n", $4, unesc($1) }' "$1"
}

# manifest_sums FILE: a sha256sum -c list of FILE's files, but those whose names a list cannot
# hold alike in GNU and BusyBox (a line break or a backslash: escaped as \n, \r or \\), which the
# runner sends apart (ODD_SUMS).
manifest_sums() {
  awk "$MANIFEST_UNESCAPE"'
    $2 == "f" && $1 !~ /\\[nr\\]/ { printf "%s  ./%s\n", $5, unesc($1) }' "$1"
}

# manifest_view FILE: the lines the next deploy plans against: a file's sha256 cut to 16 hex
# digits (its first 64 bits), about a quarter of the bytes once gzipped.
manifest_view() {
  awk '{ if ($2 == "f") $5 = substr($5, 1, 16); print }' "$1"
}

# start_view FILE: make FILE's view (gzipped where there is gzip) beside it, as FILE.view.gz or
# FILE.view, in the background: on a 50,000-line manifest it takes about 0.13 s, which the
# verification's comparison of the listings then hides. It reads /dev/null and writes only to files,
# so it never holds the channel open. view_made waits for it; install_manifest takes it.
start_view() {
  if command -v gzip > /dev/null 2>&1; then
    (manifest_view "$1" | gzip -c > "$1.view.gz") < /dev/null 2> /dev/null &
  else
    manifest_view "$1" > "$1.view" < /dev/null 2> /dev/null &
  fi
  viewjob=$!
}

# view_made: wait for start_view's job; fails when it did.
view_made() {
  wait "$viewjob"
}

# install_manifest FILE DIGEST STEM [move]: FILE, its digest and its view (made by start_view and
# view_made) as STEM.m2, STEM.digest and STEM.view.gz (STEM.view where there is no gzip), written
# under temporary names and renamed, so a reader finds all of them or none of the new ones. With
# `move`, FILE and its view are moved rather than copied (their last use).
install_manifest() {
  if [ "${4:-}" = move ]; then im_take='mv'; else im_take='cp'; fi
  if [ -f "$1.view.gz" ]; then
    $im_take "$1.view.gz" "$3.view.gz.tmp" && mv "$3.view.gz.tmp" "$3.view.gz" &&
      guarded_rm "${3#"$D"/}.view" || return 1
  else
    $im_take "$1.view" "$3.view.tmp" && mv "$3.view.tmp" "$3.view" || return 1
  fi
  $im_take "$1" "$3.m2.tmp" && mv "$3.m2.tmp" "$3.m2" &&
    printf '%s\n' "$2" > "$3.digest.tmp" && mv "$3.digest.tmp" "$3.digest"
}
