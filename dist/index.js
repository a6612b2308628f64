import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ var __webpack_modules__ = ({

/***/ 2613:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("assert");

/***/ }),

/***/ 181:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("buffer");

/***/ }),

/***/ 5317:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("child_process");

/***/ }),

/***/ 6982:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("crypto");

/***/ }),

/***/ 2250:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("dns");

/***/ }),

/***/ 4434:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("events");

/***/ }),

/***/ 9896:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("fs");

/***/ }),

/***/ 8611:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("http");

/***/ }),

/***/ 5692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("https");

/***/ }),

/***/ 9278:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("net");

/***/ }),

/***/ 4589:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:assert");

/***/ }),

/***/ 6698:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:async_hooks");

/***/ }),

/***/ 4573:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:buffer");

/***/ }),

/***/ 7540:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:console");

/***/ }),

/***/ 7598:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");

/***/ }),

/***/ 3053:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:diagnostics_channel");

/***/ }),

/***/ 610:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:dns");

/***/ }),

/***/ 8474:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:events");

/***/ }),

/***/ 3024:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");

/***/ }),

/***/ 7067:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http");

/***/ }),

/***/ 2467:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http2");

/***/ }),

/***/ 7030:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");

/***/ }),

/***/ 8161:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");

/***/ }),

/***/ 6760:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");

/***/ }),

/***/ 643:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:perf_hooks");

/***/ }),

/***/ 1792:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:querystring");

/***/ }),

/***/ 7075:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");

/***/ }),

/***/ 1692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:tls");

/***/ }),

/***/ 3136:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:url");

/***/ }),

/***/ 7975:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");

/***/ }),

/***/ 3429:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util/types");

/***/ }),

/***/ 8877:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:v8");

/***/ }),

/***/ 5919:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:worker_threads");

/***/ }),

/***/ 8522:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:zlib");

/***/ }),

/***/ 857:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("os");

/***/ }),

/***/ 6928:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("path");

/***/ }),

/***/ 2203:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("stream");

/***/ }),

/***/ 3193:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("string_decoder");

/***/ }),

/***/ 3557:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("timers");

/***/ }),

/***/ 4756:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tls");

/***/ }),

/***/ 9023:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util");

/***/ }),

/***/ 3106:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("zlib");

/***/ }),

/***/ 6506:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   $9: () => (/* binding */ CommandTimeoutError),
/* harmony export */   EC: () => (/* binding */ ExecRefusedError),
/* harmony export */   FL: () => (/* binding */ SwitchRefusedError),
/* harmony export */   Gz: () => (/* binding */ VerifyError),
/* harmony export */   Qr: () => (/* binding */ DeployRefusedError),
/* harmony export */   Rc: () => (/* binding */ ConnectionError),
/* harmony export */   Rk: () => (/* binding */ LockHeldError),
/* harmony export */   Sy: () => (/* binding */ ServerDataError),
/* harmony export */   at: () => (/* binding */ RemoteCommandError),
/* harmony export */   bD: () => (/* binding */ messageOf),
/* harmony export */   dz: () => (/* binding */ InputError),
/* harmony export */   hy: () => (/* binding */ ScriptUnreadError),
/* harmony export */   oM: () => (/* binding */ AbortedError),
/* harmony export */   oZ: () => (/* binding */ HostKeyError)
/* harmony export */ });
/**
 * Typed errors. The class decides how an error is reported: an InputError is one line that
 * names the input, a RemoteCommandError carries the exit code and the tail of stderr, and so
 * on. Nothing is decided by matching message text.
 */
/** A workflow input is missing or malformed. Raised before anything touches a server. */
class InputError extends Error {
    input;
    name = 'InputError';
    constructor(input, message) {
        super(message);
        this.input = input;
    }
}
/** The TCP or SSH connection failed, was refused, or was lost. */
class ConnectionError extends Error {
    name = 'ConnectionError';
    /** The connection's first script had gone with the authentication request, and may have run. */
    scriptMayHaveRun;
}
/**
 * The server refused to run a command (the exec request itself was refused): the account may be
 * SFTP-only.
 */
