/**
 * The command every channel runs. The real script follows on stdin as `<length>\n<script>`, or
 * gzipped as `z<length>\n<gzip data>` (scripts are a few kB of text each, a third of that
 * gzipped: what a deploy with nothing to send, or a rollback, mostly sends; gzip -dc decompresses
 * it, and where it cannot, exit status 96 says so before anything ran), so
 * no script (and no value inside one) ever appears on a command line or in `ps` on the server,
 * and a channel can be opened before its script is known: the open and the exec request then
 * cost nothing when the script is ready. `read` takes one line byte by byte, and dd takes
 * exactly the script's bytes, so whatever follows on stdin (a tar stream) is left for the
 * script. dd reads them as one block where it can gather a full block from a pipe
 * (`iflag=fullblock`, which GNU coreutils and BusyBox have), and one byte per read elsewhere,
 * which costs about 25 ms more for a 10 kB script (measured). POSIX sh, dash and BusyBox ash
 * all behave this way.
 */
export const BOOTSTRAP = `sh -c 'IFS= read -r n || exit 0; z=\${n%%[0-9]*}; n=\${n#z}; if dd bs=1 count=0 iflag=fullblock </dev/null 2>/dev/null; then b=$n c=1 f=iflag=fullblock; else b=1 c=$n f=; fi; if [ -n "$z" ]; then s=$(dd bs="$b" count="$c" $f 2>/dev/null | gzip -dc 2>/dev/null) || exit 96; else s=$(dd bs="$b" count="$c" $f 2>/dev/null) || exit 97; fi; eval "$s"'`

/** The exit status of the bootstrap when it could not read a gzipped script: nothing ran. */
export const UNREADABLE_SCRIPT = 96