class ExecRefusedError extends ConnectionError {
    name = 'ExecRefusedError';
}
/** The server's host key does not match `known-hosts` / `host-fingerprint`. */
class HostKeyError extends Error {
    name = 'HostKeyError';
}
/** Another deploy holds `.atomic-deploy/lock`. */
class LockHeldError extends Error {
    name = 'LockHeldError';
}
/** A command on the server exited non-zero. */
class RemoteCommandError extends Error {
    exitCode;
    stderr;
    name = 'RemoteCommandError';
    constructor(message, exitCode, stderr) {
        super(message);
        this.exitCode = exitCode;
        this.stderr = stderr;
    }
}
/** The server refused the deploy for a reason the user must fix (foreign path, conflict...). */
class DeployRefusedError extends Error {
    name = 'DeployRefusedError';
}
/** The release on the server does not match the manifest. */
class VerifyError extends Error {
    paths;
    name = 'VerifyError';
    constructor(message, paths) {
        super(message);
        this.paths = paths;
    }
}
/** The server answered that the switch could not be made: `current` is known to be unchanged. */
class SwitchRefusedError extends Error {
    name = 'SwitchRefusedError';
}
/**
 * A script sent gzipped could not be read by the server (it has no gzip): nothing of it ran,
 * and it goes again as it is. Raised only for a script with stdin, which the caller must send
 * afresh; the connection sends scripts as they are from then on.
 */
class ScriptUnreadError extends Error {
    name = 'ScriptUnreadError';
}
/**
 * Something read back from a server (a record in .atomic-deploy/, `current`, a listing) failed
 * validation. The server is untrusted input: the value is never used, and the message names the
 * file and the fix.
 */
class ServerDataError extends Error {
    name = 'ServerDataError';
}
/** The server did not answer within command-timeout (no progress either way). */
class CommandTimeoutError extends Error {
    name = 'CommandTimeoutError';
}
/** The run was cancelled (SIGINT/SIGTERM). */
class AbortedError extends Error {
    name = 'AbortedError';
}
/** The error's message, whatever was thrown. */
function messageOf(error) {
    if (error instanceof Error)
        return error.message;
    return String(error);
}


/***/ }),

/***/ 5885:
/***/ ((__unused_webpack___webpack_module__, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(6760);
/* harmony import */ var node_url__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(3136);
/**
 * ssh2's Poly1305 module is Emscripten output that reads `__dirname` at load time (it only uses
 * it to locate files, and its WebAssembly is inlined). An ES module has no `__dirname`, so the
 * bundle would throw before doing anything. Defining it globally, before ssh2 loads, is enough.
 */


const scope = globalThis;
scope.__filename ??= (0,node_url__WEBPACK_IMPORTED_MODULE_1__.fileURLToPath)(import.meta.url);
scope.__dirname ??= (0,node_path__WEBPACK_IMPORTED_MODULE_0__.dirname)(scope.__filename);


/***/ }),

/***/ 3605:
/***/ ((__webpack_module__, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(__webpack_module__, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
/* harmony import */ var _esm_shims_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(5885);
/* harmony import */ var _ssh_early_connect_js__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(1160);
/** The entry point of both steps: the main step deploys, the post step cleans up after a cancel. */


// The servers' TCP connections start before the rest of the action loads (80 to 200 ms of a
// runner's CPU), and one turn of the event loop sends what can go at once (early-connect.ts).
// The rest is a chunk of its own (dist/<n>.index.js, loaded by this import): Node compiles a
// module's whole text before running any of it, so with the rest inside this file the
// connections would wait for 2.7 MB to be compiled (about 100 ms), not for 40 kB.
if ((0,_ssh_early_connect_js__WEBPACK_IMPORTED_MODULE_1__/* .openEarlyConnections */ .x2)() > 0)
    await new Promise(resolve => setImmediate(resolve));
try {
    await Promise.all(/* import() */[__nccwpck_require__.e(39), __nccwpck_require__.e(95)]).then(__nccwpck_require__.bind(__nccwpck_require__, 3095));
}
catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND')
        throw error;
    failWithoutChunks(error);
}
/**
 * A copy of dist/index.js alone (vendored into a repository, say) cannot load the rest of the
 * action. The step fails with an annotation that says what to keep, not with Node's stack trace.
 * Written by hand: @actions/core is in the chunks that did not load. The message is escaped as
 * the toolkit escapes a command's data (`%`, CR and LF).
 */
function failWithoutChunks(error) {
    const missing = /Cannot find (?:module|package) '([^']+)'/.exec(error.message)?.[1];
    const message = `atomic-deploy cannot start: ${missing ?? 'a file of its dist/ directory'} is missing. dist/index.js loads the rest of the action from the files beside it (dist/<n>.index.js): keep the whole dist/ directory of the release with the action, as 'uses: <owner>/atomic-deploy@<version>' does.`;
    const data = message.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
    process.stdout.write(`::error::${data}\n`);
    process.exitCode = 1;
}

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 7336:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   G0: () => (/* binding */ Inputs),
/* harmony export */   dT: () => (/* binding */ DEFAULT_MAX_PARALLEL),
/* harmony export */   tY: () => (/* binding */ Outputs)
/* harmony export */ });
/** Input names, exactly as in action.yml. Code never spells an input name twice. */
const Inputs = {
    Servers: 'servers',
    Username: 'username',
    Port: 'port',
    PrivateKey: 'private-key',
    Passphrase: 'passphrase',
    Password: 'password',
    KnownHosts: 'known-hosts',
    HostFingerprint: 'host-fingerprint',
    InsecureIgnoreHostKey: 'insecure-ignore-host-key',
    JumpHost: 'jump-host',
    JumpPrivateKey: 'jump-private-key',
    JumpPassphrase: 'jump-passphrase',
    JumpPassword: 'jump-password',
    Path: 'path',
    Source: 'source',
    Exclude: 'exclude',
    ReleaseId: 'release-id',
    KeepReleases: 'keep-releases',
    BeforeSwitch: 'before-switch',
    AfterSwitch: 'after-switch',
    AfterRollback: 'after-rollback',
    Mode: 'mode',
    RollbackTo: 'rollback-to',
    DryRun: 'dry-run',
    Reuse: 'reuse',
    CopyMethod: 'copy-method',
    Compression: 'compression',
    Transfer: 'transfer',
    Shell: 'shell',
    Verify: 'verify',
    SharedPaths: 'shared-paths',
    SharedConflict: 'shared-conflict',
    RollbackOnFailure: 'rollback-on-failure',
    HealthCheckUrl: 'health-check-url',
    HealthCheckTimeout: 'health-check-timeout',
    HealthCheckExpect: 'health-check-expect',
    OnDrift: 'on-drift',
    Strategy: 'strategy',
    MaxParallel: 'max-parallel',
    ConnectTimeout: 'connect-timeout',
    CommandTimeout: 'command-timeout'
};
const Outputs = {
    ReleaseId: 'release-id',
    ReleasePath: 'release-path',
    PreviousReleaseId: 'previous-release-id',
    FilesUploaded: 'files-uploaded',
    FilesDeleted: 'files-deleted',
    BytesUploaded: 'bytes-uploaded',
    RolledBack: 'rolled-back',
    Servers: 'servers'
};
/** The `max-parallel` input's default. */
const DEFAULT_MAX_PARALLEL = 3;


/***/ }),

/***/ 1160:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   ZG: () => (/* binding */ takeEarlyConnection),
/* harmony export */   e3: () => (/* binding */ CLIENT_SOFTWARE),
/* harmony export */   x2: () => (/* binding */ openEarlyConnections)
/* harmony export */ });
/* unused harmony export dropEarlyConnections */
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(7030);
/* harmony import */ var _settings_js__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(7336);
/* harmony import */ var _servers_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(4604);
/**
 * TCP connections to the servers, opened while the rest of the action is still loading.
 *
 * Loading the bundle (the SSH library, GitHub's toolkit and its HTTP client) takes 80 to 200 ms
 * of a runner's CPU before the first input is read. The first steps of an SSH connection do not
 * need any of it: the TCP handshake (a round trip), the server starting its session process
 * (sshd forks and re-executes itself for every connection) and the exchange of identification
 * strings, after which the server sends its key exchange offer (RFC 4253, section 4.2: either
 * side sends its identification string as soon as the connection is up). This module is the
 * entry point's first import: it reads the `servers` input, connects to the servers the connect
 * phase starts with, and sends the client's identification string. When ssh2 takes a socket
 * over (takeEarlyConnection), the server's identification and key exchange offer are waiting
 * in it, and the key exchange goes out at once.
 *
 * Nothing else is sent before the inputs are checked: no key, no user name, nothing that writes
 * on a server. Only the first step that would be taken anyway happens sooner. It is skipped
 * where it could not be used as it is (the post step, a jump host, inputs it cannot read), and
 * it never decides anything: a connection that failed, closed, or waited too long is dropped,
 * and the connect phase opens its own, which reports any failure as usual.
 */



/**
 * The identification string's software version, given to ssh2 (its `ident` option) and sent by
 * this module: the two must be the same bytes, because both sides put the identification
 * strings into the key exchange's hash.
 */
const CLIENT_SOFTWARE = 'ssh2js1.17.0';
const IDENT_LINE = Buffer.from(`SSH-2.0-${CLIENT_SOFTWARE}\r\n`, 'latin1');
/**
 * How long an early connection stays usable. sshd gives an unauthenticated connection
 * LoginGraceTime (120 s by default; some servers set 20 or 30): one older than this is not
 * handed over, so a server that closes it cannot fail a deploy that would have connected anew.
 */
const USABLE_MS = 5000;
/**
 * Most bytes kept from a server before ssh2 takes its socket: an identification string and a
 * key exchange offer are about 1.2 kB (a server may send lines before its identification, up to
 * ssh2's own limit on them).
 */
const MAX_RECEIVED = 64 * 1024;
/** The early connections not taken yet, by host and port, in the order they were opened. */
const early = new Map();
const key = (host, port) => `${host.toLowerCase()} ${port}`;
/**
 * An input as the toolkit's getInput reads it (`INPUT_` and the name upper-cased, spaces as
 * underscores), trimmed. @actions/core itself is what this module runs ahead of.
 */
function input(name) {
    return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}
/**
 * Open the early connections the inputs allow. Returns how many were opened; none when this is
 * the post step (the state the main step saved), a jump host carries the connections, or the
 * inputs do not parse (the input check reports them).
 */
function openEarlyConnections(usableMs = USABLE_MS) {
    // The post step: @actions/core's getState reads the state the main step saved from here.
    if (process.env.STATE_isPost === 'true' || input('jump-host') !== '')
        return 0;
    let servers;
    try {
        const portText = input('port');
        const port = portText === '' ? 22 : (0,_servers_js__WEBPACK_IMPORTED_MODULE_2__/* .parsePort */ .pz)(portText);
        if (port === undefined)
            return 0;
        servers = (0,_servers_js__WEBPACK_IMPORTED_MODULE_2__/* .parseServers */ ._K)(input('servers'), input('username') || undefined, port);
    }
    catch {
        return 0;
    }
    // The connect phase opens max-parallel connections at once, in the order given; a rolling
    // deploy connects to the first server first.
    const parallel = input('strategy') === 'sequential'
        ? 1
        : /^[0-9]{1,3}$/.test(input('max-parallel'))
            ? Math.min(Math.max(Number(input('max-parallel')), 1), 100)
            : _settings_js__WEBPACK_IMPORTED_MODULE_1__/* .DEFAULT_MAX_PARALLEL */ .dT;
    for (const server of servers.slice(0, parallel)) {
        const socket = (0,node_net__WEBPACK_IMPORTED_MODULE_0__.connect)({ host: server.host, port: server.port, noDelay: true });
        const entry = {
            socket,
            opened: Date.now(),
            usableMs,
            received: [],
            bytes: 0
        };
        // Two accounts on one server are two connections to one host and port.
        const k = key(server.host, server.port);
        early.set(k, [...(early.get(k) ?? []), entry]);
        // Until ssh2 takes it, the socket does not keep the process alive. What the server sends
        // (its identification string and key exchange offer) is kept, bounded, to be put back in
        // front of the socket's data for ssh2; reading it is also how a close is seen.
        socket.unref();
        // A host name of several addresses is tried one address after another, each on a new
        // handle (Node's autoSelectFamily), which would keep the process alive again.
        socket.on('connectionAttempt', () => {
            if (!entry.taken)
                socket.unref();
        });
        socket.on('data', (chunk) => {
            entry.received.push(chunk);
            entry.bytes += chunk.length;
            if (entry.bytes > MAX_RECEIVED)
                socket.destroy();
        });
        // Written past the check takeEarlyConnection puts on the socket's write, which may be in
        // place by the time a slow connection is up.
        socket.once('connect', () => node_net__WEBPACK_IMPORTED_MODULE_0__.Socket.prototype.write.call(socket, IDENT_LINE));
        // A failed connection is destroyed, which takeEarlyConnection sees; the error itself is
        // for the connect phase's own connection to report.
        socket.on('error', () => undefined);
        // Not taken in time: dropped (the connect phase opens its own).
        const timer = setTimeout(() => {
            const left = (early.get(k) ?? []).filter(e => e !== entry);
            if (left.length > 0)
                early.set(k, left);
            else
                early.delete(k);
            if (!entry.taken)
                socket.destroy();
        }, usableMs);
        timer.unref();
    }
    return Math.min(servers.length, parallel);
}
/**
 * An early connection to host:port (the next one opened, once), if it is still being made, or is
 * up with the identification string sent and the server's side open; and is younger than USABLE_MS (or what openEarlyConnections was given);
 * otherwise undefined, and that connection is dropped. What the server sent is put back in front
 * of the socket's data, for ssh2 to read first.
 *
 * The socket's first write is ssh2's identification string, already sent: it is checked to be
 * the same bytes and not sent again. Any other first write destroys the socket, and the
 * connection fails as one that was lost.
 */
function takeEarlyConnection(host, port) {
    const k = key(host, port);
    const entries = early.get(k);
    const entry = entries?.shift();
    if (!entry)
        return undefined;
    if (entries?.length === 0)
        early.delete(k);
    entry.taken = true;
    const { socket } = entry;
    const age = Date.now() - entry.opened;
    const greeted = socket.readyState === 'open' && socket.bytesWritten >= IDENT_LINE.length;
    // Still connecting is fine: this module's 'connect' listener, registered first, sends the
    // identification string before ssh2's runs.
    if (socket.destroyed || age > entry.usableMs || !(socket.connecting || greeted)) {
        socket.destroy();
        return undefined;
    }
    socket.ref();
    // The socket is this module's own: the only 'data' listener is the one above.
    socket.removeAllListeners('data');
    socket.pause();
    if (entry.bytes > 0)
        socket.unshift(Buffer.concat(entry.received));
    // A wrapper of its own, in place for the socket's life (not put back after the first write):
    // another one installed over it (gatherWrites, in ssh-connect.ts) must stay in place.
    const write = socket.write;
    let first = true;
    socket.write = function (chunk, ...rest) {
        if (!first)
            return write.apply(this, [chunk, ...rest]);
        first = false;
        if (Buffer.isBuffer(chunk) && chunk.equals(IDENT_LINE)) {
            const callback = rest.find(r => typeof r === 'function');
            if (callback)
                process.nextTick(callback);
            return true;
        }
        socket.destroy(new Error('the SSH identification string sent early is not the one the client sends'));
        return false;
    };
    return socket;
}
/** Drop every early connection not taken (tests; the process drops them at exit anyway). */
function dropEarlyConnections() {
    for (const entries of early.values())
        for (const entry of entries)
            entry.socket.destroy();
    early.clear();
}


/***/ }),

/***/ 4604:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   _K: () => (/* binding */ parseServers),
/* harmony export */   g$: () => (/* binding */ printable),
/* harmony export */   pz: () => (/* binding */ parsePort)
/* harmony export */ });
/* unused harmony export serverLabel */
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(7030);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(6506);


// A POSIX portable user name, as useradd accepts it; '-' cannot lead because ssh would parse it
// as an option if anybody ever passed it on to a command line.
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
// RFC 1123 host names: labels of letters, digits and hyphens, dot-separated.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const FORM = 'Expected [user@]host[:port], IPv6 as [2001:db8::1]:22, separated by commas or newlines';
/** Parse a port number input or field; undefined when the text is not a port. */
function parsePort(text) {
    if (!/^[0-9]{1,5}$/.test(text))
        return undefined;
    const port = Number(text);
    return port >= 1 && port <= 65535 ? port : undefined;
}
function serverLabel(user, host, port) {
    const shown = host.includes(':') ? `[${host}]` : host;
    return `${user}@${shown}:${port}`;
}
/**
 * Parse the `servers` input (or another list of the same form, such as `jump-host`, named by
 * `input`). Every entry gets a user and a port, falling back to the defaults.
 */
function parseServers(text, defaultUser, defaultPort, input = 'servers') {
    const entries = text
        .split(/[,\r\n]+/)
        .map(s => s.trim())
        .filter(s => s !== '');
    if (entries.length === 0)
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .dz(input, `Input '${input}' is required. ${FORM}.`);
    const servers = entries.map(entry => parseOne(entry, defaultUser, defaultPort, input));
    // Host names are case-insensitive (and may end in the root's dot), and one IPv6 address has
    // many spellings: two spellings of one server would run two deploys against one lock.
    const seen = new Set();
    for (const server of servers) {
        const key = serverLabel(server.user, sameHost(server.host), server.port);
        if (seen.has(key)) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .dz(input, `Invalid ${input}: '${server.label}' is listed twice.`);
        }
        seen.add(key);
    }
    return servers;
}
/**
 * One spelling of a host, for telling duplicates apart: a name in lower case without its final
 * dot, an IPv6 address in its canonical form (RFC 5952, as the URL parser writes it), its zone
 * kept as written.
 */
function sameHost(host) {
    if (!host.includes(':'))
        return host.toLowerCase().replace(/\.$/, '');
    const zone = host.indexOf('%');
    const address = zone < 0 ? host : host.slice(0, zone);
    const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
    return zone < 0 ? canonical : `${canonical}${host.slice(zone)}`;
}
function parseOne(entry, defaultUser, defaultPort, input) {
    const bad = (why) => new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .dz(input, `Invalid ${input} entry '${printable(entry)}': ${why}. ${FORM}.`);
    if (/\s/.test(entry))
        throw bad('it contains white space');
    let rest = entry;
    let user = defaultUser;
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
        user = rest.slice(0, at);
        rest = rest.slice(at + 1);
    }
    if (user === undefined || user === '') {
        throw bad("no user: write user@host, or set the 'username' input");
    }
    if (!USER.test(user))
        throw bad(`'${printable(user)}' is not a valid user name`);
    let host;
    let portText;
    if (rest.startsWith('[')) {
        const close = rest.indexOf(']');
        if (close < 0)
            throw bad('an opening [ has no closing ]');
        host = rest.slice(1, close);
        const after = rest.slice(close + 1);
        if (after !== '') {
            if (!after.startsWith(':'))
                throw bad(`unexpected '${printable(after)}' after ]`);
            portText = after.slice(1);
        }
        if (!(0,node_net__WEBPACK_IMPORTED_MODULE_0__.isIPv6)(host.replace(/%[A-Za-z0-9._-]+$/, ''))) {
            throw bad(`'${printable(host)}' is not an IPv6 address`);
        }
    }
    else {
        const colons = rest.split(':').length - 1;
        if (colons > 1)
            throw bad('an IPv6 address must be written in brackets');
        if (colons === 1) {
            host = rest.slice(0, rest.indexOf(':'));
            portText = rest.slice(rest.indexOf(':') + 1);
        }
        else {
            host = rest;
        }
        if (!HOSTNAME.test(host))
            throw bad(`'${printable(host)}' is not a valid host name`);
    }
    let port = defaultPort;
    if (portText !== undefined) {
        const parsed = parsePort(portText);
        if (parsed === undefined)
            throw bad(`'${printable(portText)}' is not a port (1-65535)`);
        port = parsed;
    }
    return { user, host, port, label: serverLabel(user, host, port) };
}
/** Make control characters visible in an error message. */
function printable(text) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\u0000-\u001f\u007f]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}


/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/******/ // expose the modules object (__webpack_modules__)
/******/ __nccwpck_require__.m = __webpack_modules__;
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/async module */
/******/ (() => {
/******/ 	var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 	var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 	var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 	var resolveQueue = (queue) => {
/******/ 		if(queue && queue.d < 1) {
/******/ 			queue.d = 1;
/******/ 			queue.forEach((fn) => (fn.r--));
/******/ 			queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 		}
/******/ 	}
/******/ 	var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 		if(dep !== null && typeof dep === "object") {
/******/ 			if(dep[webpackQueues]) return dep;
/******/ 			if(dep.then) {
/******/ 				var queue = [];
/******/ 				queue.d = 0;
/******/ 				dep.then((r) => {
/******/ 					obj[webpackExports] = r;
/******/ 					resolveQueue(queue);
/******/ 				}, (e) => {
/******/ 					obj[webpackError] = e;
/******/ 					resolveQueue(queue);
/******/ 				});
/******/ 				var obj = {};
/******/ 				obj[webpackQueues] = (fn) => (fn(queue));
/******/ 				return obj;
/******/ 			}
/******/ 		}
/******/ 		var ret = {};
/******/ 		ret[webpackQueues] = x => {};
/******/ 		ret[webpackExports] = dep;
/******/ 		return ret;
/******/ 	}));
/******/ 	__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 		var queue;
/******/ 		hasAwait && ((queue = []).d = -1);
/******/ 		var depQueues = new Set();
/******/ 		var exports = module.exports;
/******/ 		var currentDeps;
/******/ 		var outerResolve;
/******/ 		var reject;
/******/ 		var promise = new Promise((resolve, rej) => {
/******/ 			reject = rej;
/******/ 			outerResolve = resolve;
/******/ 		});
/******/ 		promise[webpackExports] = exports;
/******/ 		promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 		module.exports = promise;
/******/ 		body((deps) => {
/******/ 			currentDeps = wrapDeps(deps);
/******/ 			var fn;
/******/ 			var getResult = () => (currentDeps.map((d) => {
/******/ 				if(d[webpackError]) throw d[webpackError];
/******/ 				return d[webpackExports];
/******/ 			}))
/******/ 			var promise = new Promise((resolve) => {
/******/ 				fn = () => (resolve(getResult));
/******/ 				fn.r = 0;
/******/ 				var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 				currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 			});
/******/ 			return fn.r ? promise : getResult();
/******/ 		}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 		queue && queue.d < 0 && (queue.d = 0);
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/ensure chunk */
/******/ (() => {
/******/ 	__nccwpck_require__.f = {};
/******/ 	// This file contains only the entry chunk.
/******/ 	// The chunk loading function for additional chunks
/******/ 	__nccwpck_require__.e = (chunkId) => {
/******/ 		return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 			__nccwpck_require__.f[key](chunkId, promises);
/******/ 			return promises;
/******/ 		}, []));
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/get javascript chunk filename */
/******/ (() => {
/******/ 	// This function allow to reference async chunks
/******/ 	__nccwpck_require__.u = (chunkId) => {
/******/ 		// return url for filenames based on template
/******/ 		return "" + chunkId + ".index.js";
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/******/ /* webpack/runtime/make namespace object */
/******/ (() => {
/******/ 	// define __esModule on exports
/******/ 	__nccwpck_require__.r = (exports) => {
/******/ 		if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 			Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 		}
/******/ 		Object.defineProperty(exports, '__esModule', { value: true });
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/import chunk loading */
/******/ (() => {
/******/ 	// no baseURI
/******/ 	
/******/ 	// object to store loaded and loading chunks
/******/ 	// undefined = chunk not loaded, null = chunk preloaded/prefetched
/******/ 	// [resolve, Promise] = chunk loading, 0 = chunk loaded
/******/ 	var installedChunks = {
/******/ 		792: 0
/******/ 	};
/******/ 	
/******/ 	var installChunk = (data) => {
/******/ 		var {ids, modules, runtime} = data;
/******/ 		// add "modules" to the modules object,
/******/ 		// then flag all "ids" as loaded and fire callback
/******/ 		var moduleId, chunkId, i = 0;
/******/ 		for(moduleId in modules) {
/******/ 			if(__nccwpck_require__.o(modules, moduleId)) {
/******/ 				__nccwpck_require__.m[moduleId] = modules[moduleId];
/******/ 			}
/******/ 		}
/******/ 		if(runtime) runtime(__nccwpck_require__);
/******/ 		for(;i < ids.length; i++) {
/******/ 			chunkId = ids[i];
/******/ 			if(__nccwpck_require__.o(installedChunks, chunkId) && installedChunks[chunkId]) {
/******/ 				installedChunks[chunkId][0]();
/******/ 			}
/******/ 			installedChunks[ids[i]] = 0;
/******/ 		}
/******/ 	
/******/ 	}
/******/ 	
/******/ 	__nccwpck_require__.f.j = (chunkId, promises) => {
/******/ 			// import() chunk loading for javascript
/******/ 			var installedChunkData = __nccwpck_require__.o(installedChunks, chunkId) ? installedChunks[chunkId] : undefined;
/******/ 			if(installedChunkData !== 0) { // 0 means "already installed".
/******/ 	
/******/ 				// a Promise means "currently loading".
/******/ 				if(installedChunkData) {
/******/ 					promises.push(installedChunkData[1]);
/******/ 				} else {
/******/ 					if(true) { // all chunks have JS
/******/ 						// setup Promise in chunk cache
/******/ 						var promise = import("./" + __nccwpck_require__.u(chunkId)).then(installChunk, (e) => {
/******/ 							if(installedChunks[chunkId] !== 0) installedChunks[chunkId] = undefined;
/******/ 							throw e;
/******/ 						});
/******/ 						var promise = Promise.race([promise, new Promise((resolve) => (installedChunkData = installedChunks[chunkId] = [resolve]))])
/******/ 						promises.push(installedChunkData[1] = promise);
/******/ 					}
/******/ 				}
/******/ 			}
/******/ 	};
/******/ 	
/******/ 	// no prefetching
/******/ 	
/******/ 	// no preloaded
/******/ 	
/******/ 	// no external install chunk
/******/ 	
/******/ 	// no on chunks loaded
/******/ })();
/******/ 
/************************************************************************/
/******/ 
/******/ // startup
/******/ // Load entry module and return exports
/******/ // This entry module used 'module' so it can't be inlined
/******/ var __webpack_exports__ = __nccwpck_require__(3605);
/******/ __webpack_exports__ = await __webpack_exports__;
/******/ 
