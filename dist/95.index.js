export const id = 95;
export const ids = [95];
export const modules = {

/***/ 3501:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   m: () => (/* binding */ getSettings)
/* harmony export */ });
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7264);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3024);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6760);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(6506);
/* harmony import */ var _ssh_known_hosts_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(977);
/* harmony import */ var _release_release_id_js__WEBPACK_IMPORTED_MODULE_9__ = __webpack_require__(2734);
/* harmony import */ var _ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(4604);
/* harmony import */ var _settings_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(7336);
/* harmony import */ var _server_system_directories_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(8094);
/* harmony import */ var _ssh_ssh_remote_host_js__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(1714);










const readFromEnvironment = name => _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .getInput */ .V4(name);
/**
 * Read and validate every input into one Settings object. Secrets are masked before anything
 * else happens to them. Any problem throws an InputError that names the input and the form
 * expected; nothing has been written on a server at this point (at most, a connection opened
 * while the action loaded has sent SSH's identification string: see src/ssh/early-connect.ts).
 */
function getSettings(read = readFromEnvironment, workspace = defaultWorkspace()) {
    const input = (name) => read(name).trim();
    const raw = (name) => read(name);
    const privateKey = secret(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.PrivateKey));
    const passphrase = secret(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Passphrase));
    const password = secret(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Password));
    if (privateKey !== undefined)
        checkPrivateKey(privateKey, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.PrivateKey);
    const mode = oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Mode, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Mode) || 'deploy', [
        'deploy',
        'rollback',
        'unlock'
    ]);
    const defaultUser = input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Username) || undefined;
    const port = input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Port) === '' ? 22 : (0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .parsePort */ .pz)(input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Port));
    if (port === undefined) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Port, `Invalid port '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Port))}'. Expected a number from 1 to 65535.`);
    }
    if (defaultUser !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(defaultUser)) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Username, `Invalid username '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(defaultUser)}'. Expected a login name of letters, digits, '.', '_' and '-'.`);
    }
    const servers = (0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .parseServers */ ._K)(read(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Servers), defaultUser, port);
    if (privateKey === undefined && password === undefined) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.PrivateKey, `No credentials: set 'private-key' (recommended, from a secret) or 'password'.`);
    }
    if (passphrase !== undefined && privateKey === undefined) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Passphrase, `'passphrase' is set but 'private-key' is empty.`);
    }
    const jumpHosts = jumpChain(read, defaultUser, { privateKey, passphrase, password });
    const hostKeys = hostKeyPolicy(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.KnownHosts), raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HostFingerprint), bool(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.InsecureIgnoreHostKey, false));
    if (hostKeys.kind === 'fingerprint')
        checkFingerprintsCover(hostKeys.fingerprints, servers);
    const deployPath = remotePath(input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Path));
    const source = sourceDirectory(input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Source) || '.', workspace, mode === 'deploy');
    const exclude = lines(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Exclude), _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Exclude, 'glob patterns, one per line').filter(l => !l.startsWith('#'));
    const releaseIdText = input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.ReleaseId);
    if (releaseIdText !== '') {
        const problem = (0,_release_release_id_js__WEBPACK_IMPORTED_MODULE_9__/* .releaseIdProblem */ .co)(releaseIdText);
        if (problem)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.ReleaseId, `Invalid release-id '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(releaseIdText)}': ${problem}.`);
    }
    const rollbackToText = input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.RollbackTo);
    if (rollbackToText !== '') {
        const problem = (0,_release_release_id_js__WEBPACK_IMPORTED_MODULE_9__/* .releaseIdProblem */ .co)(rollbackToText);
        if (problem)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.RollbackTo, `Invalid rollback-to '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(rollbackToText)}': ${problem}.`);
        if (mode !== 'rollback') {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.RollbackTo, `'rollback-to' only applies with 'mode: rollback' (mode is '${mode}').`);
        }
    }
    const healthCheckUrl = input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HealthCheckUrl) || undefined;
    if (healthCheckUrl !== undefined)
        checkUrl(healthCheckUrl);
    const healthCheckExpect = expectedText(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HealthCheckExpect));
    if (healthCheckExpect !== undefined && healthCheckUrl === undefined) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HealthCheckExpect, `'health-check-expect' is set but 'health-check-url' is empty. Set the URL whose answer must contain the text.`);
    }
    const beforeSwitch = script(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.BeforeSwitch), _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.BeforeSwitch);
    const afterSwitch = script(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.AfterSwitch), _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.AfterSwitch);
    const afterRollback = script(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.AfterRollback), _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.AfterRollback);
    const transfer = oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Transfer, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Transfer) || 'auto', [
        'auto',
        'tar',
        'sftp'
    ]);
    const shell = oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Shell, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Shell) || 'auto', ['auto', 'none']);
    if (shell === 'none') {
        // Refused before anything connects: these need commands on the server.
        const needs = [
            [_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.BeforeSwitch, beforeSwitch !== undefined],
            [_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.AfterSwitch, afterSwitch !== undefined],
            [_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.AfterRollback, afterRollback !== undefined],
            [_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Transfer, transfer === 'tar']
        ];
        for (const [name, set] of needs) {
            if (set)
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `'${name}' needs a shell on the server, and 'shell' is none. Remove '${name}'${name === _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Transfer ? ' (or set it to auto or sftp)' : ''}, or set 'shell: auto' for servers that run commands.`);
        }
    }
    return {
        servers,
        privateKey,
        passphrase,
        password,
        hostKeys,
        jumpHosts,
        path: deployPath,
        source,
        exclude,
        releaseId: releaseIdText || undefined,
        keepReleases: integer(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.KeepReleases, 3, 1, 100),
        beforeSwitch,
        afterSwitch,
        afterRollback,
        mode,
        rollbackTo: rollbackToText || undefined,
        dryRun: bool(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.DryRun, false),
        reuse: oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Reuse, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Reuse) || 'previous', [
            'previous',
            'cache',
            'none'
        ]),
        copyMethod: oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.CopyMethod, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.CopyMethod) || 'copy', [
            'copy',
            'hardlink'
        ]),
        compression: oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Compression, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Compression) || 'auto', [
            'auto',
            'gzip',
            'none'
        ]),
        transfer,
        shell,
        verify: oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Verify, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Verify) || 'standard', ['standard', 'full']),
        sharedPaths: sharedPaths(raw(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.SharedPaths)),
        sharedConflict: oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.SharedConflict, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.SharedConflict) || 'fail', [
            'fail',
            'replace'
        ]),
        rollbackOnFailure: bool(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.RollbackOnFailure, true),
        healthCheckUrl,
        healthCheckTimeout: integer(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HealthCheckTimeout, 60, 1, 3600),
        healthCheckExpect,
        onDrift: oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.OnDrift, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.OnDrift) || 'warn', [
            'warn',
            'fail',
            'ignore'
        ]),
        strategy: oneOf(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Strategy, input(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Strategy) || 'parallel', [
            'parallel',
            'sequential'
        ]),
        maxParallel: integer(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.MaxParallel, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .DEFAULT_MAX_PARALLEL */ .dT, 1, 100),
        connectTimeout: integer(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.ConnectTimeout, 20, 1, 300),
        commandTimeout: integer(read, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.CommandTimeout, _ssh_ssh_remote_host_js__WEBPACK_IMPORTED_MODULE_8__/* .DEFAULT_COMMAND_TIMEOUT_SECONDS */ .As, 10, 6 * 3600)
    };
}
function defaultWorkspace() {
    return process.env.GITHUB_WORKSPACE || process.cwd();
}
/**
 * Mask a secret as soon as it is read. The runner masks a value line by line as it appears in
 * the log, so a multi-line key is registered whole and per line (a PEM body line could
 * otherwise show up alone in an error message).
 */
function secret(value) {
    if (value.trim() === '')
        return undefined;
    // Outside Actions nothing consumes ::add-mask::, which would print the secret itself.
    if (process.env.GITHUB_ACTIONS !== 'true')
        return value;
    _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .setSecret */ .Pq(value);
    for (const line of value.split(/\r?\n/)) {
        if (line.trim().length >= 8)
            _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .setSecret */ .Pq(line.trim());
    }
    return value;
}
function checkPrivateKey(key, name) {
    if (/^(ssh-|ecdsa-|sk-)[a-z0-9-]+ [A-Za-z0-9+/=]+/.test(key.trim())) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `Invalid ${name}: this is a public key (it starts with the key type). Pass the private key file's whole text, which starts with '-----BEGIN'.`);
    }
    if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(key)) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `Invalid ${name}: expected the whole text of an OpenSSH or PEM private key, starting with '-----BEGIN ... PRIVATE KEY-----'.`);
    }
}
/**
 * The jump hosts and the credentials for each: jump-private-key (one key for every hop, or one
 * per hop in order), jump-passphrase and jump-password where they are set, the servers' own
 * credentials otherwise.
 */
function jumpChain(read, defaultUser, main) {
    const text = read(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpHost);
    const keysText = secret(read(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPrivateKey));
    const passphrase = secret(read(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPassphrase));
    const password = secret(read(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPassword));
    if (text.trim() === '') {
        const stray = [
            [_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPrivateKey, keysText],
            [_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPassphrase, passphrase],
            [_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPassword, password]
        ].find(([, value]) => value !== undefined);
        if (stray)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(stray[0], `'${stray[0]}' is set but 'jump-host' is empty.`);
        return [];
    }
    const hops = (0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .parseServers */ ._K)(text, defaultUser, 22, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpHost);
    let keys = [];
    if (keysText !== undefined) {
        checkPrivateKey(keysText, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPrivateKey);
        keys =
            keysText.match(/-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g) ?? [];
        if (keys.length === 0)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPrivateKey, `Invalid jump-private-key: a key has no '-----END ... PRIVATE KEY-----' line.`);
        if (keys.length > hops.length)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPrivateKey, `Invalid jump-private-key: it holds ${keys.length} keys for ${hops.length} jump host${hops.length === 1 ? '' : 's'}. Expected one key for every jump host, or one per jump host in the order of jump-host.`);
    }
    if (passphrase !== undefined && keys.length === 0)
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.JumpPassphrase, `'jump-passphrase' is set but 'jump-private-key' is empty.`);
    const own = keys.length > 0 || password !== undefined;
    return hops.map((server, i) => {
        const credentials = own
            ? {
                ...(keys.length > 0 ? { privateKey: keys[Math.min(i, keys.length - 1)] } : {}),
                ...(passphrase !== undefined ? { passphrase } : {}),
                ...(password !== undefined ? { password } : {})
            }
            : {
                ...(main.privateKey !== undefined ? { privateKey: main.privateKey } : {}),
                ...(main.passphrase !== undefined ? { passphrase: main.passphrase } : {}),
                ...(main.password !== undefined ? { password: main.password } : {})
            };
        return { server, ...credentials };
    });
}
function hostKeyPolicy(knownHosts, fingerprints, insecure) {
    if (knownHosts.trim() !== '') {
        if (fingerprints.trim() !== '') {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HostFingerprint, `Set either 'known-hosts' or 'host-fingerprint', not both.`);
        }
        return { kind: 'known-hosts', entries: (0,_ssh_known_hosts_js__WEBPACK_IMPORTED_MODULE_4__/* .parseKnownHosts */ .uJ)(knownHosts) };
    }
    if (fingerprints.trim() !== '') {
        return { kind: 'fingerprint', fingerprints: (0,_ssh_known_hosts_js__WEBPACK_IMPORTED_MODULE_4__/* .parseFingerprints */ .Tr)(fingerprints) };
    }
    if (insecure)
        return { kind: 'insecure' };
    throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.KnownHosts, `No way to verify the servers' host keys. Set 'known-hosts' (lines from ssh-keyscan, checked out-of-band) or 'host-fingerprint' (SHA256:...), or 'insecure-ignore-host-key: true' for a throwaway server.`);
}
/**
 * Each server must have a fingerprint of its own. A bare fingerprint applies to any server, so
 * with several servers one server's key would be accepted for another: it is refused there.
 */
function checkFingerprintsCover(fingerprints, servers) {
    const form = `Bind each fingerprint to its server: 'web1.example.com=SHA256:...' (or host:port=SHA256:..., [IPv6]:port=SHA256:...).`;
    if (servers.length > 1 && fingerprints.some(f => typeof f === 'string')) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HostFingerprint, `Invalid host-fingerprint: a bare SHA256:... would accept any of the ${servers.length} servers' keys for every other. ${form}`);
    }
    for (const f of fingerprints) {
        if (typeof f !== 'string' && !servers.some(s => (0,_ssh_known_hosts_js__WEBPACK_IMPORTED_MODULE_4__/* .fingerprintApplies */ .RS)(f, s.host, s.port)))
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HostFingerprint, `Invalid host-fingerprint: '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(f.host)}${f.port === undefined ? '' : `:${f.port}`}' is not one of the servers (${servers.map(s => s.label).join(', ')}).`);
    }
    for (const s of servers) {
        if (!fingerprints.some(f => (0,_ssh_known_hosts_js__WEBPACK_IMPORTED_MODULE_4__/* .fingerprintApplies */ .RS)(f, s.host, s.port)))
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HostFingerprint, `Invalid host-fingerprint: none is given for ${s.label}. ${form}`);
    }
}
function remotePath(value) {
    const form = `Expected a directory on the server, absolute (/var/www/app) or relative to the login directory (apps/site).`;
    if (value === '')
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Path, `Input 'path' is required. ${form}`);
    if (/[\0\r\n]/.test(value)) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Path, `Invalid path '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}': it contains a control character. ${form}`);
    }
    const normal = node_path__WEBPACK_IMPORTED_MODULE_2__.posix.normalize(value);
    if (normal === '.' || normal === './' || normal === '~' || normal.startsWith('~')) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Path, `Invalid path '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}': name a directory of its own, not the login directory. ${form}`);
    }
    if (normal.startsWith('/')) {
        const problem = (0,_server_system_directories_js__WEBPACK_IMPORTED_MODULE_7__/* .systemDirectoryProblem */ .k)(normal);
        if (problem)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Path, `Invalid path '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}': ${problem}. ${form}`);
    }
    return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}
function sourceDirectory(value, workspace, mustExist) {
    if (/[\0\r\n]/.test(value)) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Source, `Invalid source '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}': it contains a control character. Expected a directory in the workspace.`);
    }
    const absolute = node_path__WEBPACK_IMPORTED_MODULE_2__.resolve(workspace, value);
    if (mustExist) {
        let isDirectory;
        try {
            isDirectory = (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.statSync)(absolute).isDirectory();
        }
        catch {
            isDirectory = false;
        }
        if (!isDirectory) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.Source, `Invalid source '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}': ${absolute} is not a directory. Expected a directory in the workspace, e.g. '.' or 'build'.`);
        }
    }
    return absolute;
}
function lines(value, name, form) {
    if (value.includes('\0'))
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `Invalid ${name}: it contains a NUL byte. Expected ${form}.`);
    return value
        .split(/\r?\n/)
        .map(l => l.trim())
        .filter(l => l !== '');
}
function sharedPaths(value) {
    const list = lines(value, _settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.SharedPaths, 'paths relative to shared/, one per line').filter(l => !l.startsWith('#'));
    if (list.length === 0)
        return undefined;
    const form = `Expected paths relative to shared/, one per line, like '.env' or 'storage/' (a trailing / makes a directory).`;
    const result = [];
    for (const entry of list) {
        const isDir = entry.endsWith('/');
        const body = entry.replace(/\/+$/, '').replace(/^(\.\/)+/, '');
        const segments = body.split('/');
        if (body === '' ||
            entry.startsWith('/') ||
            segments.some(s => s === '' || s === '.' || s === '..') ||
            /[\u0000-\u001f\u007f]/.test(body)) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.SharedPaths, `Invalid shared-paths entry '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(entry)}'. ${form}`);
        }
        result.push(isDir ? `${body}/` : body);
    }
    const bare = result.map(p => p.replace(/\/$/, ''));
    for (const a of bare) {
        for (const b of bare) {
            if (a !== b && b.startsWith(`${a}/`)) {
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.SharedPaths, `Invalid shared-paths: '${b}' is inside '${a}', which is already shared.`);
            }
        }
        if (bare.indexOf(a) !== bare.lastIndexOf(a)) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.SharedPaths, `Invalid shared-paths: '${a}' is listed twice.`);
        }
    }
    return result;
}
function script(value, name) {
    if (value.includes('\0')) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `Invalid ${name}: it contains a NUL byte. Expected a shell script (text, one command per line).`);
    }
    // Scripts pasted from Windows editors carry CRLF; `sh` would see "\r" as part of each word.
    const text = value.replace(/\r\n?/g, '\n');
    return text.trim() === '' ? undefined : text;
}
function checkUrl(value) {
    let url;
    try {
        url = new URL(value);
    }
    catch {
        url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HealthCheckUrl, `Invalid health-check-url '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}'. Expected an http:// or https:// URL, e.g. https://example.com/health.`);
    }
}
/**
 * The text a healthy answer must contain, as given: only a trailing line break (a YAML block
 * scalar's) is dropped, since leading or inner spaces may be part of what is looked for.
 */
function expectedText(value) {
    const text = value.replace(/\r?\n$/, '');
    if (text.trim() === '')
        return undefined;
    if (/[\0\r\n]/.test(text)) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(_settings_js__WEBPACK_IMPORTED_MODULE_6__/* .Inputs */ .G0.HealthCheckExpect, `Invalid health-check-expect '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(text)}': it contains a line break or NUL. Expected text on one line that the health page prints, e.g. 'status: ok'.`);
    }
    return text;
}
function oneOf(name, value, allowed) {
    if (allowed.includes(value))
        return value;
    throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `Invalid ${name} '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}'. Expected one of: ${allowed.join(', ')}.`);
}
/** YAML 1.2 core booleans, as core.getBooleanInput accepts them, with an error naming the input. */
function bool(read, name, fallback) {
    const value = read(name).trim();
    if (value === '')
        return fallback;
    if (['true', 'True', 'TRUE'].includes(value))
        return true;
    if (['false', 'False', 'FALSE'].includes(value))
        return false;
    throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `Invalid ${name} '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}'. Expected true or false.`);
}
function integer(read, name, fallback, min, max) {
    const value = read(name).trim();
    if (value === '')
        return fallback;
    if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(name, `Invalid ${name} '${(0,_ssh_servers_js__WEBPACK_IMPORTED_MODULE_5__/* .printable */ .g$)(value)}'. Expected a whole number from ${min} to ${max}.`);
    }
    return Number(value);
}


/***/ }),

/***/ 3770:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  e: () => (/* binding */ run)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 10 modules
var core = __webpack_require__(7264);
// EXTERNAL MODULE: ./build/bundle/js/errors.js
var errors = __webpack_require__(6506);
;// CONCATENATED MODULE: ./build/bundle/js/logger.js

/**
 * Text for the log that cannot act as a workflow command. The runner reads its stdout line by
 * line (a line ends at \n, \r or \r\n) and takes a line as a command when, after leading white
 * space, it starts with `::`, or when it holds `##[` anywhere (the older form, still parsed:
 * actions/runner, ActionCommand.TryParse). Hook output and everything else a server sends is
 * printed through here: each such marker gets a zero-width space inside it, so the line reads
 * the same and commands nothing (no `::add-mask::`, `::error::`, `::stop-commands::`...).
 */
function logLines(text) {
    return text
        .split(/\r\n|\r|\n/)
        .map(line => line.replace(/^([\s\u0085\u180e\ufeff]*):(?=:)/, '$1:\u200b').replace(/##\[/g, '#\u200b#['));
}
function serverLog(label) {
    const prefix = `[${label}] `;
    return {
        // Every line of a message carries the label, a line broken by \r included.
        info: message => core/* info */.pq(logLines(message)
            .map(line => prefix + line)
            .join('\n')),
        warning: message => core/* warning */.$e(prefix + message),
        debug: message => core/* debug */.Yz(prefix + message)
    };
}
const actionLog = {
    info: message => core/* info */.pq(logLines(message).join('\n')),
    warning: message => core/* warning */.$e(message),
    debug: message => core/* debug */.Yz(message)
};
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];
/** 1234567 -> "1.2 MB" (decimal units, as people read transfer sizes). */
function formatBytes(bytes) {
    let value = bytes;
    let unit = 0;
    while (value >= 1000 && unit < UNITS.length - 1) {
        value /= 1000;
        unit++;
    }
    return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}
/** 3236 -> "3,236". Not toLocaleString: its first call loads ICU data, about 20 ms. */
function formatCount(n) {
    if (!Number.isSafeInteger(n))
        return String(n);
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
function formatDuration(ms) {
    return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${(ms / 1000).toFixed(1)}s`;
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __webpack_require__(7975);
// EXTERNAL MODULE: external "node:zlib"
var external_node_zlib_ = __webpack_require__(8522);
// EXTERNAL MODULE: ./node_modules/minimatch/dist/esm/index.js + 8 modules
var esm = __webpack_require__(1138);
// EXTERNAL MODULE: external "node:worker_threads"
var external_node_worker_threads_ = __webpack_require__(5919);
;// CONCATENATED MODULE: ./build/bundle/js/release/hash-workers.js
/**
 * Hashing the source on worker threads, so a large tree's local work scales with the runner's
 * cores (GitHub's hosted runners have four) and the main thread stays free for the SSH
 * handshakes that run meanwhile.
 *
 * The walk itself stays on the main thread: it decides what is deployed (excludes), and its
 * system calls cost microseconds (3,500 files in about 20 ms here), while a directory handed to
 * another thread costs a message each way, and a tree has thousands of directories (measured:
 * walking the 50,000-file tree one directory per message took 0.8 s against 0.2 s in one
 * thread). The files it finds go to the workers in batches as it goes, so hashing overlaps the
 * walk.
 *
 * The workers' code is a self-contained string run with `eval`: it needs only Node's built-in
 * modules, so it runs the same from the bundle (dist/index.js) and from the sources under test.
 */

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const { createHash, hash } = require('node:crypto')
const buffer = Buffer.allocUnsafe(1024 * 1024)
parentPort.on('message', task => {
  const digests = Buffer.alloc(task.files.length * 32)
  const sizes = new Float64Array(task.files.length)
  try {
    for (let i = 0; i < task.files.length; i++) {
      const fd = fs.openSync(workerData.prefix + task.files[i], 'r')
      let size = 0
      try {
        // As hashFileSync in manifest.ts: a short first read of the size the walk saw is the end.
        const first = fs.readSync(fd, buffer, 0, buffer.length, 0)
        if (first < buffer.length && first === task.sizes[i]) {
          hash('sha256', buffer.subarray(0, first), 'buffer').copy(digests, i * 32)
          size = first
        } else {
          const h = createHash('sha256')
          for (let n = first; n > 0; n = fs.readSync(fd, buffer, 0, buffer.length, size)) {
            h.update(buffer.subarray(0, n))
            size += n
          }
          h.digest().copy(digests, i * 32)
        }
      } finally {
        fs.closeSync(fd)
      }
      sizes[i] = size
    }
    parentPort.postMessage({ id: task.id, digests, sizes }, [digests.buffer, sizes.buffer])
  } catch (error) {
    parentPort.postMessage({ id: task.id, error: { message: String((error && error.message) || error), code: error && error.code } })
  }
})
`;
/** A batch is handed out at this many files or bytes: small enough to spread a tree evenly. */
const BATCH_FILES = 128;
const BATCH_BYTES = 4 * 1024 * 1024;
/** Batches queued at each worker, so it never waits for the main thread between two. */
const IN_FLIGHT = 2;
/**
 * Below this much (files or bytes) the tree is hashed on the main thread, once the walk ends:
 * starting a thread costs about 25 ms and a few MB, and 3,500 files (30 MB) hash in about 60 ms
 * on one core here.
 */
const THREADS_FROM = { files: 16_000, bytes: 64 * 1024 * 1024 };
/**
 * Fills in the sha256 of file entries: `add` them as the walk finds them, then `done()`
 * resolves once every one is hashed, or rejects with the first error (the same messages as
 * hashing on the main thread). Worker threads start once the tree proves large enough to gain
 * from them; a small tree is hashed on the main thread.
 */
class HashWorkers {
    prefix;
    count;
    hashHere;
    from;
    workers = [];
    waiting = [];
    pending = new Map();
    batch = [];
    batchBytes = 0;
    files = 0;
    bytes = 0;
    nextId = 0;
    ended = false;
    closed = false;
    failure;
    settle;
    /** `prefix`: the tree's root as manifest.ts's pathPrefix gives it, put before each path. */
    constructor(prefix, count, hashHere, from = THREADS_FROM) {
        this.prefix = prefix;
        this.count = count;
        this.hashHere = hashHere;
        this.from = from;
    }
    /** Worker threads started: 0 when the tree was small enough to hash on the main thread. */
    get threads() {
        return this.workers.length;
    }
    start() {
        for (let i = 0; i < this.count; i++) {
            const worker = new external_node_worker_threads_.Worker(WORKER_SOURCE, {
                eval: true,
                workerData: { prefix: this.prefix },
                // A worker holds a batch's names and a 1 MB read buffer: a small heap is plenty.
                resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
                stdout: false,
                stderr: false
            });
            // Never what keeps the process alive: a deploy that fails elsewhere exits regardless.
            worker.unref();
            const slot = { worker, queued: 0 };
            this.workers.push(slot);
            worker.on('message', (reply) => this.onReply(slot, reply));
            worker.on('error', error => this.fail(error));
            worker.on('exit', code => {
                if (!this.closed)
                    this.fail(new Error(`a hashing thread stopped (exit ${code})`));
            });
        }
    }
    /** Queue a file entry; its sha256 is set before done() resolves. */
    add(entry) {
        this.batch.push(entry);
        this.batchBytes += entry.size;
        this.files++;
        this.bytes += entry.size;
        if (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES)
            this.flush();
        if (this.workers.length === 0 &&
            this.count > 0 &&
            (this.files >= this.from.files || this.bytes >= this.from.bytes))
            this.start();
        this.dispatch();
    }
    /** Every entry has been added: resolves when all are hashed. Stops the workers either way. */
    async done() {
        this.ended = true;
        this.flush();
        if (this.workers.length === 0) {
            // A small tree: its batches are hashed here.
            const batches = this.waiting.splice(0);
            for (const batch of batches)
                await this.hashHere(batch);
            return;
        }
        const promise = new Promise((resolve, reject) => {
            this.settle = { resolve, reject };
        });
        if (this.failure)
            this.settle?.reject(this.failure);
        else
            this.dispatch();
        return promise.finally(() => this.close());
    }
    /** Stop the workers (also when the walk failed and done() is never called). */
    close() {
        this.closed = true;
        for (const { worker } of this.workers)
            void worker.terminate();
    }
    flush() {
        if (this.batch.length === 0)
            return;
        this.waiting.push(this.batch);
        this.batch = [];
        this.batchBytes = 0;
    }
    dispatch() {
        if (this.failure || this.workers.length === 0)
            return;
        while (this.waiting.length > 0) {
            let free;
            for (const w of this.workers)
                if (w.queued < IN_FLIGHT && (!free || w.queued < free.queued))
                    free = w;
            if (!free)
                break;
            const entries = this.waiting.shift();
            const id = this.nextId++;
            free.queued++;
            this.pending.set(id, { entries, at: free });
            // The sizes the walk saw, for the reads to know a file's end when they reach it.
            const sizes = Float64Array.from(entries, e => e.size);
            free.worker.postMessage({ id, files: entries.map(e => e.path), sizes }, [sizes.buffer]);
        }
        if (this.ended && this.waiting.length === 0 && this.pending.size === 0)
            this.settle?.resolve();
    }
    onReply(slot, reply) {
        const job = this.pending.get(reply.id);
        if (!job || this.failure)
            return;
        this.pending.delete(reply.id);
        slot.queued--;
        if (reply.error) {
            const error = new Error(reply.error.message);
            if (reply.error.code)
                error.code = reply.error.code;
            this.fail(error);
            return;
        }
        const digests = Buffer.from(reply.digests.buffer, reply.digests.byteOffset);
        const sizes = reply.sizes;
        for (let i = 0; i < job.entries.length; i++) {
            const entry = job.entries[i];
            const size = sizes[i];
            if (size !== entry.size) {
                this.fail(new Error(`${entry.path} changed while it was being read (${entry.size} bytes, then ${size}); is a build still writing to the source?`));
                return;
            }
            entry.sha256 = digests.toString('hex', i * 32, i * 32 + 32);
        }
        this.dispatch();
    }
    fail(error) {
        if (this.failure)
            return;
        this.failure = error;
        this.close();
        this.settle?.reject(error);
    }
    /** The first error, if any: the walk checks it to stop early. */
    get error() {
        return this.failure;
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/release/manifest.js









/**
 * Deployed files never carry world-write or the set-id and sticky bits, whatever the source had:
 * a release must not become a place anybody on the server can write to, nor grow setuid files.
 */
function deployedMode(sourceMode) {
    return sourceMode & 0o775;
}
/**
 * Compile exclude globs into a predicate over relative paths, with .gitignore's rules: a pattern
 * without a slash (other than a trailing one) matches a name at any depth; a leading slash
 * anchors it to the top of `source`; a trailing slash matches directories only; `!pattern`
 * re-includes what an earlier pattern excluded (the last matching pattern decides). As in git,
 * nothing inside an excluded directory can be re-included: the walk never enters it.
 */
function excludeMatcher(patterns) {
    const compiled = [];
    for (const raw of patterns) {
        const negate = raw.startsWith('!');
        let pattern = negate ? raw.slice(1) : raw;
        const anchored = pattern.startsWith('/');
        pattern = pattern.replace(/^\/+/, '').replace(/^\.\//, '');
        const dirOnly = pattern.endsWith('/');
        pattern = pattern.replace(/\/+$/, '');
        if (pattern === '')
            continue;
        const options = {
            dot: true,
            matchBase: !anchored && !pattern.includes('/'),
            nocomment: true,
            nonegate: true
        };
        compiled.push({ mm: new esm/* Minimatch */.VR(pattern, options), dirOnly, negate });
        // 'node_modules/**' means the directory too: skip it whole instead of deploying it empty.
        if (pattern.endsWith('/**')) {
            compiled.push({ mm: new esm/* Minimatch */.VR(pattern.slice(0, -3), options), dirOnly: true, negate });
        }
    }
    return (relative, isDirectory) => {
        let excluded = false;
        for (const { mm, dirOnly, negate } of compiled) {
            if ((!dirOnly || isDirectory) && mm.match(relative))
                excluded = !negate;
        }
        return excluded;
    };
}
/**
 * Walk `root` without following symlinks. `.git` is always left out, at any depth (a submodule
 * has a .git file). Hashes are not computed here; see hashEntries.
 *
 * The walk uses synchronous calls: an lstat costs microseconds as a system call but far more
 * as a round trip through libuv's thread pool, and a tree has thousands (measured: 3,500 files
 * in 50 ms this way, 400 ms with promises). It yields to the event loop between directories,
 * so the SSH handshakes running meanwhile keep moving.
 */
async function scanSource(root, exclude, onFile) {
    const excluded = excludeMatcher(exclude);
    const entries = [];
    const skipped = [];
    const yielder = eventLoopYielder();
    const prefix = pathPrefix(root);
    const walk = async (relativeDir) => {
        const names = sortNames((0,external_node_fs_.readdirSync)(prefix + relativeDir));
        const unreadable = names.some(name => name.includes('\uFFFD'))
            ? checkNames(root, relativeDir, excluded)
            : undefined;
        for (const name of names) {
            if (unreadable?.has(name))
                continue;
            if (name === '.git')
                continue;
            const relative = relativeDir === '' ? name : `${relativeDir}/${name}`;
            const absolute = prefix + relative;
            const st = (0,external_node_fs_.lstatSync)(absolute);
            const isDirectory = st.isDirectory();
            if (excluded(relative, isDirectory))
                continue;
            const mtime = Math.floor(st.mtimeMs / 1000);
            if (isDirectory) {
                entries.push({ path: relative, type: 'dir', mode: deployedMode(st.mode), size: 0, mtime });
                await yielder();
                await walk(relative);
            }
            else if (st.isFile()) {
                const entry = {
                    path: relative,
                    type: 'file',
                    mode: deployedMode(st.mode),
                    size: st.size,
                    mtime
                };
                entries.push(entry);
                onFile?.(entry);
            }
            else if (st.isSymbolicLink()) {
                const target = (0,external_node_fs_.readlinkSync)(absolute);
                entries.push({
                    path: relative,
                    type: 'symlink',
                    mode: 0o777,
                    size: Buffer.byteLength(target),
                    mtime,
                    target
                });
            }
            else {
                skipped.push(relative);
            }
        }
    };
    await walk('');
    return { entries, skipped };
}
/**
 * `root` as an absolute path ending in a separator, to put a relative path (names from readdir
 * joined by `/`) behind: a concatenation, where path.join would normalize the whole path again
 * for each of a tree's files (a tenth of the main thread's time in the walk of the 50,000-file
 * tree). The names readdir returns are never empty, `.` or `..`, nor hold a `/`.
 */
function pathPrefix(root) {
    const absolute = external_node_path_.resolve(root);
    return absolute.endsWith(external_node_path_.sep) ? absolute : absolute + external_node_path_.sep;
}
/**
 * Names are read as UTF-8; one that is not valid UTF-8 comes back with U+FFFD in place of its
 * bad bytes, and could be neither found again nor written under its real name on the server.
 * Such a name is refused with the name shown byte for byte, unless exclude leaves it out:
 * the names (as read) of those are returned, for the walk to skip.
 */
function checkNames(root, relativeDir, excluded) {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const skip = new Set();
    for (const raw of (0,external_node_fs_.readdirSync)(external_node_path_.join(root, relativeDir), { encoding: 'buffer' })) {
        try {
            decoder.decode(raw);
            continue;
        }
        catch {
            // not UTF-8: below
        }
        const lossy = raw.toString('utf8');
        const relative = relativeDir === '' ? lossy : `${relativeDir}/${lossy}`;
        const full = Buffer.concat([Buffer.from(external_node_path_.join(root, relativeDir) + '/'), raw]);
        if (excluded(relative, (0,external_node_fs_.lstatSync)(full).isDirectory())) {
            skip.add(lossy);
            continue;
        }
        const bytes = [...raw]
            .map(b => b >= 0x20 && b < 0x7f && b !== 0x5c
            ? String.fromCharCode(b)
            : `\\x${b.toString(16).padStart(2, '0')}`)
            .join('');
        throw new errors/* InputError */.dz('source', `source has a file name that is not valid UTF-8: '${relativeDir === '' ? '' : `${relativeDir}/`}${bytes}'. Rename it to UTF-8 (e.g. 'convmv -f latin1 -t utf-8 -r --notest ${relativeDir === '' ? '.' : relativeDir}'), or leave it out with exclude.`);
    }
    return skip;
}
/**
 * Byte order of the UTF-8 names: what `LC_ALL=C sort` does, and stable across platforms. UTF-8's
 * byte order is code point order, which JavaScript's UTF-16 code unit order agrees with below
 * the surrogates (U+D800); from there on, the names' bytes are compared. Sorting 50,000 manifest
 * lines took 60 ms with bytes for every comparison, a few ms this way.
 */
function compareNames(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        const x = a.charCodeAt(i);
        const y = b.charCodeAt(i);
        if (x === y)
            continue;
        if (x < 0xd800 && y < 0xd800)
            return x - y;
        return Buffer.compare(Buffer.from(a), Buffer.from(b));
    }
    return a.length - b.length;
}
/** Code units from the surrogates up, where UTF-16 order and UTF-8's part. */
const HIGH_UNITS = /[\ud800-\uffff]/;
/** `names` sorted in place by compareNames: with the engine's own string order where it agrees. */
function sortNames(names) {
    return names.some(name => HIGH_UNITS.test(name)) ? names.sort(compareNames) : names.sort();
}
/** A function to await now and then in a synchronous loop: it yields every ~10 ms of work. */
function eventLoopYielder(sliceMs = 10) {
    let last = performance.now();
    return async () => {
        if (performance.now() - last < sliceMs)
            return;
        await new Promise(resolve => setImmediate(resolve));
        last = performance.now();
    };
}
const HASH_CHUNK = 1024 * 1024;
/**
 * sha256 of one file, read in chunks of at most 1 MB into one buffer: memory does not grow with
 * the file's size. Synchronous reads, for the reason scanSource gives.
 *
 * `expected` is the size the walk saw. A file smaller than the buffer usually comes in one read:
 * when that read is short and brings exactly the size seen, it is the file's end, so no read
 * more is made to find it, and the bytes are hashed in one call, without a Hash object. On the
 * 50,000-file tree that is a quarter of the system calls per file. A short read of any other
 * size (a file that changed, a file system that returns less than there is) goes on reading to
 * the end, and the caller compares the size.
 */
function hashFileSync(file, buffer, expected = -1) {
    const fd = (0,external_node_fs_.openSync)(file, 'r');
    try {
        const first = (0,external_node_fs_.readSync)(fd, buffer, 0, buffer.length, 0);
        if (first < buffer.length && first === expected)
            return { sha256: (0,external_node_crypto_.hash)('sha256', buffer.subarray(0, first), 'hex'), size: first };
        const hash = (0,external_node_crypto_.createHash)('sha256');
        let size = 0;
        for (let n = first; n > 0; n = (0,external_node_fs_.readSync)(fd, buffer, 0, buffer.length, size)) {
            hash.update(buffer.subarray(0, n));
            size += n;
        }
        return { sha256: hash.digest('hex'), size };
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
/** sha256 of one file, streamed: memory does not grow with the file's size. */
async function hashFile(file) {
    return hashFileSync(file, Buffer.allocUnsafe(HASH_CHUNK));
}
/** Fill in sha256 for every file entry, yielding to the event loop every few milliseconds. */
async function hashEntries(root, entries) {
    const buffer = Buffer.allocUnsafe(HASH_CHUNK);
    const yielder = eventLoopYielder();
    const prefix = pathPrefix(root);
    for (const entry of entries) {
        if (entry.type !== 'file')
            continue;
        const { sha256, size } = hashFileSync(prefix + entry.path, buffer, entry.size);
        if (size !== entry.size) {
            throw new Error(`${entry.path} changed while it was being read (${entry.size} bytes, then ${size}); is a build still writing to the source?`);
        }
        entry.sha256 = sha256;
        await yielder();
    }
}
/**
 * Threads that scan and hash: one per core the process may use (os.availableParallelism follows
 * the CPU affinity mask, so `taskset` and container limits count), at most eight. Each holds a
 * 1 MB read buffer and a small heap.
 */
function scanThreads() {
    return Math.min((0,external_node_os_.availableParallelism)(), 8);
}
/** Scan and hash `root`: the manifest of what will be deployed. */
async function buildManifest(root, exclude, options = {}) {
    const started = performance.now();
    const threads = options.threads ?? scanThreads();
    let scan;
    if (threads > 0) {
        // Files are hashed on the workers while the walk goes on.
        const workers = new HashWorkers(pathPrefix(root), threads, batch => hashEntries(root, batch), options.threadsFrom ?? THREADS_FROM);
        try {
            scan = await scanSource(root, exclude, entry => workers.add(entry));
        }
        catch (error) {
            workers.close();
            throw error;
        }
        await workers.done();
        scan.threads = workers.threads;
    }
    else {
        scan = await scanSource(root, exclude);
        await hashEntries(root, scan.entries);
    }
    return { ...scan, elapsedMs: Math.round(performance.now() - started) };
}
async function serializeManifest(manifest) {
    // The same text as JSON.stringify of the whole object, without an array of 50,000 entries
    // and one 10 MB string alive at once.
    const head = `{"version":1,"sharedLinks":${JSON.stringify(manifest.sharedLinks)},"entries":[`;
    const body = piecesToBuffer(manifest.entries, (e, i) => {
        const stored = [
            e.path,
            e.type === 'file' ? 'f' : e.type === 'dir' ? 'd' : 'l',
            e.mode,
            e.size,
            e.mtime,
            e.type === 'file' ? (e.sha256 ?? '') : e.type === 'symlink' ? (e.target ?? '') : ''
        ];
        return (i === 0 ? '' : ',') + JSON.stringify(stored);
    });
    return promisify(gzip)(Buffer.concat([Buffer.from(head), body, Buffer.from(']}')]), {
        level: 6
    });
}
/**
 * The concatenated pieces as bytes, built about 64 KB at a time rather than as one array of
 * strings: on a 50,000-file tree such an array outlives a few young-generation collections and
 * then stays in the old generation as garbage for the rest of the deploy.
 */
function piecesToBuffer(items, piece) {
    const buffers = [];
    let text = '';
    for (let i = 0; i < items.length; i++) {
        text += piece(items[i], i);
        if (text.length >= 65_536) {
            buffers.push(Buffer.from(text));
            text = '';
        }
    }
    buffers.push(Buffer.from(text));
    return Buffer.concat(buffers);
}
const NO_LIMITS = { compressed: Infinity, json: 2 ** 31 - 1 };
/**
 * Parse a stored manifest. It comes back from a server, so everything is checked: a tree of
 * relative paths (no '..', '.', empty segments or NUL; every entry's parent is a directory of
 * the manifest, so no path lies beneath a symlink or a file), no path twice, numbers that are
 * numbers. Throws with a reason on anything unexpected: the caller then uploads everything.
 */
async function parseManifest(data, limits = NO_LIMITS) {
    if (data.length > limits.compressed)
        throw new Error(`it is ${data.length} bytes, over the limit of ${limits.compressed}`);
    let unpacked;
    try {
        unpacked = await (0,external_node_util_.promisify)(external_node_zlib_.gunzip)(data, { maxOutputLength: limits.json });
    }
    catch (error) {
        if (error.code === 'ERR_BUFFER_TOO_LARGE')
            throw new Error(`it unpacks to more than ${limits.json} bytes`, { cause: error });
        throw error;
    }
    const parsed = JSON.parse(unpacked.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object')
        throw new Error('it is not a manifest');
    if (parsed.version !== 1)
        throw new Error(`unknown manifest version ${String(parsed.version)}`);
    if (!Array.isArray(parsed.entries))
        throw new Error('manifest has no entries');
    const sharedLinks = Array.isArray(parsed.sharedLinks)
        ? parsed.sharedLinks.filter((s) => typeof s === 'string')
        : [];
    const seen = new Set();
    const directories = new Set();
    const entries = parsed.entries.map((raw, i) => {
        if (!Array.isArray(raw) || raw.length !== 6)
            throw new Error(`manifest entry ${i} is malformed`);
        const [p, t, mode, size, mtime, extra] = raw;
        if (typeof p !== 'string' ||
            p === '' ||
            p.includes('\0') ||
            p.startsWith('/') ||
            p.split('/').some(s => s === '..' || s === '' || s === '.')) {
            throw new Error(`manifest entry ${i} has an invalid path`);
        }
        if (seen.has(p))
            throw new Error(`manifest entry ${i} repeats a path`);
        seen.add(p);
        const isCount = (n) => Number.isSafeInteger(n) && n >= 0;
        if (!isCount(mode) ||
            mode > 0o7777 ||
            !isCount(size) ||
            typeof mtime !== 'number' ||
            !Number.isFinite(mtime) ||
            typeof extra !== 'string') {
            throw new Error(`manifest entry ${i} is malformed`);
        }
        if (t === 'f') {
            if (!/^[0-9a-f]{64}$/.test(extra))
                throw new Error(`manifest entry ${i} has no sha256`);
            return { path: p, type: 'file', mode, size, mtime, sha256: extra };
        }
        if (t === 'd') {
            directories.add(p);
            return { path: p, type: 'dir', mode, size: 0, mtime };
        }
        if (t === 'l') {
            if (extra === '' || extra.includes('\0') || Buffer.byteLength(extra) !== size)
                throw new Error(`manifest entry ${i} has an invalid symlink target`);
            return { path: p, type: 'symlink', mode: 0o777, size, mtime, target: extra };
        }
        throw new Error(`manifest entry ${i} has an unknown type`);
    });
    // Whatever the order, every path's parent is a directory of the manifest: a plan made from
    // it then never removes or writes beneath what the release holds as a symlink or a file.
    entries.forEach((entry, i) => {
        const slash = entry.path.lastIndexOf('/');
        if (slash > 0 && !directories.has(entry.path.slice(0, slash)))
            throw new Error(`manifest entry ${i} lies beneath a path that is not a directory in it`);
    });
    return { version: 1, entries, sharedLinks };
}
/**
 * Symlinks whose target is absolute or leads out of the deployed tree: they are deployed as
 * links, and on the server they resolve to whatever is there (Debian's WordPress package links
 * wp-config.php to /etc/wordpress).
 */
function linksLeavingTree(entries) {
    return entries.filter(e => {
        if (e.type !== 'symlink')
            return false;
        const target = e.target ?? '';
        if (target.startsWith('/'))
            return true;
        const resolved = external_node_path_.posix.normalize(external_node_path_.posix.join(external_node_path_.posix.dirname(e.path), target));
        return resolved === '..' || resolved.startsWith('../');
    });
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/health-check.js

/** The most of a body that is read to look for `expect`. */
const BODY_LIMIT = 1024 * 1024;
/**
 * 502, 503 and 504 are what a proxy answers while the app behind it is (re)starting, and what an
 * app in maintenance mode answers: worth waiting for. Any other 5xx comes from the app itself
 * having run and failed.
 */
function isBrokenStatus(status) {
    return status >= 500 && status <= 599 && status !== 502 && status !== 503 && status !== 504;
}
/** Up to `limit` bytes of a body, as text; the rest is not read. */
async function readBody(body, limit) {
    if (!body)
        return '';
    const reader = body.getReader();
    const chunks = [];
    let size = 0;
    try {
        while (size < limit) {
            const { done, value } = await reader.read();
            if (done)
                break;
            chunks.push(value);
            size += value.length;
        }
    }
    finally {
        await reader.cancel().catch(() => undefined);
    }
    return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
/** The start of a body, on one line, for the log. */
function excerpt(text) {
    // eslint-disable-next-line no-control-regex
    const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
    if (flat === '')
        return 'an empty body';
    return `'${flat.length > 80 ? `${flat.slice(0, 80)}...` : flat}'`;
}
/**
 * Poll `url` from the runner until it answers 2xx (with `expect` in its body, when given) or
 * `timeoutSeconds` pass. Tries are spaced by `intervalMs` and bounded in number, and each request
 * has its own timeout, so a server that accepts the connection and never answers cannot hold the
 * deploy past the deadline. Answers that can only come from a broken app — a 5xx other than
 * 502/503/504, or a 2xx without the expected text (a themed error page, stale code) — end the
 * check early once `brokenLimit` of them came in a row: waiting out the timeout would only keep
 * the broken release live longer.
 */
async function pollHealth(url, timeoutSeconds, log, options = {}) {
    const intervalMs = options.intervalMs ?? 2000;
    const brokenLimit = options.brokenLimit ?? 3;
    const deadline = Date.now() + timeoutSeconds * 1000;
    const maxAttempts = Math.ceil((timeoutSeconds * 1000) / intervalMs) + 1;
    let last = 'no answer';
    let broken = 0;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        const started = Date.now();
        const remaining = deadline - started;
        if (remaining <= 0 || options.signal?.aborted)
            return { ok: false, last, attempts: attempt - 1, stoppedEarly: false, brokenInARow: broken };
        try {
            const response = await fetch(url, {
                redirect: 'follow',
                cache: 'no-store',
                signal: AbortSignal.any([
                    AbortSignal.timeout(Math.min(10_000, remaining)),
                    ...(options.signal ? [options.signal] : [])
                ])
            });
            const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
            const success = response.status >= 200 && response.status < 300;
            if (success && options.expect !== undefined) {
                const body = await readBody(response.body, BODY_LIMIT);
                if (body.includes(options.expect)) {
                    log.info(`health check: ${url} answered ${status} with '${options.expect}' (attempt ${attempt})`);
                    return {
                        ok: true,
                        last: status,
                        attempts: attempt,
                        stoppedEarly: false,
                        brokenInARow: broken
                    };
                }
                last = `${status} without '${options.expect}' in the body, which starts ${excerpt(body)}`;
                broken++;
            }
            else {
                await response.body?.cancel();
                last = status;
                if (success) {
                    log.info(`health check: ${url} answered ${last} (attempt ${attempt})`);
                    return { ok: true, last, attempts: attempt, stoppedEarly: false, brokenInARow: broken };
                }
                broken = isBrokenStatus(response.status) ? broken + 1 : 0;
            }
        }
        catch (error) {
            // A request the check's own deadline cut short says nothing new of the app: the message
            // keeps the answer before it (an earlier 503 says more than "aborted due to timeout").
            const cutByDeadline = Date.now() >= deadline && remaining < 10_000;
            if (!cutByDeadline || last === 'no answer') {
                const cause = error.cause;
                last = cause ? `${(0,errors/* messageOf */.bD)(error)} (${(0,errors/* messageOf */.bD)(cause)})` : (0,errors/* messageOf */.bD)(error);
            }
            broken = 0;
        }
        if (broken >= brokenLimit) {
            log.info(`health check: ${url}: ${last} (attempt ${attempt}); ${broken} in a row: giving up`);
            return { ok: false, last, attempts: attempt, stoppedEarly: true, brokenInARow: broken };
        }
        log.info(`health check: ${url}: ${last} (attempt ${attempt}); trying again`);
        const wait = Math.min(intervalMs - (Date.now() - started), deadline - Date.now());
        if (wait > 0)
            await new Promise(resolve => setTimeout(resolve, wait));
    }
    return { ok: false, last, attempts: maxAttempts, stoppedEarly: false, brokenInARow: broken };
}
/** Why a failed check failed, in one sentence. */
function describeHealthFailure(url, timeoutSeconds, health, expect) {
    if (health.stoppedEarly)
        return `${url} answered like a broken app ${health.brokenInARow} times in a row (stopped before the ${timeoutSeconds}s timeout); last: ${health.last}`;
    const wanted = expect === undefined ? '2xx' : `2xx with '${expect}' in the body`;
    return `${url} did not answer ${wanted} within ${timeoutSeconds}s; last: ${health.last}`;
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/concurrency.js
/**
 * Run `work` over `items`, at most `limit` at a time, and wait for all of them: the barrier at
 * the end of each phase. After a failure no new item starts (the group will abort anyway), but
 * the ones in flight finish, so none is left half-way. Never throws: returns the failures.
 */
async function forEachLimited(items, limit, work, options = {}) {
    const stopOnError = options.stopOnError ?? true;
    const failures = [];
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            if (stopOnError && failures.length > 0)
                return;
            const item = items[next++];
            try {
                await work(item);
            }
            catch (error) {
                failures.push({ item, error });
            }
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
    return failures;
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-finish.js
/**
 * Phase 9 across servers, and the way out before it: finish (record, prune, unlock) everywhere,
 * or abort (remove the prepared releases, release the locks) after a failure before the switch.
 */


/** Phase 9 everywhere; a failure here is reported but changes nothing live. */
async function finishAll(run, plan) {
    await run.deps.group('Prune and unlock', async () => {
        const failures = await run.phase(run.sessions, 'finish', s => {
            const { events, prune, spare } = plan(s);
            return s.finish(events, prune, spare);
        });
        run.saveLocks();
        for (const f of failures) {
            f.item.log.warning(`finishing failed: ${(0,errors/* messageOf */.bD)(f.error)}. The release is live; the lock may still be held: the post step tries to release it, or run 'mode: unlock'.`);
        }
    });
}
/** Remove prepared releases and release locks: the way out of any failure before the switch. */
async function abortAll(run) {
    await forEachLimited(run.sessions.filter(s => s.prepared !== undefined || s.lockToken !== undefined), run.settings.maxParallel, async (s) => {
        try {
            await s.abort();
            if (s.report.status === 'pending')
                s.report.status = 'aborted';
        }
        catch (error) {
            s.log.warning(`cleanup failed: ${(0,errors/* messageOf */.bD)(error)}. The next deploy removes the incomplete release; 'mode: unlock' clears the lock.`);
        }
    }, { stopOnError: false });
    run.saveLocks();
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-state.js
/**
 * The state of a group run and the types its phases share: what the deploy needs from outside,
 * what it returns, and how a failure of the whole group is reported.
 */


/** A failure of the whole group, with the servers that caused it. */
class GroupError extends Error {
    causes;
    result;
    name = 'GroupError';
    constructor(message, causes, result) {
        super(message);
        this.causes = causes;
        this.result = result;
    }
}
function describeFailures(failures, what) {
    const lines = failures.map(f => `  ${(0,errors/* messageOf */.bD)(f.error)}`);
    return `${what} on ${failures.length} server${failures.length === 1 ? '' : 's'}:\n${lines.join('\n')}`;
}
/**
 * What the run of one action step against a group of servers learns on the way, and the helpers
 * every phase across servers uses (a phase with its barrier, failing the group, the locks held).
 * Each phase's logic is in its own module beside this one; GroupRun sequences them.
 */
class GroupState {
    settings;
    deps;
    sessions = [];
    rolledBack = false;
    releaseId;
    /**
     * With one server: the inspect phase's options, and its script as the connection's first,
     * made ready while the connection is made (prepareInspectAhead in group-inspect.ts); undefined
     * inside when the run's context could not be read.
     */
    inspectAhead;
    constructor(settings, deps) {
        this.settings = settings;
        this.deps = deps;
    }
    /**
     * The outputs describe what is live after the step: the new release once switched, otherwise
     * (a failure, a revert, a rollback after a failed health check, a dry run) the release that
     * was live before.
     */
    result() {
        const first = this.sessions[0];
        const live = first?.switchedTo ?? first?.liveRelease;
        return {
            releaseId: live,
            releasePath: first && live ? `${first.deployDir}/releases/${live}` : undefined,
            previousReleaseId: first?.liveRelease,
            ...(this.settings.dryRun && this.releaseId ? { plannedReleaseId: this.releaseId } : {}),
            rolledBack: this.rolledBack,
            sessions: this.sessions
        };
    }
    fail(message, causes) {
        throw new GroupError(message, causes, this.result());
    }
    checkAborted() {
        if (this.deps.signal.aborted)
            throw new errors/* AbortedError */.oM('cancelled (SIGINT/SIGTERM)');
    }
    /** Run one phase on the given sessions with the parallel limit; a barrier. */
    async phase(sessions, phase, work, limit = this.settings.maxParallel) {
        const failures = await forEachLimited(sessions, limit, s => s.timed(phase, () => work(s)));
        for (const f of failures) {
            f.item.report.status = 'failed';
            f.item.report.error = (0,errors/* messageOf */.bD)(f.error).replace(`${f.item.label}: `, '');
        }
        return failures;
    }
    /** Record failures in the servers' reports, as phase() does. */
    markFailed(failures) {
        for (const f of failures) {
            f.item.report.status = 'failed';
            f.item.report.error = (0,errors/* messageOf */.bD)(f.error).replace(`${f.item.label}: `, '');
        }
        return failures;
    }
    saveLocks() {
        this.deps.saveLocks(this.sessions
            .filter(s => s.lockToken !== undefined)
            .map(s => ({ server: s.server, deployDir: s.deployDir, token: s.lockToken })));
    }
    close() {
        for (const s of this.sessions)
            s.host.close();
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-switch.js
/**
 * Phase 7 across servers: the switch. Every server's `current` is swapped at once; if any
 * switch fails, the servers that switched (or may have) are switched back.
 */




/**
 * Phase 7: switch every server at once. If any switch fails, the ones that switched go back to
 * what they had, and the new releases are removed.
 */
async function switchAll(run, target, title) {
    await run.deps.group(title, async () => {
        run.checkAborted();
        const failures = await run.phase(run.sessions, 'switch', async (s) => {
            await s.switchTo(target(s));
            s.log.info(`current -> releases/${target(s)}`);
        }, run.sessions.length);
        if (failures.length > 0) {
            // Servers that switched, and those whose answer was lost and may have, go back.
            const reverted = await revert(run, run.sessions.filter(s => s.switchedTo !== undefined || s.switchUncertain !== undefined));
            await abortAll(run);
            run.fail(`${describeFailures(failures, 'Switch failed')}\n${reverted.length > 0 ? `Switched back: ${reverted.join(', ')}.` : 'No server had switched.'}`, failures.map(f => f.error));
        }
    });
}
/** Point switched servers back to the release they had before. Returns the labels reverted. */
async function revert(run, sessions) {
    const reverted = [];
    await forEachLimited(sessions, sessions.length, async (s) => {
        if (!s.host.connected) {
            // The connection dropped mid-switch: a new one finds out, and puts current back.
            s.host.close();
            s.host = await run.deps.connect(s.server);
        }
        if (s.liveRelease !== undefined) {
            // Safe whether or not the failed switch happened: it points current at the old release.
            await s.switchTo(s.liveRelease);
        }
        else {
            // First deploy: there was no current link, and there is none again.
            await s.removeCurrent();
        }
        s.switchedTo = undefined;
        s.switchUncertain = undefined;
        reverted.push(s.label);
        s.log.info(`switched back to ${s.liveRelease ?? '(no release)'}`);
    }, { stopOnError: false }).then(failures => {
        for (const f of failures) {
            const id = f.item.switchedTo ?? f.item.switchUncertain;
            f.item.log.warning(`could not switch back: ${(0,errors/* messageOf */.bD)(f.error)}. current may still point to releases/${id}; check it, and use 'mode: rollback' once the server is reachable.`);
        }
    });
    return reverted;
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-after-switch.js
/**
 * Phase 8 across servers: after-switch on every server, then the health check; when they fail,
 * the automatic rollback to what was live before (switchBack), which gets the same checks.
 */




/**
 * The checks a release gets once it is live, whether a deploy or a rollback put it there: the
 * hook on every server (with RELEASE_ID set to the release now live there), then the health
 * check. Undefined when everything passed.
 */
async function checkLive(run, sessions, hook, live, previous, restoring) {
    const { settings } = run;
    if (sessions.length === 0)
        return undefined;
    const what = [...new Set(sessions.map(live))].join(', ');
    let failure;
    if (hook) {
        const title = restoring ? `After rollback: ${hook.name} in ${what}` : 'After switch';
        await run.deps.group(title, async () => {
            const failures = await run.phase(sessions, 'after-switch', s => s.afterSwitch(hook.script, live(s), previous(s), hook.name));
            if (failures.length > 0)
                failure = {
                    message: describeFailures(failures, `${hook.name} failed`),
                    causes: failures.map(f => f.error)
                };
        });
    }
    if (failure === undefined && settings.healthCheckUrl) {
        const url = settings.healthCheckUrl;
        await run.deps.group(restoring ? `Health check of ${what}` : 'Health check', async () => {
            const started = Date.now();
            const health = await pollHealth(url, settings.healthCheckTimeout, run.deps.log, {
                signal: run.deps.signal,
                expect: settings.healthCheckExpect
            });
            for (const s of sessions)
                s.report.phases['health-check'] =
                    (s.report.phases['health-check'] ?? 0) + Date.now() - started;
            if (!health.ok) {
                const message = `Health check failed: ${describeHealthFailure(url, settings.healthCheckTimeout, health, settings.healthCheckExpect)}.`;
                failure = { message, causes: [new Error(message)] };
            }
        });
    }
    return failure;
}
/** The hook a release restored by a rollback gets: after-rollback, or else after-switch. */
function rollbackHook(run) {
    const { afterRollback, afterSwitch } = run.settings;
    if (afterRollback)
        return { name: 'after-rollback', script: afterRollback };
    if (afterSwitch)
        return { name: 'after-switch', script: afterSwitch };
    return undefined;
}
/**
 * A release that was live and failed its checks: switch every server back to the release it
 * had before this step, give that release the same checks, and record the failed one so it is
 * never a rollback target. Always ends in a GroupError that says what is live now.
 */
async function switchBack(run, failed, failure) {
    const { settings } = run;
    const switched = run.sessions.filter(s => s.switchedTo !== undefined);
    const reverted = await run.deps.group('Roll back', () => revert(run, switched));
    run.rolledBack = reverted.length > 0;
    const restored = switched.filter(s => s.switchedTo === undefined && s.liveRelease !== undefined);
    const restoredIds = [...new Set(restored.map(s => s.liveRelease))].join(', ');
    const restoreFailure = await checkLive(run, restored, rollbackHook(run), s => s.liveRelease, failed, true);
    const deploying = settings.mode === 'deploy';
    await finishAll(run, s => {
        const id = failed(s);
        // Where switching back failed, the failed release is still live.
        if (s.switchedTo !== undefined)
            return { events: [['live', id]], prune: [] };
        // A release that mode: rollback went back to passed its checks when it was live before:
        // failing them now is more likely something it depends on (a database, a cache warming
        // up) than its code. It keeps its state and its place, so running mode: rollback again
        // retries it; and, as after any rollback, nothing is pruned.
        if (!deploying)
            return { events: [], prune: [] };
        const events = [
            ['live', id],
            ['fail', id]
        ];
        if (s.liveRelease === undefined)
            return { events, prune: [] };
        events.push(['live', s.liveRelease]);
        // Older failed and rolled-back releases go, so failures in a row do not fill the disk;
        // good releases are left for the next successful deploy to prune. The failed release is
        // this run's: its start and ready are on the server, not in the log read at inspect.
        return {
            events,
            prune: s.pruneAfter(events, settings.keepReleases, s.liveRelease, id, id).filter(old => {
                const state = s.releaseState(old);
                return state === 'failed' || state === 'rolled-back';
            })
        };
    });
    for (const s of run.sessions) {
        s.report.status = s.switchedTo === undefined ? 'rolled-back' : 'failed';
        s.report.error ??= failure.message;
    }
    const back = restored.length > 0
        ? `Rolled back to ${restoredIds} on ${reverted.length} server${reverted.length === 1 ? '' : 's'}`
        : reverted.length > 0
            ? `Switched back on ${reverted.length} server${reverted.length === 1 ? '' : 's'}: there was no release before, so current was removed`
            : 'Could not switch back on any server';
    const checks = [
        ...(rollbackHook(run) ? [rollbackHook(run)?.name] : []),
        ...(settings.healthCheckUrl ? ['the health check'] : [])
    ].join(' and ');
    const after = restoreFailure
        ? `\nRelease ${restoredIds} fails its checks too after the rollback: ${restoreFailure.message}\nThe site may be down: check the servers, then deploy a fix or pick a release with 'mode: rollback' and 'rollback-to'.`
        : restored.length > 0 && checks !== ''
            ? `; ${restoredIds} passed ${checks}.`
            : '.';
    const retry = deploying
        ? ''
        : `\n${[...new Set(run.sessions.map(failed))].join(', ')} stays a rollback target (it passed its checks when it was live before): once what it depends on is back, run mode: rollback again, or choose another release with rollback-to.`;
    run.fail(`${failure.message}\n${back}${after}${retry}`, [
        ...failure.causes,
        ...(restoreFailure?.causes ?? [])
    ]);
}
/** Phase 8: after-switch everywhere, then the health check; roll back on failure. */
async function afterSwitchAndHealth(run, releaseId) {
    const { settings } = run;
    const hook = settings.afterSwitch
        ? { name: 'after-switch', script: settings.afterSwitch }
        : undefined;
    const failure = await checkLive(run, run.sessions, hook, () => releaseId, s => s.liveRelease, false);
    if (failure === undefined)
        return;
    if (!settings.rollbackOnFailure) {
        await finishAll(run, () => ({ events: [['live', releaseId]], prune: [] }));
        for (const s of run.sessions) {
            s.report.status = 'failed';
            s.report.error ??= failure.message;
        }
        run.fail(`${failure.message}\nrollback-on-failure is false: release ${releaseId} stays live.`, failure.causes);
    }
    await switchBack(run, () => releaseId, failure);
}

// EXTERNAL MODULE: ./build/bundle/js/server/remote-scripts.js + 2 modules
var remote_scripts = __webpack_require__(4200);
// EXTERNAL MODULE: ./build/bundle/js/server/script-output.js
var script_output = __webpack_require__(2738);
;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-after-switch.js
/**
 * Phase 8 on one server: the hook that runs in the release once it is live (after-switch, or
 * after-rollback for a release a rollback restored). The health check runs from the runner
 * (src/deploy/health-check.ts).
 */



/**
 * Run a hook (after-switch, after-rollback) in the release that is now live, `id`, with
 * `previous` as the release that was live before it.
 */
async function afterSwitch(s, script, id, previous, name = 'after-switch') {
    if (s.access === 'sftp')
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${name} needs a shell on the server`);
    const env = s.hookEnv(id);
    env.PREVIOUS_RELEASE_ID = previous ?? '';
    env.PREVIOUS_RELEASE_PATH = previous ? `${s.deployDir}/releases/${previous}` : '';
    const { result, output } = await s.script((0,remote_scripts/* hookScript */.Z4)({
        deployDir: s.deployDir,
        releaseId: id,
        name,
        script,
        env,
        umask: s.contentUmask
    }));
    const exit = (0,script_output/* value */.Uq)(output, 'hook-exit');
    if (result.code !== 0) {
        throw new errors/* RemoteCommandError */.at(`${s.label}: ${name} failed with ${exit ? `status ${exit.split(' ')[1]}` : `exit ${result.code}`} (release ${id})`, result.code, result.stderrTail);
    }
    s.log.info(`${name} exited with status ${exit?.split(' ')[1] ?? '0'} (release ${id})`);
}

// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
;// CONCATENATED MODULE: ./build/bundle/js/server/archive-stream.js
/**
 * The release archive on its way out: produced and compressed once, copied to every server that
 * takes the same archive, at the pace of the slowest, and compressed at the level the link
 * calls for.
 */


/**
 * Copies one stream to `count` outputs. A chunk is read from the source only once every output
 * took the previous one, so memory holds a chunk and the outputs' buffers, never the archive.
 * An output whose server is done with it (finished, or failed) is dropped and no longer waited
 * for; when all are dropped, the source is destroyed. A source error destroys every output with
 * it.
 */
class Fanout {
    source;
    outputs;
    produced = 0;
    blockedMs = 0;
    constructor(source, count) {
        this.source = source;
        this.outputs = Array.from({ length: count }, () => ({
            stream: new external_node_stream_.PassThrough({ highWaterMark: 64 * 1024 }),
            live: true
        }));
        void this.pump();
    }
    /** The stream for the i-th server. */
    output(i) {
        return this.outputs[i].stream;
    }
    /** How many bytes the i-th server has taken (see RunOptions.onStdinMeter). */
    attach(i, meter) {
        const output = this.outputs[i];
        if (output)
            output.meter = meter;
    }
    /** The i-th server no longer reads: stop waiting for it. */
    drop(i) {
        const output = this.outputs[i];
        if (!output || !output.live)
            return;
        output.live = false;
        output.wake?.();
        if (!output.stream.destroyed)
            output.stream.destroy();
        if (this.outputs.every(o => !o.live))
            this.source.destroy();
    }
    stats() {
        let delivered;
        for (const output of this.outputs) {
            if (!output.live)
                continue;
            const taken = output.meter?.();
            if (taken === undefined)
                return { produced: this.produced, delivered: undefined, blockedMs: this.blockedMs };
            delivered = delivered === undefined ? taken : Math.min(delivered, taken);
        }
        return { produced: this.produced, delivered, blockedMs: this.blockedMs };
    }
    async pump() {
        try {
            for await (const chunk of this.source) {
                this.produced += chunk.length;
                const waits = [];
                for (const output of this.outputs) {
                    if (!output.live)
                        continue;
                    if (!output.stream.write(chunk)) {
                        waits.push(new Promise(resolve => {
                            const done = () => {
                                output.stream.off('drain', done);
                                output.wake = undefined;
                                resolve();
                            };
                            output.wake = done;
                            output.stream.on('drain', done);
                        }));
                    }
                }
                if (waits.length > 0) {
                    const started = performance.now();
                    await Promise.all(waits);
                    this.blockedMs += performance.now() - started;
                }
                if (this.outputs.every(o => !o.live))
                    return;
            }
            for (const output of this.outputs)
                if (output.live)
                    output.stream.end();
        }
        catch (error) {
            for (const output of this.outputs)
                if (output.live)
                    output.stream.destroy(error);
        }
    }
}
/**
 * A gzip stream (RFC 1952) whose deflate level can change while it runs. Node's Gzip takes
 * params() but applies it only to deflate and raw deflate streams (in its zlib binding, a gzip
 * stream's level stays what it was made with: measured, a stream switched from 6 to 1 came out
 * byte for byte as level 6). So the deflate data comes from a raw deflate stream, and the gzip
 * header and trailer (CRC-32 and length of the input) are written here. Reading respects
 * backpressure: raw deflate output waits while this stream's reader does.
 */
class LevelGzip extends external_node_stream_.Duplex {
    deflate;
    crc = 0;
    size = 0;
    nextLevel;
    constructor(level) {
        super({ readableHighWaterMark: 64 * 1024 });
        this.deflate = (0,external_node_zlib_.createDeflateRaw)({ level, chunkSize: 64 * 1024 });
        // ID1 ID2, CM deflate, no flags, no mtime, no extra flags, OS unknown.
        this.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]));
        this.deflate.on('data', (chunk) => {
            if (!this.push(chunk))
                this.deflate.pause();
        });
        this.deflate.on('end', () => {
            const trailer = Buffer.alloc(8);
            trailer.writeUInt32LE(this.crc >>> 0, 0);
            trailer.writeUInt32LE(this.size % 2 ** 32, 4);
            this.push(trailer);
            this.push(null);
        });
        this.deflate.on('error', error => this.destroy(error));
    }
    _read() {
        this.deflate.resume();
    }
    _write(chunk, _encoding, done) {
        const level = this.nextLevel;
        if (level !== undefined) {
            // The raw deflate stream flushes, then sets the level in its callback; a write queued
            // behind the flush could be under way in the zlib thread by then, and the level change
            // would corrupt it (measured: "invalid block type" on decompression). So nothing is
            // written until the change is made.
            this.nextLevel = undefined;
            this.deflate.params(level, external_node_zlib_.constants.Z_DEFAULT_STRATEGY, () => {
                this._write(chunk, _encoding, done);
            });
            return;
        }
        this.crc = (0,external_node_zlib_.crc32)(chunk, this.crc);
        this.size += chunk.length;
        if (this.deflate.write(chunk))
            done();
        else
            this.deflate.once('drain', () => done());
    }
    _final(done) {
        this.deflate.end();
        done();
    }
    _destroy(error, done) {
        this.deflate.destroy();
        done(error);
    }
    /** Change the deflate level from the next write on; what was written before keeps the old one. */
    params(level) {
        this.nextLevel = level;
    }
}
/** Deflate levels the link chooses between: gzip's cheapest, and its default. */
const CHEAP_LEVEL = 1;
const DENSE_LEVEL = 6;
/** How often the level is reconsidered, ms; and the first time, how often the meter is read. */
const WINDOW_MS = 100;
const FIRST_TICK_MS = 20;
/**
 * The first bytes a server takes come in a burst (what sshd had buffered before the command read
 * its input): the rate is measured from this long after the first byte, for at least as long.
 */
const BURST_MS = 40;
const MEASURE_MS = 100;
/** Seconds of backlog (made, not yet taken) above which the link is what the stream waits on. */
const SLOW_BACKLOG_S = 0.3;
/** Seconds of backlog below which the link keeps up with what is made. */
const FAST_BACKLOG_S = 0.1;
/**
 * Adjust a gzip stream's level to the link, from what the servers take (SSH window adjustments)
 * against what was made: the backlog, in seconds of the rate they take it at.
 *
 * - It starts dense: on a slow link every byte counts from the first, and several megabytes fit
 *   in the buffers before any server says how fast it takes them.
 * - Once the servers take the stream, their rate is measured (past the first burst), and the
 *   backlog tells: one that would take more than 0.3 s to go means the link is what the
 *   transfer waits on, and the stream stays dense; a smaller one means the link keeps up with
 *   the compressor, and the stream goes cheap.
 * - Then, every window: a backlog that grew past 0.3 s makes it dense again, one under 0.1 s
 *   cheap. The window after a change is skipped, as the buffers settle.
 *
 * Measured on a 3,500-file tree (30 MB): level 1 sends 15.7 MB in about 0.7 s of CPU, level 6
 * 14.0 MB in about 1.7 s; through 1 MiB/s the 1.7 MB are 1.6 s, on a fast link the CPU is.
 * Returns a function that stops the adjustments.
 */
function adaptLevel(gzip, link, onChange) {
    let level = DENSE_LEVEL;
    let first;
    let mark;
    let rate = 0;
    let skip = false;
    let last = { at: 0, delivered: 0 };
    const set = (next, why) => {
        if (next === level || gzip.destroyed || gzip.writableEnded)
            return;
        level = next;
        skip = true;
        onChange?.(next, why);
        gzip.params(next);
    };
    const tick = () => {
        const now = link();
        if (now.delivered === undefined)
            return;
        const at = performance.now();
        const backlog = now.produced - now.delivered;
        if (rate === 0) {
            if (now.delivered === 0)
                return;
            first ??= at;
            if (!mark) {
                if (at - first >= BURST_MS)
                    mark = { at, delivered: now.delivered };
                return;
            }
            if (at - mark.at < MEASURE_MS)
                return;
            rate = Math.max(1, (now.delivered - mark.delivered) / ((at - mark.at) / 1000));
            last = { at, delivered: now.delivered };
            if (backlog / rate < SLOW_BACKLOG_S)
                set(CHEAP_LEVEL, 'the link keeps up');
            return;
        }
        if (at - last.at < WINDOW_MS)
            return;
        const taken = now.delivered - last.delivered;
        if (taken > 0)
            rate = taken / ((at - last.at) / 1000);
        last = { at, delivered: now.delivered };
        if (skip) {
            skip = false;
            return;
        }
        const seconds = backlog / rate;
        if (seconds > SLOW_BACKLOG_S)
            set(DENSE_LEVEL, 'the link is slower');
        else if (seconds < FAST_BACKLOG_S)
            set(CHEAP_LEVEL, 'the link keeps up');
    };
    const timer = setInterval(tick, FIRST_TICK_MS);
    timer.unref();
    const stop = () => clearInterval(timer);
    gzip.once('end', stop).once('close', stop).once('error', stop);
    return stop;
}

// EXTERNAL MODULE: ./build/bundle/js/server/server-data.js
var server_data = __webpack_require__(2959);
;// CONCATENATED MODULE: ./build/bundle/js/release/compact-manifest.js
/**
 * The manifest as the server keeps it: one line per entry, which POSIX tools can sort, join and
 * rewrite, so a deploy sends only what changed and the server puts the new manifest together.
 *
 * A line is `<path> <type> <mode> <size> <extra>`, fields separated by one space:
 * - path: relative, '/'-separated, escaped (below);
 * - type: `f` file, `d` directory, `l` symlink;
 * - mode: a file's deployed permission bits in octal, as `find -printf %m` prints them (no
 *   leading 0); `777` for a symlink; `-` for a directory, whose mode the server's umask decides
 *   (a directory whose mode changed in the source is no change to deploy, so its line must not
 *   change either: the manifest the server puts together would no longer be the source's);
 * - size: bytes of a file, bytes of a symlink's target, 0 for a directory;
 * - extra: a file's sha256 (64 hex digits), a symlink's target (escaped), `-` for a directory.
 *
 * Escaping keeps a line one line and a field one field: `\` becomes `\\`, a line feed `\n`, a
 * carriage return `\r`, a tab `\t`, a space `\s`. Nothing else is special, so a name's other
 * bytes (UTF-8 included) stay as they are.
 *
 * The manifest file holds the lines sorted bytewise (`LC_ALL=C sort`), each ending in a line
 * feed; its digest is the sha256 of those bytes. Both sides compute it: the runner from the
 * source, the server from the file it assembled (the live manifest less what changed, plus
 * what the runner sent), and a deploy goes on only when they agree.
 *
 * The view is what the next deploy downloads to plan against: the same lines with a file's
 * sha256 cut to its first 16 hex digits (64 bits), about a quarter of the bytes once gzipped. A
 * changed file is taken for unchanged only if its path, mode and size are the same and those 64
 * bits of its digest too (a chance of 2^-64 per changed file); the verification before the
 * switch then still compares every path's type, size and mode, and the uploaded files' sha256.
 */



/** Hex digits of a file's sha256 kept in the view. */
const VIEW_DIGITS = 16;
/** What escapeField rewrites: most names hold none of it, and are taken as they are. */
const ESCAPED = /[\\\n\r\t ]/;
function escapeField(text) {
    // A test before the replace: a deploy makes its lines once, before the engine optimises
    // the replace's callback (measured: a 50,000-entry manifest's lines in 20 ms, not 55 ms).
    if (!ESCAPED.test(text))
        return text;
    return text.replace(/[\\\n\r\t ]/g, c => c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : '\\s');
}
/** What makes unescapeField look closer: an escape, or what escapeField never leaves. */
const UNESCAPE_NEEDED = /[\\ \n\r\t]/;
/** The inverse of escapeField; undefined for a text escapeField cannot have made. */
function unescapeField(text) {
    // Most names have nothing escaped: taken as they are, not rebuilt a character at a time.
    if (!UNESCAPE_NEEDED.test(text))
        return text;
    let out = '';
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t')
            return undefined;
        if (c !== '\\') {
            out += c;
            continue;
        }
        const next = text[++i];
        if (next === '\\')
            out += '\\';
        else if (next === 'n')
            out += '\n';
        else if (next === 'r')
            out += '\r';
        else if (next === 't')
            out += '\t';
        else if (next === 's')
            out += ' ';
        else
            return undefined;
    }
    return out;
}
/** An entry's line, without the line feed. */
function manifestLine(e) {
    const path = escapeField(e.path);
    switch (e.type) {
        case 'file':
            return `${path} f ${e.mode.toString(8)} ${e.size} ${e.sha256 ?? ''}`;
        case 'dir':
            return `${path} d - 0 -`;
        case 'symlink':
            return `${path} l 777 ${e.size} ${escapeField(e.target ?? '')}`;
    }
}
/** Lines in the manifest file's order: bytewise, as `LC_ALL=C sort` orders them. */
function sortLines(lines) {
    return sortNames(lines);
}
/** Source views by scan, made or to be made (see sourceManifestAndView). */
const localViews = new WeakMap();
/** The manifest file of `entries`, and its digest. */
function compactManifest(entries) {
    return withDigest(joinLines(sortLines(entries.map(manifestLine))));
}
function withDigest(text) {
    return { text, digest: (0,external_node_crypto_.createHash)('sha256').update(text).digest('hex') };
}
/** Lines as one buffer, each ending in a line feed (made 64 KB of text at a time). */
function joinLines(lines) {
    const pieces = [];
    let chunk = '';
    for (const line of lines) {
        chunk += `${line}\n`;
        if (chunk.length >= 65_536) {
            pieces.push(Buffer.from(chunk));
            chunk = '';
        }
    }
    pieces.push(Buffer.from(chunk));
    return Buffer.concat(pieces);
}
/**
 * The source's manifest file and digest (as compactManifest makes them), and a function that
 * makes its view (as localView makes it) from the same sort of the lines, kept for localView: the
 * digest can go to the servers first, and the view be made while they answer. A view line is its
 * manifest line with a file's digest cut, and lines differ by their path, which ends at the
 * first space: cutting digests leaves the order as it is, so the view needs no sort of its own.
 * Each line carries its entry's index after a line feed, which no line holds (escaped), through
 * the sort: no line is the start of another (a path ends at the first space, and paths differ),
 * so what follows a line never changes its place.
 */
function sourceManifestAndView(entries) {
    const keyed = sortLines(entries.map((e, i) => `${manifestLine(e)}\n${i}`));
    const n = keyed.length;
    const lines = new Array(n);
    const ordered = new Array(n);
    for (let i = 0; i < n; i++) {
        const k = keyed[i];
        const cut = k.lastIndexOf('\n');
        lines[i] = k.slice(0, cut);
        ordered[i] = entries[Number(k.slice(cut + 1))];
    }
    let made;
    const view = () => {
        if (made)
            return made;
        const viewLines = new Array(n);
        const starts = new Uint32Array(n + 1);
        let at = 0;
        for (let i = 0; i < n; i++) {
            const line = lines[i];
            const viewLine = ordered[i]?.type === 'file' ? line.slice(0, line.length - 64 + VIEW_DIGITS) : line;
            viewLines[i] = viewLine;
            starts[i] = at;
            at += Buffer.byteLength(viewLine) + 1;
        }
        starts[n] = at;
        made = { text: joinLines(viewLines), starts, entries: ordered };
        return made;
    };
    if (!localViews.has(entries))
        localViews.set(entries, view);
    return { ...withDigest(joinLines(lines)), view };
}
/**
 * The view of a manifest file's bytes: each file's sha256 cut to VIEW_DIGITS hex digits, the
 * rest as it is (what lib/manifest.sh's manifest_view makes on the server, byte for byte).
 */
function manifestView(text) {
    const lines = text.toString('utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        const last = line.lastIndexOf(' ');
        // `<path> f <mode> <size> <sha256>`: the type is the second field.
        if (last > 0 && line.slice(line.indexOf(' '), line.indexOf(' ') + 3) === ' f ')
            lines[i] = line.slice(0, last + 1 + VIEW_DIGITS);
    }
    return Buffer.from(lines.join('\n'));
}
/** Manifest lines of `entries`, sorted, as one buffer (for the part of a manifest a deploy sends). */
function manifestText(entries) {
    return compactManifest(entries).text;
}
/** A file's digest in a view or a manifest: at least VIEW_DIGITS hex digits. */
const FILE_DIGITS = new RegExp(`^[0-9a-f]{${VIEW_DIGITS},64}$`);
/** A view or manifest read back from a server did not parse: the reason, naming the line. */
class ViewError extends Error {
    name = 'ViewError';
}
/**
 * One line of a view read back from a server, checked (`index` numbers it for the message). The
 * checks that need the other lines (no path twice, every parent a directory) are the caller's.
 */
function parseViewLine(line, index) {
    const bad = (why) => new ViewError(`line ${index + 1} ${why}: '${line.slice(0, 120)}'`);
    const fields = line.split(' ');
    if (fields.length !== 5)
        throw bad('does not have five fields');
    const [rawPath, type, modeText, sizeText, extra] = fields;
    const path = unescapeField(rawPath);
    if (path === undefined)
        throw bad('has a path that is not escaped as expected');
    // The same rule as for every path read back from a server (a name may hold a line break).
    const problem = (0,server_data/* relativePathProblem */.BE)(path, { newline: true });
    if (problem)
        throw bad(`has a path that is not inside the release: ${problem}`);
    if (type === 'd' ? modeText !== '-' : !/^[0-7]{1,4}$/.test(modeText))
        throw bad(type === 'd' ? 'is a directory with a mode' : 'has a mode that is not octal');
    if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText))
        throw bad('has a size that is not a number');
    // A directory's mode is the server's: the plan never compares it.
    const mode = type === 'd' ? 0 : parseInt(modeText, 8);
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size))
        throw bad('has a size out of range');
    if (type === 'f') {
        if (!FILE_DIGITS.test(extra))
            throw bad('has no sha256 digits');
        return { path, type: 'file', mode, size, mtime: 0, sha256: extra };
    }
    if (type === 'd') {
        if (extra !== '-')
            throw bad('is a directory with something after its size');
        return { path, type: 'dir', mode, size: 0, mtime: 0 };
    }
    if (type === 'l') {
        const target = unescapeField(extra);
        if (target === undefined || target === '' || target.includes('\0'))
            throw bad('has an invalid symlink target');
        if (Buffer.byteLength(target) !== size)
            throw bad('has a target whose length is not its size');
        return { path, type: 'symlink', mode: 0o777, size, mtime: 0, target };
    }
    throw bad(`has an unknown type '${type}'`);
}
/** Entries by depth, in their order within one: parents before their children, as the plan wants. */
function byDepth(entries) {
    const groups = [];
    for (const entry of entries) {
        let depth = 0;
        for (let i = entry.path.indexOf('/'); i >= 0; i = entry.path.indexOf('/', i + 1))
            depth++;
        (groups[depth] ??= []).push(entry);
    }
    return groups.flat();
}
/**
 * Parse a view (or a manifest: full digests are taken as they are) read back from a server. It
 * is checked as any manifest is: every line well formed, paths relative without '..', '.' or
 * empty segments, no path twice, every path's parent a directory of it (so a plan made from it
 * never writes beneath a symlink or a file). Files carry at least VIEW_DIGITS hex digits.
 */
function parseView(data) {
    const text = data.toString('utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '')
        lines.pop();
    const entries = [];
    const seen = new Set();
    const directories = new Set();
    lines.forEach((line, index) => {
        const entry = parseViewLine(line, index);
        if (seen.has(entry.path))
            throw new ViewError(`line ${index + 1} repeats a path: '${line.slice(0, 120)}'`);
        seen.add(entry.path);
        if (entry.type === 'dir')
            directories.add(entry.path);
        entries.push(entry);
    });
    entries.forEach(entry => {
        const slash = entry.path.lastIndexOf('/');
        if (slash > 0 && !directories.has(entry.path.slice(0, slash)))
            throw new ViewError(`${entry.path} lies beneath a path that is not a directory in it`);
    });
    return byDepth(entries);
}
/** The view of the source `entries`, made once per scan however many servers ask. */
function localView(entries) {
    return (localViews.get(entries) ?? sourceManifestAndView(entries).view)();
}
/** Bytes at which two buffers agree from `ai` and `bi` on: a few comparisons per 64 KB alike. */
function agreeing(a, ai, b, bi) {
    const max = Math.min(a.length - ai, b.length - bi);
    let n = 0;
    for (let step = 65_536; step >= 16; step >>= 4) {
        while (n + step <= max && a.compare(b, bi + n, bi + n + step, ai + n, ai + n + step) === 0)
            n += step;
    }
    while (n < max && a[ai + n] === b[bi + n])
        n++;
    return n;
}
/** Where the path of the line starting at `start` ends (its first space), or `end`. */
function pathEnd(data, start, end) {
    const space = data.indexOf(0x20, start);
    return space < 0 || space > end ? end : space;
}
/**
 * parseView of a server's view, read against the source's own (`local`): the same entries, and
 * the same errors. Both are sorted the same way, and from one deploy to the next most lines are
 * byte for byte the source's: runs of equal bytes are found a few comparisons per 64 KB, and
 * their lines are the source's entries, which need no checks; only the lines that differ are
 * parsed and checked (on a 50,000-line view with 20 files changed: 20 lines, not 50,000). What
 * the checks need of the other lines is learned as they pass: the lines must be sorted, each
 * after the one before with another path (so no path comes twice), and every path's parent must
 * be a directory of the view. A view that is not sorted is parsed whole, by parseView.
 */
function parseViewAgainst(data, local) {
    try {
        const parsed = readAgainst(data, local);
        if (parsed)
            return parsed;
    }
    catch (error) {
        if (!(error instanceof ViewError))
            throw error;
    }
    // Unsorted, or wrong somewhere: the whole view's reading says what, as it would have.
    return parseView(data);
}
function readAgainst(data, local) {
    const { text, starts, entries } = local;
    const n = entries.length;
    const matched = new Uint8Array(n);
    const out = [];
    /** Entries parsed from lines that are not the source's. */
    const parsed = [];
    const serverDirectories = new Set();
    let i = 0;
    let q = 0;
    let index = 0;
    // The previous line of the server's view, as offsets into `data` (none yet: -1).
    let prevStart = -1;
    let prevEnd = -1;
    /** The line q..end comes after the previous one, with another path. */
    const follows = (start, end) => {
        if (prevStart < 0)
            return true;
        if (data.compare(data, start, end, prevStart, prevEnd) >= 0)
            return false;
        const a = pathEnd(data, prevStart, prevEnd);
        const b = pathEnd(data, start, end);
        return !(a - prevStart === b - start && data.compare(data, start, b, prevStart, a) === 0);
    };
    /** A line that is not the source's, parsed and checked; false when it is out of order. */
    const takeParsed = (start, end) => {
        if (!follows(start, end))
            return false;
        const entry = parseViewLine(data.toString('utf8', start, end), index);
        out.push(entry);
        parsed.push(entry);
        if (entry.type === 'dir')
            serverDirectories.add(entry.path);
        return true;
    };
    while (q < data.length) {
        if (i < n) {
            const agree = agreeing(text, starts[i], data, q);
            // The last line of the source's that lies whole in the run.
            let lo = i;
            let hi = n;
            const limit = starts[i] + agree;
            while (lo < hi) {
                const mid = (lo + hi + 1) >> 1;
                if (starts[mid] <= limit)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            if (lo > i) {
                const first = q;
                const firstEnd = q + starts[i + 1] - starts[i] - 1;
                if (!follows(first, firstEnd))
                    return undefined;
                for (let k = i; k < lo; k++) {
                    out.push(entries[k]);
                    matched[k] = 1;
                }
                const consumed = starts[lo] - starts[i];
                prevStart = q + starts[lo - 1] - starts[i];
                prevEnd = q + consumed - 1;
                index += lo - i;
                q += consumed;
                i = lo;
                continue;
            }
        }
        const newline = data.indexOf(0x0a, q);
        const end = newline < 0 ? data.length : newline;
        const next = newline < 0 ? data.length : newline + 1;
        if (i < n) {
            const lStart = starts[i];
            const lEnd = starts[i + 1] - 1;
            const order = text.compare(data, q, end, lStart, lEnd);
            const lPath = pathEnd(text, lStart, lEnd);
            const sPath = pathEnd(data, q, end);
            const samePath = lPath - lStart === sPath - q && text.compare(data, q, sPath, lStart, lPath) === 0;
            if (order < 0 && !samePath) {
                // A line only the source has: the server's line is looked at again against the next.
                i++;
                continue;
            }
            if (order === 0) {
                // The source's line, the last of the view without its line feed.
                if (!follows(q, end))
                    return undefined;
                out.push(entries[i]);
                matched[i] = 1;
            }
            else if (!takeParsed(q, end))
                return undefined;
            if (samePath || order === 0)
                i++;
        }
        else if (!takeParsed(q, end))
            return undefined;
        prevStart = q;
        prevEnd = end;
        index++;
        q = next;
    }
    // Every parent a directory of the view: one of the lines parsed, or a directory of the
    // source's whose line the view has as it is.
    local.directories ??= new Map(entries.flatMap((e, k) => (e.type === 'dir' ? [[e.path, k]] : [])));
    const directories = local.directories;
    const isDirectory = (p) => {
        if (serverDirectories.has(p))
            return true;
        const k = directories.get(p);
        return k !== undefined && matched[k] === 1;
    };
    for (const entry of parsed) {
        const slash = entry.path.lastIndexOf('/');
        if (slash > 0 && !isDirectory(entry.path.slice(0, slash)))
            throw new ViewError(`${entry.path} lies beneath a path that is not a directory in it`);
    }
    // The source's lines the view has: their parents are directories of the source, and must be
    // of the view too (a directory's line is always the same, so it is one of them, or missing).
    const missing = new Set();
    for (const [p, k] of directories)
        if (matched[k] !== 1)
            missing.add(p);
    if (missing.size > 0) {
        for (let k = 0; k < n; k++) {
            if (matched[k] !== 1)
                continue;
            const p = entries[k].path;
            const slash = p.lastIndexOf('/');
            if (slash > 0 && missing.has(p.slice(0, slash)))
                throw new ViewError(`${p} lies beneath a path that is not a directory in it`);
        }
    }
    return byDepth(out);
}

;// CONCATENATED MODULE: ./build/bundle/js/progress.js

/**
 * Progress of an upload, printed every few seconds while it runs (a timer, so a single large
 * file still reports as it goes) and never after it is done.
 */
class UploadProgress {
    log;
    totalFiles;
    totalBytes;
    intervalMs;
    files = 0;
    bytes = 0;
    timer;
    constructor(log, totalFiles, totalBytes, intervalMs = 3000) {
        this.log = log;
        this.totalFiles = totalFiles;
        this.totalBytes = totalBytes;
        this.intervalMs = intervalMs;
    }
    start() {
        this.timer = setInterval(() => this.log.info(this.line()), this.intervalMs);
        this.timer.unref();
        return this;
    }
    stop() {
        clearInterval(this.timer);
        this.timer = undefined;
    }
    line() {
        const percent = this.totalBytes > 0 ? Math.min(100, Math.floor((this.bytes / this.totalBytes) * 100)) : 100;
        return `upload ${percent}%: ${formatCount(this.files)} of ${formatCount(this.totalFiles)} files, ${formatBytes(this.bytes)} of ${formatBytes(this.totalBytes)}`;
    }
}

// EXTERNAL MODULE: ./build/bundle/js/sftp/sftp-engine.js
var sftp_engine = __webpack_require__(785);
;// CONCATENATED MODULE: ./build/bundle/js/sftp/sftp-batch.js
/**
 * Many SFTP operations at once. The engine bounds what is in flight (requests, bytes, handles);
 * a batch only bounds how many operations wait in its queue, and stops the rest at the first
 * failure.
 */


/**
 * Operations a batch keeps started at once; the engine queues what its bounds hold back. As many
 * as the engine lets leave at once: a waiting operation costs a promise, and a smaller batch
 * splits a base of a few thousand hard links into two round trips.
 */
const BATCH_CONCURRENCY = sftp_engine/* MAX_REQUESTS */.aA;
/**
 * Run `work` over every item, with at most `concurrency` started and unfinished. The first
 * failure aborts the signal `work` receives, so operations still queued are never sent, and
 * is thrown once everything started has settled (a failure of its own before an abort).
 */
async function forEachPipelined(items, work, options = {}) {
    const controller = new AbortController();
    const parent = options.signal;
    const stop = () => controller.abort(parent?.reason);
    if (parent?.aborted)
        throw new errors/* AbortedError */.oM('cancelled', { cause: parent.reason });
    parent?.addEventListener('abort', stop, { once: true });
    let failure;
    const iterator = items[Symbol.iterator]();
    const worker = async () => {
        for (;;) {
            if (controller.signal.aborted)
                return;
            const next = iterator.next();
            if (next.done)
                return;
            try {
                await work(next.value, controller.signal);
            }
            catch (error) {
                // The first real failure wins over the aborts it causes in the others.
                if (failure === undefined ||
                    (failure instanceof errors/* AbortedError */.oM && !(error instanceof errors/* AbortedError */.oM)))
                    failure = error;
                controller.abort(error);
            }
        }
    };
    try {
        await Promise.all(Array.from({ length: options.concurrency ?? BATCH_CONCURRENCY }, worker));
    }
    finally {
        parent?.removeEventListener('abort', stop);
    }
    if (failure !== undefined)
        throw failure;
    if (parent?.aborted)
        throw new errors/* AbortedError */.oM('cancelled', { cause: parent.reason });
}

;// CONCATENATED MODULE: ./build/bundle/js/sftp/sftp-transfer.js
/**
 * Sending a release's entries over SFTP: directories first, then every file and symlink at
 * once, bounded by the engine.
 */


/**
 * Create directories, given parents before children (absolute paths), each with exactly `mode`
 * (mkdirExact: only inside a tree this run makes). All requests leave at once: sftp-server
 * handles them in order, so each parent exists when its child's mkdir arrives. A server that
 * does not keep the order gets the refused ones again, shallowest first.
 */
async function makeDirectories(files, dirs, mode, signal, 
/** The server's umask is known to leave `mode` whole (umaskSpares): no setstat follows. */
modeAtMkdir = false) {
    const make = (d) => modeAtMkdir ? files.mkdir(d, mode, signal) : files.mkdirExact(d, mode, signal);
    const results = await Promise.allSettled(dirs.map(make));
    const refused = dirs.filter((_, i) => results[i]?.status === 'rejected');
    if (refused.length === 0)
        return;
    if (signal?.aborted)
        throw results.find(r => r.status === 'rejected').reason;
    const depth = (p) => p.split('/').length;
    const levels = [...new Set(refused.map(depth))].sort((a, b) => a - b);
    for (const level of levels) {
        await Promise.all(refused.filter(d => depth(d) === level).map(make));
    }
}
/**
 * Which modes the server's umask leaves whole, learned from a directory this run just made:
 * asked for with `asked`, it came out with `got` (lstat right after the mkdir). sftp-server
 * creates with the mode it is given less its process umask (mkdir(2) and open(2) alike, OpenSSH
 * sftp-server.c process_mkdir and process_open), so the umask's bits within `asked` are
 * `asked & ~got`; a mode with no bit outside `asked` and none of those is created exactly as
 * asked, and the setstat that would follow its mkdir or open changes nothing. Anything else
 * (another bit, an unknown result) keeps the setstat. Verification reads every mode back either
 * way.
 */
function umaskSpares(asked, got) {
    if (got === undefined)
        return () => false;
    const kept = got & asked & 0o777;
    return mode => (mode & ~kept & 0o7777) === 0;
}
/**
 * `mkdir -p` for directories given parents first (absolute paths): each one missing is made;
 * one already there as a directory is fine (SFTP version 3 has no code for "exists": sftp-server
 * answers FAILURE, so an lstat tells).
 */
async function ensureDirectories(files, dirs, mode, signal) {
    const made = await Promise.allSettled(dirs.map(d => files.mkdir(d, mode, signal)));
    await Promise.all(made.map(async (m, i) => {
        if (m.status === 'fulfilled')
            return;
        const there = await files.lstat(dirs[i], signal);
        if (there?.type !== 'dir')
            throw m.reason;
    }));
}
/** Send `entries` (parents before children) under `options.root`. */
async function uploadEntries(files, entries, options) {
    const { root, signal } = options;
    // The mkdirs leave first and the files right behind them: the server answers as if each
    // request waited for the one before (draft-ietf-secsh-filexfer-02, section 6.1).
    const dirs = makeDirectories(files, entries.filter(e => e.type === 'dir').map(e => `${root}/${e.path}`), options.directoryMode, signal, options.modeAtOpen?.(options.directoryMode) ?? false);
    dirs.catch(() => undefined);
    const sent = forEachPipelined(entries.filter(e => e.type !== 'dir'), async (e, batchSignal) => {
        const remote = `${root}/${e.path}`;
        if (e.type === 'symlink') {
            await files.symlink(e.target ?? '', remote, batchSignal);
            return;
        }
        await files.writeFile(remote, { local: external_node_path_.join(options.sourceRoot, e.path), size: e.size, sha256: e.sha256 }, {
            mode: e.mode,
            modeAtOpen: options.modeAtOpen?.(e.mode) ?? false,
            signal: batchSignal,
            ...(options.temporaryDir ? { temporaryDir: options.temporaryDir } : {})
        });
        options.onFile?.(e);
    }, { signal });
    // A failed mkdir is the cause to report, rather than the files it left without a directory.
    const [dirsResult, sentResult] = await Promise.allSettled([dirs, sent]);
    if (dirsResult.status === 'rejected')
        throw dirsResult.reason;
    if (sentResult.status === 'rejected')
        throw sentResult.reason;
}

;// CONCATENATED MODULE: ./build/bundle/js/release/tar-writer.js
/**
 * A streaming writer for the tar archive the deploy pipes into `tar -x -p -o -f - -C <dir>` on
 * the server, where the extracting tool is GNU tar or BusyBox tar.
 *
 * Format: POSIX ustar headers (POSIX.1-2001 "pax" spec, section "ustar Interchange Format"), with
 * GNU long-name records ('L' for the entry name, 'K' for the symlink target) for values longer
 * than the 100-byte header fields. Why GNU records and not pax 'x' records with path/linkpath:
 * both tools extract both kinds, but GNU tar decodes pax path/linkpath values from UTF-8 into the
 * charset of the current locale (a name with "ü" comes out as byte 0xFC under an ISO-8859-1
 * locale, and GNU tar 1.34 ignores `hdrcharset=BINARY`), whereas 'L'/'K' contents are used as raw
 * bytes by both tools, exactly like the ustar name field. Names that are not ASCII but fit in 100
 * bytes therefore need no extended record: both tools take the header bytes verbatim.
 */



const BLOCK = 512;
/** ustar field widths: name and linkname are 100 bytes (POSIX ustar header layout). */
const NAME_FIELD = 100;
/** GNU tar's name for the pseudo-entry that carries a long name or link target. */
const LONG_LINK_NAME = '././@LongLink';
/** An archive ends with two zero blocks (POSIX: "two consecutive blocks of zero-filled records"). */
const END_OF_ARCHIVE_BYTES = 2 * BLOCK;
/** 11 octal digits (the 12-byte size/mtime fields less the terminator) hold values below 8^11 = 8 GiB. */
const OCTAL_11_LIMIT = 8 ** 11;
/** Small entries are packed into buffers of this size; a file that does not fit streams alone. */
const BATCH = 256 * 1024;
/** Read size for larger files; each chunk is a fresh buffer handed to the consumer. */
const CHUNK = 512 * 1024;
/** A file's size no longer matches the size recorded when the tree was scanned. */
function sizeChanged(path, expected, actual) {
    return new Error(`File ${JSON.stringify(path)} changed while it was being archived: ` +
        `expected ${expected} bytes, ${actual}`);
}
function invalid(entry, why) {
    return new Error(`Cannot archive ${JSON.stringify(entry.path)}: ${why}`);
}
function normalize(entry) {
    if (typeof entry.path !== 'string' || entry.path === '')
        throw invalid(entry, 'empty path');
    if (entry.path.includes('\0'))
        throw invalid(entry, 'the path contains NUL');
    const path = entry.type === 'dir' ? entry.path.replace(/\/+$/, '') : entry.path;
    // The extracting tar would strip a leading '/' and refuse or rewrite '..'; reject such paths
    // rather than let the server extract something other than what was listed.
    for (const segment of path.split('/')) {
        if (segment === '' || segment === '.' || segment === '..') {
            throw invalid(entry, 'the path must be relative, without empty, "." or ".." segments');
        }
    }
    if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) {
        throw invalid(entry, `mode ${entry.mode} is not a permission mask`);
    }
    if (!Number.isFinite(entry.mtime))
        throw invalid(entry, 'mtime is not a number');
    // Pre-epoch times are clamped: a deployed file has no use for them and octal cannot hold them.
    const mtime = Math.max(0, Math.floor(entry.mtime));
    const base = { path: entry.path, mode: entry.mode, mtime };
    switch (entry.type) {
        case 'dir':
            return { ...base, name: Buffer.from(`${path}/`), typeflag: '5', size: 0 };
        case 'symlink': {
            const target = entry.target;
            if (typeof target !== 'string' || target === '')
                throw invalid(entry, 'no symlink target');
            if (target.includes('\0'))
                throw invalid(entry, 'the symlink target contains NUL');
            return { ...base, name: Buffer.from(path), typeflag: '2', size: 0, link: Buffer.from(target) };
        }
        case 'file': {
            if ((entry.source === undefined) === (entry.data === undefined)) {
                throw invalid(entry, 'a file needs exactly one of `source` and `data`');
            }
            const size = entry.size ?? entry.data?.length;
            if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
                throw invalid(entry, 'a file from `source` needs a byte size');
            }
            if (entry.data !== undefined && entry.data.length !== size) {
                throw invalid(entry, `size ${size} does not match the ${entry.data.length} bytes of data`);
            }
            return {
                ...base,
                name: Buffer.from(path),
                typeflag: '0',
                size,
                source: entry.source,
                data: entry.data
            };
        }
        default:
            throw invalid(entry, `unknown entry type ${JSON.stringify(entry.type)}`);
    }
}
function padding(size) {
    return (BLOCK - (size % BLOCK)) % BLOCK;
}
/** Octal digits, zero-filled, NUL-terminated: the form GNU tar writes in ustar mode. */
function writeOctal(block, offset, width, value) {
    block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}
/**
 * Size and mtime: octal when it fits, else the GNU base-256 form (first byte 0x80, then the
 * value big-endian), which GNU tar and BusyBox tar (`getOctal`) both decode.
 */
function writeNumber(block, offset, width, value) {
    if (value < OCTAL_11_LIMIT) {
        writeOctal(block, offset, width, value);
        return;
    }
    let rest = BigInt(value);
    for (let i = offset + width - 1; i > offset; i--) {
        block[i] = Number(rest & 0xffn);
        rest >>= 8n;
    }
    block[offset] = 0x80;
}
function ustarHeader(name, typeflag, mode, size, mtime, link) {
    const block = Buffer.alloc(BLOCK);
    // When the name is longer, GNU tar also fills the field with its first 100 bytes; readers
    // take the name from the preceding 'L' record.
    name.copy(block, 0, 0, Math.min(name.length, NAME_FIELD));
    writeOctal(block, 100, 8, mode);
    writeOctal(block, 108, 8, 0); // uid
    writeOctal(block, 116, 8, 0); // gid
    writeNumber(block, 124, 12, size);
    writeNumber(block, 136, 12, mtime);
    block.write(typeflag, 156, 1, 'latin1');
    link?.copy(block, 157, 0, Math.min(link.length, NAME_FIELD));
    block.write('ustar\0', 257, 6, 'latin1');
    block.write('00', 263, 2, 'latin1');
    // uname and gname (265, 297) stay empty: the server extracts with -o, owner names are unused.
    writeOctal(block, 329, 8, 0); // devmajor
    writeOctal(block, 337, 8, 0); // devminor
    // Checksum: the sum of all header bytes taken as unsigned, with the checksum field itself
    // counted as eight spaces; stored as six octal digits, NUL, space (as GNU tar writes it).
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of block)
        sum += byte;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    return block;
}
/** A GNU long-name pseudo-entry: a header, then the value NUL-terminated and padded. */
function longLink(kind, value, mtime) {
    const size = value.length + 1;
    const header = ustarHeader(Buffer.from(LONG_LINK_NAME), kind, 0o644, size, mtime);
    const out = Buffer.alloc(BLOCK + size + padding(size));
    header.copy(out, 0);
    value.copy(out, BLOCK);
    return out;
}
function longLinkBytes(value) {
    return value.length > NAME_FIELD ? BLOCK + value.length + 1 + padding(value.length + 1) : 0;
}
/** All header blocks of an entry: the 'K' and 'L' records it needs, then its ustar header. */
function encodeHeaders(entry) {
    const parts = [];
    if (entry.link && entry.link.length > NAME_FIELD) {
        parts.push(longLink('K', entry.link, entry.mtime));
    }
    if (entry.name.length > NAME_FIELD)
        parts.push(longLink('L', entry.name, entry.mtime));
    parts.push(ustarHeader(entry.name, entry.typeflag, entry.mode, entry.size, entry.mtime, entry.link));
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
function entryBytes(entry) {
    return ((entry.link ? longLinkBytes(entry.link) : 0) +
        longLinkBytes(entry.name) +
        BLOCK +
        entry.size +
        padding(entry.size));
}
/** Size in bytes the archive will have for these entries (headers + padded content + end blocks), computed without reading files — used for progress percentages. */
function tarSize(entries) {
    let total = END_OF_ARCHIVE_BYTES;
    for (const entry of entries)
        total += entryBytes(normalize(entry));
    return total;
}
/** Reads exactly `length` bytes at `position` of `fd` into `buffer`, or fails naming the entry. */
function readExactly(fd, entry, buffer, offset, length, position) {
    let done = 0;
    while (done < length) {
        const bytesRead = (0,external_node_fs_.readSync)(fd, buffer, offset + done, length - done, position + done);
        if (bytesRead === 0) {
            throw sizeChanged(entry.path, entry.size, `but it ended after ${position + done}`);
        }
        done += bytesRead;
    }
}
/** After the expected bytes, the file must be at its end; a growing file fails the archive. */
function expectEnd(fd, entry) {
    if ((0,external_node_fs_.readSync)(fd, Buffer.alloc(1), 0, 1, entry.size) !== 0) {
        throw sizeChanged(entry.path, entry.size, 'but it has grown');
    }
}
/** Open a source file and check it is still the regular file of the expected size. */
function openSource(raw, entry) {
    // O_NONBLOCK: opening a FIFO that took the place of a scanned file would otherwise wait for a
    // writer forever; it now opens at once and fails the regular-file check. No effect on files.
    const fd = (0,external_node_fs_.openSync)(entry.source, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NONBLOCK);
    try {
        const stat = (0,external_node_fs_.fstatSync)(fd);
        if (!stat.isFile())
            throw invalid(raw, `${JSON.stringify(entry.source)} is not a regular file`);
        if (stat.size !== entry.size) {
            throw sizeChanged(entry.path, entry.size, `but it now has ${stat.size}`);
        }
        return fd;
    }
    catch (error) {
        (0,external_node_fs_.closeSync)(fd);
        throw error;
    }
}
function iteratorOf(entries) {
    if (Symbol.asyncIterator in entries)
        return entries[Symbol.asyncIterator]();
    return entries[Symbol.iterator]();
}
/**
 * Yields the archive as buffers of about BATCH bytes, read only as the consumer asks for more.
 *
 * Reads are synchronous on purpose: a file's open, fstat, read and close cost a few microseconds
 * each as system calls, but tens as round trips through libuv's thread pool, and for a tree of
 * thousands of small files that difference is most of the archive's time (measured: 3,500 files,
 * 34 MB, 670 ms with promise-based reads and read-ahead, against a fraction of that here). Small
 * entries are packed together into one buffer, so the consumer (gzip, then an SSH channel that
 * sends one packet per write) sees few large writes instead of thousands of small ones. Memory
 * stays bounded: at most one batch and one chunk of a large file are held.
 */
async function* archiveChunks(entries, onEntry) {
    const source = iteratorOf(entries);
    let exhausted = false;
    let fd;
    const progress = { files: 0, bytes: 0 };
    let batch = Buffer.allocUnsafe(BATCH);
    let filled = 0;
    /** Append to the batch; full batches are handed out whole, and a new one begins. */
    const take = () => {
        const out = batch.subarray(0, filled);
        batch = Buffer.allocUnsafe(BATCH);
        filled = 0;
        return out;
    };
    try {
        for (;;) {
            const next = await source.next();
            if (next.done) {
                exhausted = true;
                break;
            }
            const raw = next.value;
            const entry = normalize(raw);
            const headers = encodeHeaders(entry);
            const contentBytes = entry.typeflag === '0' ? entry.size + padding(entry.size) : 0;
            if (filled + headers.length + Math.min(contentBytes, BATCH) > BATCH && filled > 0) {
                yield take();
            }
            headers.copy(batch, filled);
            filled += headers.length;
            progress.bytes += headers.length;
            if (entry.typeflag === '0') {
                if (entry.data && contentBytes <= BATCH - filled) {
                    entry.data.copy(batch, filled);
                    batch.fill(0, filled + entry.size, filled + contentBytes);
                    filled += contentBytes;
                    progress.bytes += contentBytes;
                }
                else if (entry.data) {
                    // Generated content larger than a batch goes out whole, with its padding.
                    if (filled > 0)
                        yield take();
                    const padded = Buffer.concat([entry.data, Buffer.alloc(padding(entry.size))]);
                    progress.bytes += padded.length;
                    yield padded;
                }
                else if (contentBytes <= BATCH - filled) {
                    // Fits in the batch: read it in place, zero the padding.
                    fd = openSource(raw, entry);
                    readExactly(fd, entry, batch, filled, entry.size, 0);
                    expectEnd(fd, entry);
                    (0,external_node_fs_.closeSync)(fd);
                    fd = undefined;
                    batch.fill(0, filled + entry.size, filled + contentBytes);
                    filled += contentBytes;
                    progress.bytes += contentBytes;
                }
                else {
                    // A large file streams in chunks of its own, after what the batch holds.
                    if (filled > 0)
                        yield take();
                    fd = openSource(raw, entry);
                    let position = 0;
                    while (position < entry.size) {
                        const length = Math.min(CHUNK, entry.size - position);
                        const last = position + length === entry.size;
                        // Buffer.alloc zero-fills, which provides the padding of the last chunk.
                        const chunk = last
                            ? Buffer.alloc(length + padding(entry.size))
                            : Buffer.allocUnsafe(length);
                        readExactly(fd, entry, chunk, 0, length, position);
                        position += length;
                        progress.bytes += chunk.length;
                        yield chunk;
                    }
                    expectEnd(fd, entry);
                    (0,external_node_fs_.closeSync)(fd);
                    fd = undefined;
                }
            }
            progress.files++;
            onEntry?.({ ...progress }, raw);
        }
        if (filled + END_OF_ARCHIVE_BYTES > BATCH)
            yield take();
        batch.fill(0, filled, filled + END_OF_ARCHIVE_BYTES);
        filled += END_OF_ARCHIVE_BYTES;
        yield take();
    }
    finally {
        if (fd !== undefined)
            (0,external_node_fs_.closeSync)(fd);
        if (!exhausted)
            await source.return?.();
    }
}
/** Pulls buffers from the generator only while the consumer wants more (backpressure). */
class TarReadable extends external_node_stream_.Readable {
    #chunks;
    #pumping = false;
    /** Set by every _read call, including one made while a push is in progress. */
    #wanted = false;
    constructor(chunks) {
        super({ highWaterMark: BATCH });
        this.#chunks = chunks;
    }
    _read() {
        this.#wanted = true;
        if (!this.#pumping)
            void this.#pump();
    }
    async #pump() {
        this.#pumping = true;
        try {
            while (this.#wanted) {
                this.#wanted = false;
                const next = await this.#chunks.next();
                if (this.destroyed)
                    return;
                if (next.done) {
                    this.push(null);
                    return;
                }
                // push() returning true asks for more; false means wait for the next _read. A _read
                // that arrived during push() (a 'data' listener calling read()) also sets #wanted: Node
                // does not call _read again until something is pushed, so it must not be dropped.
                if (this.push(next.value))
                    this.#wanted = true;
            }
        }
        catch (error) {
            this.destroy(error);
        }
        finally {
            this.#pumping = false;
        }
    }
    _destroy(error, callback) {
        // return() is queued behind a pending next(), then runs the generator's cleanup (closing open
        // files, ending the entry iterator). The callback does not wait for it: an entry source that
        // never settles must not keep the error from being reported.
        this.#chunks.return(undefined).catch(() => { });
        callback(error);
    }
}
/** A Readable of the whole archive (ending with the two zero blocks). Entries are consumed lazily from an iterable or async iterable, in order. If a `source` file's size differs from `size` when read (it changed since it was scanned), the stream errors with a message naming the path. Memory must not grow with file size or file count: stream file content, respect backpressure. Read-ahead: open the next few files while the current one streams, so many small files do not cost one syscall round per file serially. */
function createTarStream(entries, options = {}) {
    const stream = new TarReadable(archiveChunks(entries, options.onEntry));
    const { signal } = options;
    if (signal) {
        const abort = () => {
            stream.destroy(new errors/* AbortedError */.oM('The archive stream was aborted', { cause: signal.reason }));
        };
        if (signal.aborted) {
            abort();
        }
        else {
            signal.addEventListener('abort', abort, { once: true });
            stream.once('close', () => signal.removeEventListener('abort', abort));
        }
    }
    return stream;
}

;// CONCATENATED MODULE: ./build/bundle/js/server/upload.js
/**
 * What travels to the server for a release: the metadata files (the manifest lines of what
 * changed, the paths removed, the revision record) and the changed entries, as one tar stream or
 * over SFTP.
 */








/** The line `stat -c` prints for an entry in the verification listing. */
function listingLine(entry) {
    switch (entry.type) {
        case 'file':
            return `f ${entry.mode.toString(8)} ${entry.size} ./${entry.path}\n`;
        case 'dir':
            return `d ./${entry.path}\n`;
        case 'symlink':
            return `l ${entry.size} ./${entry.path}\n`;
    }
}
const manifests = new WeakMap();
/**
 * The source's manifest (see compact-manifest.ts) and its digest. Computed once per scan (main
 * starts it while connections are made), however many servers ask.
 */
function sourceManifest(entries) {
    let manifest = manifests.get(entries);
    if (!manifest) {
        // A macrotask later: a 50,000-entry manifest takes a while, and connections are being made.
        // Its view, which the servers' views are read against, is made a macrotask after the digest
        // is out, from the same sort, while the servers answer.
        manifest = new Promise(resolve => setImmediate(() => {
            const { text, digest, view } = sourceManifestAndView(entries);
            resolve({ text, digest });
            setImmediate(view);
        }));
        manifests.set(entries, manifest);
    }
    return manifest;
}
/**
 * The files the server puts the release's manifest together with, and verifies it against:
 * `delta`, the manifest lines of what is sent (or of every entry, when the server has no
 * manifest to start from); `removed`, the paths dropped from that manifest (escaped, a line
 * each), and the revision record. The server derives the listing and the sha256 list from the
 * manifest it assembles (lib/manifest.sh). `checked` are the entries whose content is checked
 * (the uploaded ones, or all with verify: full): those with names sha256sum -c cannot take, and
 * symlinks, are checked apart.
 */
async function releaseMetadata(p) {
    // The listing only shows a link target's length, so checked links are read back.
    const links = p.checked
        .filter(e => e.type === 'symlink')
        .map(e => ({ path: e.path, target: e.target ?? '' }));
    // sha256sum -c cannot express these names the same way in GNU and BusyBox.
    const oddSums = p.checked
        .filter(e => e.type === 'file' && e.sha256 && /[\n\r\\]/.test(e.path))
        .map(e => ({ path: e.path, sha256: e.sha256 }));
    const delta = p.delta ? manifestText(p.delta) : (await sourceManifest(p.entries)).text;
    const removed = Buffer.from(p.removed.map(r => `${escapeField(r)}\n`).join(''));
    const files = [
        { name: 'delta', data: delta },
        { name: 'removed', data: removed },
        { name: 'revision.json', data: Buffer.from(`${p.revision}\n`) }
    ];
    return { files, oddSums, links };
}
/** A manifest entry as a tar entry under `prefix`. Directories get `directoryMode`. */
function tarEntryFor(entry, prefix, sourceRoot, directoryMode) {
    const p = `${prefix}/${entry.path}`;
    if (entry.type === 'dir')
        return { path: p, type: 'dir', mode: directoryMode, mtime: entry.mtime };
    if (entry.type === 'symlink') {
        return { path: p, type: 'symlink', mode: 0o777, mtime: entry.mtime, target: entry.target };
    }
    return {
        path: p,
        type: 'file',
        mode: entry.mode,
        mtime: entry.mtime,
        size: entry.size,
        source: external_node_path_.join(sourceRoot, entry.path)
    };
}
/** Pass a stream through, counting its bytes; errors travel along. */
function countBytes(source, count) {
    const counter = new external_node_stream_.Transform({
        transform(chunk, _encoding, callback) {
            count(chunk.length);
            callback(null, chunk);
        }
    });
    source.on('error', error => counter.destroy(error));
    return source.pipe(counter);
}
/**
 * The archive of `entries`, compressed as asked, reporting progress while it is read. `gzip` is
 * the compressor, for the level to follow the link (see adaptLevel); undefined when the archive
 * goes uncompressed.
 */
function archiveStream(entries, compression, progress, signal, 
/** Called with each file entry once it is in the archive. */
onFile) {
    const tar = createTarStream(entries, {
        signal,
        onEntry: (_, entry) => {
            if (entry.type !== 'file')
                return;
            progress.files++;
            onFile?.(entry);
        }
    });
    // Progress counts archive bytes as they leave the tar writer, against the archive's size.
    const counted = countBytes(tar, n => (progress.bytes += n));
    const stop = () => progress.stop();
    counted.on('end', stop).on('close', stop).on('error', stop);
    if (compression === 'none')
        return { stream: counted };
    // Dense to start with either way: see adaptLevel.
    const gzip = new LevelGzip(DENSE_LEVEL);
    counted.on('error', error => gzip.destroy(error));
    return { stream: counted.pipe(gzip), gzip };
}
/** Progress of an archive: its size is known before it is read, without reading a file. */
function archiveProgress(log, entries, fileCount) {
    // `entries` is iterated twice (size, then content): a re-iterable, made lazily, so a large
    // tree's entries never all exist at once.
    return new UploadProgress(log, fileCount, tarSize(entries));
}
/**
 * For servers without tar (and `transfer: sftp`): the same content over the pipelined SFTP
 * engine. Every file is written to a temporary name with its mode set explicitly, and renamed
 * into place.
 */
async function sftpUpload(files, o) {
    const { signal } = o;
    await forEachPipelined(o.metadata, (m, batchSignal) => files.writeFile(`${o.metadataDir}/${m.name}`, m.data, { mode: 0o600, signal: batchSignal }), { signal });
    const progress = new UploadProgress(o.log, o.plan.uploadFiles, o.plan.uploadBytes).start();
    try {
        await uploadEntries(files, o.plan.upload, {
            root: o.root,
            sourceRoot: o.sourceRoot,
            directoryMode: o.directoryMode,
            onFile: entry => {
                progress.files++;
                progress.bytes += entry.size;
                o.onFile?.(entry);
            },
            signal
        });
    }
    finally {
        progress.stop();
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-archive.js
/**
 * Phase 4 on one server, its runner half: what the release sends (its metadata files, and the
 * tar stream of the plan's entries, compressed as the server's tools and the settings allow).
 * Servers whose archives have the same key get one archive (see src/deploy/group/group-prepare.ts).
 */



function session_archive_releaseMetadata(s, options) {
    const plan = s.plan;
    if (!plan)
        throw new Error('release metadata before makePlan');
    const base = s.base;
    // The server puts the new manifest together from its own, less what the plan removes (and
    // the shared links, which the copy loses), plus the lines of what is sent; without a
    // manifest there to start from, it gets the whole one.
    const manifest = base?.kind === 'none' ? undefined : base?.manifest;
    s.metadata ??= releaseMetadata({
        entries: options.entries,
        delta: manifest ? plan.upload : undefined,
        removed: [...plan.remove, ...(base?.kind === 'release' ? base.sharedLinks : [])],
        checked: options.verify === 'full' ? options.entries : plan.upload,
        revision: options.revision
    });
    return s.metadata;
}
/** Where the plan's entries land, relative to the deploy directory. */
function releaseTarget(s, id) {
    return s.base?.kind === 'cache' ? 'cache' : `releases/${id}`;
}
/**
 * The tar stream this server's release needs, or undefined when files go over SFTP. Its key
 * covers everything that makes up its bytes: the entries and their content, where they land,
 * the directories' mode (the server's umask), the metadata and the compression.
 */
async function releaseArchive(s, options) {
    const plan = s.plan;
    if (!plan || !s.base)
        throw new Error('releaseArchive before makePlan');
    if (!useTar(s, options.transfer))
        return undefined;
    const id = options.releaseId;
    const metadata = await session_archive_releaseMetadata(s, options);
    const compression = archiveCompression(s, options.compression);
    const { mtime } = options;
    const metadataEntries = metadata.files.map(f => ({
        path: `.atomic-deploy/tmp/${id}/${f.name}`,
        type: 'file',
        mode: 0o600,
        mtime,
        size: f.data.length,
        data: f.data
    }));
    const relativeTarget = releaseTarget(s, id);
    const { sourceRoot } = options;
    const { directoryMode } = s;
    const key = (0,external_node_crypto_.createHash)('sha256');
    key.update(`${relativeTarget}\0${directoryMode}\0${compression}\0${sourceRoot}\0${mtime}\0`);
    for (const f of metadata.files)
        key.update(`${f.name}\0`).update(f.data);
    for (const e of plan.upload)
        key.update(`${e.path}\0${e.type}\0${e.mode}\0${e.size}\0${e.sha256 ?? e.target ?? ''}\n`);
    return {
        key: key.digest('hex'),
        entries: {
            *[Symbol.iterator]() {
                yield* metadataEntries;
                for (const e of plan.upload)
                    yield tarEntryFor(e, relativeTarget, sourceRoot, directoryMode);
            }
        },
        fileCount: metadataEntries.length + plan.uploadFiles,
        compression
    };
}
function useTar(s, transfer) {
    if (transfer === 'sftp')
        return false;
    if (s.tools.has('tar'))
        return true;
    if (transfer === 'tar')
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: transfer is tar but the server has no 'tar' in PATH; use transfer: auto or sftp.`);
    s.log.info('the server has no tar: sending files over SFTP');
    return false;
}
/**
 * How the archive is compressed: `auto` follows the link (see adaptLevel), `gzip` is gzip's
 * default level throughout, `none` sends it as it is.
 */
function archiveCompression(s, compression) {
    if (compression === 'none')
        return 'none';
    // GNU tar runs gzip for -z; BusyBox tar has it built in but the applet is there too.
    if (!s.tools.has('gzip')) {
        if (compression === 'gzip' && !s.warnedNoGzip) {
            s.warnedNoGzip = true;
            s.log.warning('compression is gzip but the server has no gzip: sending uncompressed');
        }
        return 'none';
    }
    return compression === 'gzip' ? 'dense' : 'adaptive';
}

// EXTERNAL MODULE: ./build/bundle/js/release/release-id.js
var release_id = __webpack_require__(2734);
;// CONCATENATED MODULE: ./build/bundle/js/release/release-log.js

/**
 * The release log, .atomic-deploy/log: one line per event, `event<TAB>id<TAB>time`, appended by
 * the server scripts. It is the only source of release order (names are never sorted, so custom
 * ids work) and of what each release is:
 *
 * - `start`: the release directory was created; until `ready`, it is incomplete.
 * - `ready`: verified and linked; a complete release.
 * - `live`: `current` was switched to it (a deploy, or a rollback to it).
 * - `fail`: it went live, its after-switch or health check failed, and `current` was switched
 *   away from it. Kept for inspection; never a rollback target.
 * - `rollback`: `mode: rollback` switched away from it. Kept, but not a target of the next
 *   rollback (which steps further back); `rollback-to` may still name it.
 * - `abort`, `prune`: removed.
 *
 * Logs written before `fail` existed recorded automatic rollbacks as `rollback` too: both mean
 * "not a target", so they read correctly.
 */
/** Every event the server scripts write. A line with any other event is not ours. */
const LOG_EVENTS = ['start', 'ready', 'abort', 'live', 'fail', 'rollback', 'prune'];
/** A line of the release log that atomic-deploy did not write: its 1-based number and why. */
class LogFormatError extends Error {
    line;
    reason;
    name = 'LogFormatError';
    constructor(line, reason) {
        super(`line ${line} ${reason}`);
        this.line = line;
        this.reason = reason;
    }
}
const KNOWN_EVENTS = new Set(LOG_EVENTS);
// `date -u +%Y-%m-%dT%H:%M:%SZ`, as the scripts write it (fractions of a second allowed).
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
/**
 * Parse the release log. The log is read back from the server, so every line is checked: a
 * known event, a valid release id, the time as the scripts write it (further fields, if a later
 * version adds some, are ignored). Blank lines are skipped, and so is a last line that was cut
 * off before its end (an append interrupted by a lost connection). Anything else throws a
 * LogFormatError naming the line: the log decides what is pruned and what is rolled back to,
 * so it is never read past a line that is not ours.
 */
function parseLog(text) {
    const events = [];
    const lines = text.split('\n');
    lines.forEach((line, index) => {
        if (line === '')
            return;
        const unterminated = index === lines.length - 1;
        const [event = '', id = '', time] = line.split('\t');
        if (unterminated && (time === undefined || !TIME.test(time))) {
            // An append cut short: whole only up to the tab after the id, so a cut id is never read.
            if (time !== undefined && KNOWN_EVENTS.has(event) && (0,release_id/* releaseIdProblem */.co)(id) === undefined)
                events.push({ event, id, time: '' });
            return;
        }
        const problem = !KNOWN_EVENTS.has(event)
            ? `has an unknown event ${JSON.stringify(event.slice(0, 40))}`
            : (0,release_id/* releaseIdProblem */.co)(id) !== undefined
                ? `names ${JSON.stringify(id.slice(0, 140))}, which is not a release id`
                : time === undefined || !TIME.test(time)
                    ? 'has no time of the form YYYY-MM-DDTHH:MM:SSZ'
                    : undefined;
        if (problem !== undefined)
            throw new LogFormatError(index + 1, problem);
        events.push({ event, id, time });
    });
    return events;
}
function formatLog(events) {
    return events.map(e => `${e.event}\t${e.id}\t${e.time}\n`).join('');
}
/** The state of every id the log mentions: the last event decides. */
function releaseStates(events) {
    const states = new Map();
    for (const { event, id } of events) {
        const state = states.get(id);
        if (event === 'start')
            states.set(id, 'incomplete');
        else if (event === 'ready')
            states.set(id, 'complete');
        else if (event === 'abort' || event === 'prune')
            states.set(id, 'gone');
        // A stray event about a release that is gone (or was never started) changes nothing.
        else if (state === undefined || state === 'gone')
            continue;
        else if (event === 'live')
            states.set(id, 'complete');
        else if (event === 'fail')
            states.set(id, 'failed');
        else if (event === 'rollback')
            states.set(id, 'rolled-back');
    }
    return states;
}
/**
 * Ids in the order they last went live (or became ready, for one whose `live` was never logged):
 * the most recently live last. This is the order in which a site went back in time, so the
 * release `mode: rollback` returns to is the one that was live before the current one.
 */
function byLastLive(events) {
    const order = [];
    for (const { event, id } of events) {
        if (event !== 'ready' && event !== 'live')
            continue;
        const at = order.indexOf(id);
        if (at >= 0)
            order.splice(at, 1);
        order.push(id);
    }
    return order;
}
/**
 * Complete releases that still exist, the most recently live last: the rollback targets, and
 * what keep-releases counts. Failed and rolled-back releases are not among them.
 */
function completeReleases(events, existing) {
    const states = releaseStates(events);
    return byLastLive(events).filter(id => states.get(id) === 'complete' && existing.has(id));
}
/** Failed and rolled-back releases that still exist, the most recently switched away from last. */
function setAsideReleases(events, existing) {
    const states = releaseStates(events);
    const order = [];
    for (const { event, id } of events) {
        if (event !== 'fail' && event !== 'rollback')
            continue;
        const at = order.indexOf(id);
        if (at >= 0)
            order.splice(at, 1);
        order.push(id);
    }
    return order.filter(id => {
        const state = states.get(id);
        return (state === 'failed' || state === 'rolled-back') && existing.has(id);
    });
}
/** Releases a crashed or disconnected run left half-made: to remove before anything else. */
function incompleteReleases(events, existing) {
    return [...releaseStates(events)]
        .filter(([id, state]) => state === 'incomplete' && existing.has(id))
        .map(([id]) => id);
}
/**
 * The release `mode: rollback` goes back to from `current`: the complete one live before it.
 * `complete` is in the order of completeReleases.
 */
function previousRelease(complete, current) {
    const at = current === undefined ? -1 : complete.indexOf(current);
    if (at > 0)
        return complete[at - 1];
    if (at === -1)
        return complete.filter(id => id !== current).at(-1);
    return undefined;
}
/**
 * Which releases to delete after `events` (the log, with what this run is about to append): all
 * complete releases but the newest `keep`, and every failed or rolled-back release but the most
 * recent one, which is kept for inspection (without taking one of the `keep` places) while it
 * was set aside after the oldest good release kept was made. Never the live release or the one it replaced.
 * Set-aside releases come first: they go before good ones.
 */
function releasesToPrune(events, existing, keep, live, replaced) {
    const complete = completeReleases(events, existing);
    const setAside = setAsideReleases(events, existing);
    const keptGood = complete.slice(-keep);
    const lastAt = (id, names) => events.findLastIndex(e => e.id === id && names.includes(e.event));
    const newest = setAside.at(-1);
    const oldestKept = keptGood[0];
    const inspect = newest !== undefined &&
        (oldestKept === undefined ||
            lastAt(newest, ['fail', 'rollback']) > lastAt(oldestKept, ['ready']));
    const kept = new Set([...keptGood, ...(inspect ? [newest] : []), live]);
    if (replaced !== undefined)
        kept.add(replaced);
    return [...setAside, ...complete].filter(id => !kept.has(id));
}
/** The log after a prune: events of releases that are gone are dropped, so it stays small. */
function compactLog(events, removed) {
    const states = releaseStates(events);
    return events.filter(e => !removed.has(e.id) && states.get(e.id) !== 'gone');
}

// EXTERNAL MODULE: ./build/bundle/js/server/sftp-finish.js
var sftp_finish = __webpack_require__(4590);
// EXTERNAL MODULE: ./build/bundle/js/ssh/servers.js
var servers = __webpack_require__(4604);
// EXTERNAL MODULE: ./build/bundle/js/shell-quote.js
var shell_quote = __webpack_require__(1538);
;// CONCATENATED MODULE: ./build/bundle/js/server/server-messages.js



function describeListingLine(line) {
    const m = /^([fdl]) (?:(\d+) )?(?:(\d+) )?\.\/(.*)$/.exec(line);
    if (!m)
        return line;
    const [, type, a, b, p] = m;
    if (type === 'f')
        return `${p} (file, mode ${a}, ${b} bytes)`;
    if (type === 'l')
        return `${p} (symlink)`;
    return a === undefined ? `${p} (directory)` : `${p} (directory, mode ${a})`;
}
/** A path as a user would paste it into a shell: quoted only when it needs to be. */
function shellWord(text) {
    return /^[A-Za-z0-9_./@%+=:,-]+$/.test(text) ? text : (0,shell_quote/* quote */.h)(text);
}
function lastLines(text, n = 5) {
    return text.trim().split('\n').slice(-n).join(' | ');
}
function refusalMessage(refused, foreign, user, deployDir) {
    const [kind, ...rest] = refused.split(' ');
    const detail = rest.join(' ');
    switch (kind) {
        case 'foreign':
            return `refusing to deploy: ${detail} (${foreign.slice(0, 10).join(', ')}${foreign.length > 10 ? ', ...' : ''}). Nothing was changed. Deploy to a new, empty path, or back up that directory and empty it (a shared/ directory prepared by hand may stay).`;
        case 'permission':
            return `permission denied: ${detail}. Create the directory as root and give it to the deploy user: 'sudo mkdir -p ${shellWord(deployDir)} && sudo chown ${user}: ${shellWord(deployDir)}'. Nothing was changed.`;
        case 'system':
            return `refusing to deploy into ${detail}. Choose a directory of its own, e.g. /var/www/app.`;
        case 'notdir':
        case 'layout':
            return `refusing to deploy: ${detail}. Nothing was changed.`;
        default:
            return `refusing to deploy: ${refused}`;
    }
}
/**
 * Why the account ran no script, from what the server printed instead (untrusted: shown
 * printable, and short).
 */
function noShellReason(said, code) {
    // OpenSSH's words when ForceCommand internal-sftp meets a command (session.c).
    if (/sftp connections only/i.test(said))
        return 'sshd runs only SFTP for it (ForceCommand internal-sftp)';
    return `the server ran no shell for it (exit ${code}${said ? `: ${(0,servers/* printable */.g$)(said).slice(0, 300)}` : ''})`;
}
/**
 * Why an account without a shell cannot be deployed to: its SFTP cannot carry the deploy either
 * (none, or one without posix-rename@openssh.com for the atomic switch).
 */
function noShellMessage(user, reason, sftp) {
    const sftpToo = sftp === undefined
        ? ''
        : sftp.state === 'available'
            ? ', and its SFTP server has no posix-rename@openssh.com, which the atomic switch needs'
            : sftp.state === 'missing'
                ? `, and it has no SFTP either (${(0,servers/* printable */.g$)(sftp.reason).slice(0, 200)})`
                : `, and SFTP could not be started (${(0,servers/* printable */.g$)(sftp.reason).slice(0, 200)})`;
    return `the account '${user}' has no shell: ${reason}${sftpToo}. atomic-deploy runs each step as a POSIX sh script over SSH, or, for an account without a shell, over SFTP alone (OpenSSH's sftp-server, with posix-rename@openssh.com): give the account a login shell that runs commands, or SFTP.`;
}
/** Who holds a lock, from its owner record: run URL, commit, actor, start time and age. */
function describeLockOwner(ownerJson) {
    if (!ownerJson)
        return 'an unknown holder (the lock has no owner record)';
    try {
        const owner = JSON.parse(ownerJson);
        const age = owner.started
            ? Math.max(0, Math.round((Date.now() - Date.parse(owner.started)) / 1000))
            : undefined;
        // The record is read back from the server: every field is shown, never taken as text to
        // act on (a line break or a workflow command in it stays visible and inert).
        const field = (v, max = 200) => typeof v === 'string' ? (0,server_data/* shown */.SP)(v, max) : undefined;
        const started = field(owner.started, 40);
        return `${field(owner.runUrl) ?? 'an unknown run'} (commit ${field(typeof owner.commit === 'string' ? owner.commit.slice(0, 12) : undefined) || 'unknown'}${owner.actor ? `, by ${field(owner.actor, 64)}` : ''}, started ${started ?? '?'}${age !== undefined && !Number.isNaN(age) ? `, ${formatAge(age)} ago` : ''})`;
    }
    catch {
        return `an unreadable owner record: ${(0,server_data/* shown */.SP)(ownerJson, 200)}`;
    }
}
function lockHeldMessage(ownerJson, deployDir) {
    return `another deploy holds the lock on ${deployDir}: ${describeLockOwner(ownerJson)}. Wait for it to finish; if it is gone (a cancelled or crashed run), clear the lock with 'mode: unlock'. A 'concurrency:' group in the workflow prevents this.`;
}
function formatAge(seconds) {
    if (seconds < 120)
        return `${seconds}s`;
    if (seconds < 7200)
        return `${Math.round(seconds / 60)}m`;
    return `${Math.round(seconds / 3600)}h`;
}

;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-finish.js
/**
 * Phase 9 on one server, and the way out before it: finish records the switch in the release
 * log, prunes, compacts the log and releases the lock (with a copy of the release started for
 * the next deploy); abort removes a release that will not go live and releases the lock. Over
 * SFTP alone, sftp-finish.ts does both.
 */






/** The open release log, handed over once (whoever takes it closes it). */
function takeLogFile(s) {
    const file = s.logFile;
    s.logFile = undefined;
    return file;
}
/** Remove a prepared release that will not go live, and release the lock. */
async function abort(s) {
    const id = s.prepared;
    const token = s.lockToken;
    if (id === undefined && token === undefined)
        return;
    if (s.access === 'sftp') {
        const done = await (0,sftp_finish/* abortOverSftp */.se)({
            files: await s.host.files(),
            log: s.log,
            deployDir: s.deployDir,
            releaseId: id,
            lockToken: token,
            protectedReleases: [s.liveRelease, s.switchedTo],
            sharedPaths: s.sharedPaths,
            logFile: takeLogFile(s)
        }).catch(error => {
            throw s.sftpFailure(error, 'cleaning up');
        });
        if (done.aborted)
            s.prepared = undefined;
        if (done.unlocked)
            s.lockToken = undefined;
        return;
    }
    const script = id !== undefined
        ? (0,remote_scripts/* abortScript */.eL)(s.releaseParams(id))
        : (0,remote_scripts/* finishScript */.NM)({
            deployDir: s.deployDir,
            events: [],
            prune: [],
            forget: [],
            lockToken: token
        });
    const { output } = await s.script(script);
    if (id !== undefined && output.lines.includes('aborted'))
        s.prepared = undefined;
    if (token !== undefined && output.lines.includes('unlocked'))
        s.lockToken = undefined;
}
/**
 * Phase 9: record the switch, prune, compact the log, unlock; with `spare`, start the copy
 * the next deploy will start from (the spare: see src/server/scripts/lib/finish.sh).
 */
async function finish(s, events, prune, spare) {
    if (s.access === 'sftp')
        return finishOverSftp(s, events, prune);
    const { result, output } = await s.script((0,remote_scripts/* finishScript */.NM)({ deployDir: s.deployDir, ...finishParams(s, events, prune, spare) }), 
    // Nothing runs after phase 9, whatever its outcome: no channel is opened ahead for a
    // script that never comes (an open, an exec request and a close on every server).
    { last: true });
    finished(s, result, output);
}
/** Phase 9 over SFTP alone (no spare copy: it would take a cp on the server). */
async function finishOverSftp(s, events, prune) {
    const gone = [...releaseStates(s.events)]
        .filter(([, state]) => state === 'gone')
        .map(([id]) => id);
    const done = await (0,sftp_finish/* finishOverSftp */.Ru)({
        files: await s.host.files(),
        log: s.log,
        deployDir: s.deployDir,
        events,
        prune,
        forget: [...prune, ...gone],
        lockToken: s.lockToken,
        seedRecords: [
            ...s.leftovers.metaNames.filter(n => n.startsWith('seeded.')),
            ...(s.prepared !== undefined ? [`seeded.${s.prepared}`] : [])
        ],
        protectedReleases: [s.liveRelease, s.switchedTo],
        hints: s.releaseDirsHint,
        logFile: takeLogFile(s),
        ...(s.lockOwnerRead ? { owner: s.lockOwnerRead } : {})
    }).catch(error => {
        throw s.sftpFailure(error, 'finishing');
    });
    for (const id of done.pruned)
        s.log.info(`pruned release ${id}`);
    if (done.unlocked)
        s.lockToken = undefined;
    s.prepared = undefined;
}
/**
 * What phase 9 does here, for finish.sh or for the release script's own finish. `made` is
 * the release this run is making, for a finish decided before the release script runs (the
 * release script's own): it is then the release switched to and the one seeded.
 */
function finishParams(s, events, prune, spare, made) {
    const gone = [...releaseStates(s.events)]
        .filter(([, state]) => state === 'gone')
        .map(([id]) => id);
    return {
        events,
        prune,
        forget: [...prune, ...gone],
        lockToken: s.lockToken,
        // Never pruned, whatever the plan said: the release live when the run began, and the
        // one it switched to (the guard also keeps whatever current points to).
        keep: [s.liveRelease, s.switchedTo ?? made].filter((id) => id !== undefined),
        seeded: [s.prepared ?? made].filter((id) => id !== undefined),
        ...(spare ? { spare } : {})
    };
}
function finished(s, result, output) {
    if (result.code !== 0 || !output.lines.includes('finished')) {
        throw new errors/* RemoteCommandError */.at(`${s.label}: finishing failed (exit ${result.code}): ${lastLines(result.stderrTail)}`, result.code, result.stderrTail);
    }
    for (const line of (0,script_output/* values */.zu)(output, 'pruned'))
        s.log.info(`pruned release ${line}`);
    for (const line of (0,script_output/* values */.zu)(output, 'kept'))
        s.log.warning(`not pruned: release ${line}`);
    if (output.lines.includes('unlocked'))
        s.lockToken = undefined;
    s.prepared = undefined;
}

// EXTERNAL MODULE: ./build/bundle/js/server/system-directories.js
var system_directories = __webpack_require__(8094);
;// CONCATENATED MODULE: ./build/bundle/js/release/drift.js
/**
 * Differences between a release on a server and the record of what it was when it became ready,
 * as the server scripts report them (LISTING_DIFF in remote-scripts.ts): listing lines only one
 * side has, and paths modified since. Turned here into paths added, changed and removed, for the
 * log and for the plan, which must not trust those paths in a copy of the release.
 */
/** A line break or a % in a name comes percent-encoded (%0A, %25): every result is one line. */
const decode = (text) => text.replace(/%(25|0A)/g, (_, code) => (code === '25' ? '%' : '\n'));
/** Parse `!<kind>-added`, `-missing`, `-newer` and `!<kind> a m n` lines (without the `!`). */
function parseListingDiff(kind, lines) {
    const diff = { added: [], missing: [], newer: [] };
    for (const line of lines) {
        if (line.startsWith(`${kind}-added `))
            diff.added.push(decode(line.slice(kind.length + 7)));
        else if (line.startsWith(`${kind}-missing `))
            diff.missing.push(decode(line.slice(kind.length + 9)));
        else if (line.startsWith(`${kind}-newer `))
            diff.newer.push(decode(line.slice(kind.length + 7)));
        else {
            const counts = new RegExp(`^${kind} (\\d+) (\\d+) (\\d+)$`).exec(line);
            if (counts)
                diff.counts = [Number(counts[1]), Number(counts[2]), Number(counts[3])];
        }
    }
    return diff;
}
/**
 * A path read back from a server, fit to steer a removal inside a release: relative, no `.`, `..`
 * or empty segment, no control character but a line break (which a source file name may hold:
 * every script quotes its paths, and the guard takes any name).
 */
function isReleasePath(p) {
    if (p === '' || p.startsWith('/') || /[\u0000-\u0009\u000b-\u001f\u007f]/.test(p))
        return false;
    return p.split('/').every(s => s !== '' && s !== '.' && s !== '..');
}
/** The path of a listing line (`f 644 12 ./a/b`, `d 755 ./a`, `l 9 ./link`; `d ./a` before modes). */
function listingPath(line) {
    const m = /^(?:f [0-7]+ \d+|l \d+|d [0-7]+|d) \.\/(.*)$/s.exec(line);
    return m ? m[1] : undefined;
}
/** Paths with none of their ancestors in the list: removing these removes them all. */
function topMost(paths) {
    const set = new Set(paths);
    return [...set]
        .filter(p => {
        for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1))
            if (set.has(p.slice(0, i)))
                return false;
        return true;
    })
        .sort();
}
function summarizeDiff(diff) {
    let complete = diff.counts !== undefined &&
        diff.counts[0] === diff.added.length &&
        diff.counts[1] === diff.missing.length &&
        diff.counts[2] === diff.newer.length;
    const pathsOf = (lines) => {
        const out = new Set();
        for (const line of lines) {
            const p = listingPath(line);
            if (p !== undefined && isReleasePath(p))
                out.add(p);
            else
                complete = false;
        }
        return out;
    };
    const added = pathsOf(diff.added);
    const missing = pathsOf(diff.missing);
    const newer = new Set();
    for (const p of diff.newer) {
        if (isReleasePath(p))
            newer.add(p);
        else
            complete = false;
    }
    const changed = new Set();
    for (const p of added)
        if (missing.has(p))
            changed.add(p);
    for (const p of newer)
        if (!added.has(p) || missing.has(p))
            changed.add(p);
    return {
        added: topMost([...added].filter(p => !changed.has(p))),
        changed: [...changed].sort(),
        removed: topMost([...missing].filter(p => !changed.has(p))),
        paths: [...new Set([...added, ...missing, ...newer])].sort(),
        complete
    };
}
/**
 * `added a, b; changed c; removed d`, at most `limit` paths in all, each as `show` writes it (a
 * name may hold a line break).
 */
function describeDrift(drift, limit = 20, show = p => p) {
    const parts = [];
    let left = limit;
    const take = (label, paths) => {
        if (paths.length === 0)
            return;
        const shown = paths.slice(0, Math.max(left, 0));
        left -= shown.length;
        const more = paths.length - shown.length;
        parts.push(`${label} ${shown.length > 0 ? shown.map(p => show(p)).join(', ') : ''}${more > 0 ? `${shown.length > 0 ? ', and ' : ''}${more} more` : ''}`);
    };
    take('added', drift.added);
    take('changed', drift.changed);
    take('removed', drift.removed);
    return parts.join('; ');
}
/**
 * Paths that do not lie under a symlink of the tree `entries` describes: a removal of
 * `<release>/<link>/<rest>` would act wherever the link points, outside the release.
 */
function notUnderLinks(paths, entries) {
    const links = new Set(entries.filter(e => e.type === 'symlink').map(e => e.path));
    return paths.filter(p => {
        for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1))
            if (links.has(p.slice(0, i)))
                return false;
        return true;
    });
}

// EXTERNAL MODULE: ./build/bundle/js/sftp/sftp-tree.js
var sftp_tree = __webpack_require__(8547);
;// CONCATENATED MODULE: ./build/bundle/js/server/sftp-listing.js
/** The listing line of a path, or undefined for what list_tree does not list (sockets, ...). */
function sftp_listing_listingLine(entry) {
    const { attrs, path } = entry;
    switch (attrs.type) {
        case 'file':
            return `f ${attrs.mode.toString(8)} ${attrs.size} ./${path}`;
        case 'dir':
            return `d ${attrs.mode.toString(8)} ./${path}`;
        case 'symlink':
            return `l ${attrs.size} ./${path}`;
        default:
            return undefined;
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/server/sftp-drift.js
/**
 * The drift check of an SFTP-only inspect: how the live release differs from the listing its
 * deploy recorded when it was verified, and which of its files are newer than the marker made
 * when it became ready. The same comparison as lib/diff.sh's listing_diff, on a listing walked
 * over SFTP, so a release deployed either way is checked either way and named the same way.
 */


/** Paths of the listing at or under a shared link: not the release's own. */
function linkedTest(links) {
    const set = new Set(links);
    return p => {
        for (let at = p;;) {
            if (set.has(at))
                return true;
            const slash = at.lastIndexOf('/');
            if (slash < 0)
                return false;
            at = at.slice(0, slash);
        }
    };
}
/** Whether a parent of `p` is in `dirs` and not in `not` (a directory new, or gone, as a whole). */
function within(p, dirs, not) {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
        const parent = p.slice(0, i);
        if (dirs.has(parent) && !not.has(parent))
            return true;
    }
    return false;
}
const LISTING_START = /^(?:f [0-7]+ \d+|l \d+|d [0-7]+|d) \.\//;
/**
 * The entries of a recorded listing: a name holding a line break spans lines, so a line that
 * does not start like a listing line continues the one before (as listing_diff reads it).
 */
function listingEntries(recorded) {
    const entries = [];
    // Every line ends with a line break: the last one ends the listing.
    const lines = recorded.split('\n');
    if (lines.at(-1) === '')
        lines.pop();
    for (const line of lines) {
        if (LISTING_START.test(line) || entries.length === 0)
            entries.push(line);
        else
            entries[entries.length - 1] += `\n${line}`;
    }
    return entries.filter(e => e !== '');
}
/**
 * `recorded`: the listing written when the release was verified (list_tree's lines); `actual`:
 * the release now; `readyMtime`: the marker's time (seconds, as SFTP gives it); at most `max`
 * of each kind named, with the full counts. As listing_diff: what a new directory holds is new
 * with it (only the directory is named), and likewise for one that is gone; a file is named newer
 * only when it is neither added nor under a new directory.
 */
function driftOf(recorded, actual, readyMtime, links, max = 50) {
    const linked = linkedTest(links);
    // A listing recorded before directory modes were listed (`d ./<path>`) is compared without
    // them, rather than naming every directory as changed.
    const modes = !/^d \.\//m.test(recorded);
    const expected = new Map();
    for (const line of listingEntries(recorded))
        expected.set(line, (expected.get(line) ?? 0) + 1);
    const added = [];
    const addedPaths = new Set();
    const addedDirs = new Set();
    const fresh = [];
    for (const entry of actual) {
        const listed = sftp_listing_listingLine(entry);
        if (listed === undefined)
            continue;
        const line = modes ? listed : listed.replace(/^d [0-7]+ /, 'd ');
        const isNewer = entry.attrs.type !== 'dir' && entry.attrs.mtime > readyMtime;
        const count = expected.get(line) ?? 0;
        if (!isNewer && count > 0) {
            expected.set(line, count - 1);
            continue;
        }
        if (linked(entry.path))
            continue;
        if (isNewer)
            fresh.push(entry.path);
        if (count > 0) {
            expected.set(line, count - 1);
            continue;
        }
        added.push({ line, path: entry.path });
        addedPaths.add(entry.path);
        if (entry.attrs.type === 'dir')
            addedDirs.add(entry.path);
    }
    const missing = [];
    const missingDirs = new Set();
    for (const [line, count] of expected) {
        const p = listingPath(line) ?? line;
        if (count <= 0 || linked(p))
            continue;
        missing.push({ line, path: p, count });
        if (line.startsWith('d '))
            missingDirs.add(p);
    }
    const diff = { added: [], missing: [], newer: [] };
    let [a, m, n] = [0, 0, 0];
    for (const x of added) {
        if (within(x.path, addedDirs, missingDirs))
            continue;
        a++;
        if (a <= max)
            diff.added.push(x.line);
    }
    for (const x of missing) {
        if (within(x.path, missingDirs, addedDirs))
            continue;
        m += x.count;
        if (diff.missing.length < max)
            diff.missing.push(x.line);
    }
    for (const p of fresh) {
        if (addedPaths.has(p) || within(p, addedDirs, missingDirs))
            continue;
        n++;
        if (n <= max)
            diff.newer.push(p);
    }
    diff.counts = [a, m, n];
    return diff;
}

// EXTERNAL MODULE: ./build/bundle/js/server/sftp-layout.js
var sftp_layout = __webpack_require__(4579);
;// CONCATENATED MODULE: ./build/bundle/js/server/sftp-inspect.js
/**
 * Phases 1-3 over SFTP alone, for accounts that run no commands: resolve the deploy path, refuse
 * what must be refused (before anything is written), create the layout, take the lock with
 * `mkdir` and an owner record, and read what the planner needs: `current` with readlink, the
 * release directories, the release log, and the digest of the manifest the new release starts
 * from, with its view when that digest is not the source's (readBaseRecords).
 *
 * Everything read here is server data, checked as the shell path's inspect.sh and the runner's
 * server-data.ts check it: the resolved path, `current`'s target, release names, the layout's
 * directories (real directories of the deploy user's that no other user may write to), and every
 * record within its limit (SERVER_LIMITS) and only as a regular file.
 *
 * Independent requests leave together: the whole phase is a few round trips.
 */










const LAYOUT_NAMES = new Set(['releases', 'shared', 'cache', 'current', '.atomic-deploy']);
/** The layout's directories directly in the deploy directory, and in .atomic-deploy/. */
const TOP_DIRS = ['releases', 'shared', 'cache', '.atomic-deploy'];
const META_DIRS = ['manifests', 'revisions', 'tmp'];
function refused(options, reason, foreign = [], dir = options.path) {
    throw new errors/* DeployRefusedError */.Qr(`${options.label}: ${refusalMessage(reason, foreign, options.user, dir)}`);
}
/** The physical absolute form of `p`, which need not exist yet (its existing part is resolved). */
async function resolvePath(files, p) {
    let at = p;
    const rest = [];
    for (let i = 0; i < 256; i++) {
        try {
            return external_node_path_.posix.normalize(external_node_path_.posix.join(await files.realpath(at), ...rest));
        }
        catch (error) {
            if (!(0,sftp_engine/* isMissing */.b2)(error) || at === '/' || at === '.')
                throw error;
        }
        const slash = at.lastIndexOf('/');
        rest.unshift(slash < 0 ? at : at.slice(slash + 1));
        at = slash < 0 ? '.' : slash === 0 ? '/' : at.slice(0, slash);
    }
    throw new Error(`${p}: too many missing components`);
}
async function listOrUndefined(files, dir) {
    try {
        return await files.list(dir);
    }
    catch (error) {
        if ((0,sftp_engine/* isMissing */.b2)(error))
            return undefined;
        throw error;
    }
}
/** Who holds the lock. Its record is written right after the mkdir, so a moment is allowed. */
async function lockOwner(files, layout) {
    for (let attempt = 0; attempt < 5; attempt++) {
        try {
            const owner = await (0,sftp_layout/* readRecord */.aE)(files, layout.owner, server_data/* SERVER_LIMITS */.L_.ownerBytes);
            if (owner !== undefined)
                return owner.toString('utf8').trim();
        }
        catch {
            return undefined;
        }
        await new Promise(resolve => setTimeout(resolve, 100));
    }
    return undefined;
}
/**
 * The first reads of an SFTP-only inspect, all at once: nothing is written before every refusal
 * had its chance. Only reads, so they may go out before it is known that they are needed.
 * `layoutNames`: whether the layout's names are found by lstat too (the lock then need not wait
 * for the listing); without them, the listing decides, a round trip later.
 */
async function firstReads(files, path, layoutNames = true) {
    const top = listOrUndefined(files, path);
    top.catch(() => undefined);
    const names = layoutNames
        ? Promise.all([...LAYOUT_NAMES].map(name => files.lstat(`${path}/${name}`))).then(found => new Map([...LAYOUT_NAMES].flatMap((name, i) => {
            const attrs = found[i];
            return attrs ? [[name, attrs]] : [];
        })))
        : undefined;
    // Settled beside the others (never an unhandled rejection while they are awaited).
    const layout = names ? Promise.allSettled([names]).then(([settled]) => settled) : undefined;
    const [resolved, link, self] = await Promise.allSettled([
        resolvePath(files, path),
        files.readlink(`${path}/current`),
        files.lstat(`${path}/.`)
    ]);
    return { resolved, link, self, ...(layout ? { layout: await layout } : {}), top };
}
async function inspectOverSftp(files, options) {
    if (!files.abilities.posixRename) {
        throw new errors/* DeployRefusedError */.Qr(`${options.label}: the server's SFTP has no posix-rename@openssh.com, which the atomic switch of 'current' needs (OpenSSH has had it since 4.8).`);
    }
    return inspected(files, options, await (options.firstReads ?? firstReads(files, options.path)));
}
/** Server data that fails validation: the error names the server. */
function checked(options, read) {
    try {
        return read();
    }
    catch (error) {
        if (error instanceof errors/* ServerDataError */.Sy)
            throw new errors/* ServerDataError */.Sy(`${options.label}: ${error.message}`);
        throw error;
    }
}
async function inspected(files, options, { resolved, link, self, layout: found, top: listing }) {
    const input = options.path;
    if (resolved.status === 'rejected') {
        refused(options, `access cannot resolve ${(0,server_data/* shown */.SP)(input)}: ${(0,errors/* messageOf */.bD)(resolved.reason)}`);
    }
    // Every later step gets this path, as inspect.sh's `path` line: one with a line break is
    // refused there, and so here; then the same checks as that line's (resolvedDeployDir).
    if (/[\r\n]/.test(resolved.value))
        refused(options, 'layout the deploy path resolves to a name that contains a newline');
    const D = checked(options, () => (0,server_data/* resolvedDeployDir */.DJ)(resolved.value, input));
    const layout = (0,sftp_layout/* layoutOf */.aH)(D);
    const problem = (0,system_directories/* systemDirectoryProblem */.k)(D);
    if (problem)
        refused(options, `system ${problem.replace(/'/g, '')}`);
    // A layout there already (its metadata directory found by lstat, in a directory): the checks
    // below need only the lstats, and the lock leaves without waiting for the listing, which
    // follows (a listing takes a round trip more). Otherwise (a first deploy, or a path that is
    // not a directory) the listing decides first, as before anything is written.
    const layoutThere = self.status === 'fulfilled' &&
        self.value?.type === 'dir' &&
        found?.status === 'fulfilled' &&
        found.value.get('.atomic-deploy') !== undefined;
    let entries;
    const byName = new Map();
    if (layoutThere) {
        for (const [name, attrs] of found.value)
            byName.set(name, { name, attrs });
    }
    else {
        const top = await listing.then(value => ({ status: 'fulfilled', value }), (reason) => ({ status: 'rejected', reason }));
        if (top.status === 'rejected') {
            const attrs = await files.lstat(D).catch(() => undefined);
            if (attrs && attrs.type !== 'dir')
                refused(options, `notdir ${D} exists and is not a directory`);
            const code = top.reason instanceof sftp_engine/* SftpError */.G3 ? top.reason.code : undefined;
            if (code === sftp_engine/* SftpStatus */.YQ.PERMISSION_DENIED)
                refused(options, `access cannot enter ${D}`);
            throw top.reason;
        }
        entries = top.value;
        for (const e of entries ?? [])
            byName.set(e.name, e);
    }
    // The deploy directory is there (listed, or found by lstat with a layout in it).
    const exists = layoutThere || entries !== undefined;
    // The listing, when the lock did not wait for it: the owners' names (for messages), and the
    // temporary links a cut switch left.
    const listed = async () => {
        const all = (await listing) ?? [];
        for (const e of all)
            if (LAYOUT_NAMES.has(e.name))
                byName.set(e.name, e);
        return all;
    };
    if (entries && !byName.has('.atomic-deploy')) {
        // First deploy: only entries of our own layout may be there (a hand-made shared/ is welcome).
        const foreign = entries.filter(e => !LAYOUT_NAMES.has(e.name)).map(e => (0,server_data/* shown */.SP)(e.name));
        if (foreign.length > 0)
            refused(options, `foreign ${D} holds files that are not a deploy layout`, foreign);
    }
    // The deploy directory may belong to another user (root, say), but no user may write to it
    // but its owner: every entry could be swapped.
    if (exists && self.status === 'fulfilled' && self.value && self.value.mode & 0o002)
        refused(options, `layout ${D} is writable by every user, so anybody could swap its entries; remove that (chmod o-w)`);
    // The layout's directories, as far as can be told before the lock (the owner once it is ours);
    // where one is a symlink, the refusal says where it points.
    const targets = await symlinkTargets(files, D, TOP_DIRS, byName);
    const layoutProblem = (uid) => {
        for (const name of TOP_DIRS) {
            const e = byName.get(name);
            const why = (0,sftp_layout/* layoutDirProblem */.Bo)(name, e?.attrs, { uid, user: options.user }, {
                ...(e?.owner ? { owner: e.owner } : {}),
                ...(targets.has(name) ? { target: targets.get(name) } : {})
            });
            if (why !== undefined)
                return why;
        }
        return undefined;
    };
    const early = layoutProblem(undefined);
    if (early !== undefined)
        refused(options, `layout ${early}`);
    const currentEntry = byName.get('current');
    if (currentEntry && currentEntry.attrs.type !== 'symlink')
        refused(options, `layout ${D}/current exists and is not a symlink`);
    // What current points to, checked before anything is written (again under the lock below).
    const before = currentEntry && link.status === 'fulfilled'
        ? checked(options, () => (0,server_data/* liveReleaseOf */.xC)(link.value, D))
        : undefined;
    const tooLarge = new Map();
    // The lock's mkdir leaves with the reads of the state: sftp-server handles them in order, so
    // what is read is read under the lock (a lock held by another run makes them moot).
    const locking = options.lock
        ? takeLock(files, options, layout, exists, byName, layoutProblem, listed)
        : Promise.resolve(undefined);
    locking.catch(() => undefined);
    // The starting point's manifest (and the drift check), read beside the rest: of the release
    // current pointed to a moment ago, which the readlink now, under the lock, confirms (or they
    // are read again).
    const earlyRecords = exists
        ? liveRecords(files, options, layout, byName, before, tooLarge)
        : Promise.resolve({});
    earlyRecords.catch(() => undefined);
    const read = recordReader(files, tooLarge);
    const state = Promise.all([
        currentEntry || options.lock
            ? files.readlink(layout.current).catch(error => {
                if ((0,sftp_engine/* isMissing */.b2)(error))
                    return undefined;
                throw error;
            })
            : Promise.resolve(undefined),
        exists ? listOrUndefined(files, layout.releases) : Promise.resolve(undefined),
        exists ? read('log', layout.log, server_data/* SERVER_LIMITS */.L_.logBytes) : Promise.resolve(undefined),
        exists ? listOrUndefined(files, layout.meta) : Promise.resolve(undefined),
        exists ? listOrUndefined(files, layout.tmp) : Promise.resolve(undefined)
    ]);
    state.catch(() => undefined);
    await locking;
    const [current, releaseList, log, metaList, tmpList] = await state;
    // The rest of the layout's directories, before anything is written into them.
    const metaByName = new Map((metaList ?? []).map(e => [e.name, e]));
    const metaTargets = await symlinkTargets(files, layout.meta, META_DIRS, metaByName);
    for (const name of META_DIRS) {
        const e = metaByName.get(name);
        const why = (0,sftp_layout/* layoutDirProblem */.Bo)(`.atomic-deploy/${name}`, e?.attrs, { uid: lockUid.get(options), user: options.user }, {
            ...(e?.owner ? { owner: e.owner } : {}),
            ...(metaTargets.has(name) ? { target: metaTargets.get(name) } : {})
        });
        if (why !== undefined)
            refused(options, `layout ${why}`);
    }
    const liveRelease = current === undefined ? undefined : checked(options, () => (0,server_data/* liveReleaseOf */.xC)(current, D));
    // Only names that are release ids, and only real directories (sftp-server lists with lstat).
    const releaseDirs = (0,server_data/* releaseDirectories */.RW)((releaseList ?? []).filter(e => e.attrs.type === 'dir').map(e => e.name));
    // The same listing names what a cut abort or prune left: only real directories (a symlink
    // named like one is not followed, nor removed), only by the scripts' exact names.
    const setAside = (releaseList ?? [])
        .filter(e => e.attrs.type === 'dir' && (0,server_data/* isSetAsideTree */.nZ)(e.name))
        .map(e => e.name);
    const [records, top] = await Promise.all([
        liveRelease === before
            ? earlyRecords
            : liveRecords(files, options, layout, byName, liveRelease, tooLarge),
        entries ?? listed()
    ]);
    const switchLinks = top
        .filter(e => e.name.startsWith('.current.tmp-') && e.attrs.type === 'symlink')
        .map(e => e.name);
    return {
        deployDir: D,
        ...(current !== undefined ? { current } : {}),
        ...(liveRelease !== undefined ? { liveRelease } : {}),
        releaseDirs,
        ...(log ? { log } : {}),
        tooLarge,
        ...records,
        metaNames: (metaList ?? []).map(e => e.name),
        // Only of a tmp/ that passed the checks above (a real directory of the deploy user's).
        tmpNames: metaByName.get('tmp')?.attrs.type === 'dir' ? (tmpList ?? []).map(e => e.name) : [],
        switchLinks,
        setAside
    };
}
/** A manifest's digest record: 64 hex digits and a line feed; anything longer is not one. */
const DIGEST_BYTES = 128;
/**
 * Read records (readRecord); one over its limit is noted in `tooLarge` by its size, unread, as
 * the inspect script reports it (`toolarge <name> <bytes>`).
 */
function recordReader(files, tooLarge) {
    return async (name, file, limit, when) => {
        try {
            return await (0,sftp_layout/* readRecord */.aE)(files, file, limit, undefined, when);
        }
        catch (error) {
            if (!(error instanceof sftp_engine/* TooLargeError */.qB))
                throw error;
            tooLarge.set(name, error.size);
            return undefined;
        }
    };
}
/** Where those of `names` in `dir` that are symlinks point (read only when there are some). */
async function symlinkTargets(files, dir, names, byName) {
    const links = names.filter(n => byName.get(n)?.attrs.type === 'symlink');
    const read = await Promise.all(links.map(n => files.readlink(`${dir}/${n}`).catch(() => undefined)));
    return new Map(links.flatMap((n, i) => (read[i] === undefined ? [] : [[n, read[i]]])));
}
/** What the plan and the drift check need of the starting point and of the live release `id`. */
async function liveRecords(files, options, layout, byName, id, tooLarge) {
    const cache = options.reuse === 'cache' && byName.has('cache');
    const read = recordReader(files, tooLarge);
    const nothing = Promise.resolve(undefined);
    const { manifestBytes, linksBytes } = server_data/* SERVER_LIMITS */.L_;
    // Only the digest of the starting point's manifest: the same as the source's, and nothing
    // more of it crosses the wire (a deploy with nothing changed); its view is read otherwise.
    const base = !options.plans
        ? undefined
        : cache
            ? { stem: layout.cacheStem, old: layout.cacheManifest }
            : options.reuse === 'previous' && id !== undefined
                ? { stem: layout.manifestStem(id), old: layout.manifest(id) }
                : undefined;
    const digestRead = base ? read('digest', `${base.stem}.digest`, DIGEST_BYTES) : nothing;
    // The view, opened beside the digest and read as soon as the digests say it is needed, while
    // the walk below still runs; a read that fails here is left to the plan, which reads again
    // and names what failed.
    const sourceDigest = options.sourceDigest;
    const records = base && sourceDigest
        ? readBaseRecords(files, base, sourceDigest, digestRead).catch(() => undefined)
        : nothing;
    const [digest, links, pending, hooked, drift, baseRecords] = await Promise.all([
        digestRead,
        id !== undefined ? read('links', layout.links(id), linksBytes) : nothing,
        cache ? read('pending', layout.cachePending, manifestBytes) : nothing,
        // What before-switch changed in it (a shell deploy's record), whatever on-drift says, as
        // inspect.sh reads it.
        id !== undefined ? read('hooked', layout.hook(id), linksBytes) : nothing,
        options.drift && id !== undefined
            ? driftCheck(files, layout, id, read, options.sourceDirs)
            : nothing,
        records
    ]);
    return {
        ...(base
            ? {
                base: {
                    ...base,
                    ...(digest ? { digest } : {}),
                    ...(baseRecords ? { records: baseRecords } : {})
                }
            }
            : {}),
        ...(links ? { links } : {}),
        ...(pending ? { pending } : {}),
        ...(hooked ? { hooked } : {}),
        ...(drift ?? {})
    };
}
/**
 * What the inspect script would report of the starting point's manifest, given the source's
 * digest: `same` when the digest read is the source's, and nothing more is read. Otherwise the
 * view (only beside a digest, as inspect.sh sends it) or the manifest an older version wrote,
 * whichever is there in that order; one past its limit is noted by its size, unread. Each is
 * read as every record is (readRecord: a regular file only, within the limit); the plan
 * validates what it parses.
 */
async function readBaseRecords(files, base, sourceDigest, 
/**
 * The digest record, still being read: the candidates are opened beside it, and read only
 * once it says they are needed (base.digest otherwise).
 */
digestRead) {
    const verdict = Promise.all([digestRead ?? base.digest, sourceDigest]).then(([digest, source]) => {
        const text = digest?.toString('latin1');
        const have = text !== undefined && /^[0-9a-f]{64}\n$/.test(text) ? text.slice(0, 64) : undefined;
        return { have, source, same: have !== undefined && have === source };
    });
    verdict.catch(() => undefined);
    const over = new Map();
    const read = recordReader(files, over);
    const limit = server_data/* SERVER_LIMITS */.L_.manifestBytes;
    const all = [
        { name: 'view', file: `${base.stem}.view.gz`, view: true },
        { name: 'view-text', file: `${base.stem}.view`, view: true },
        { name: 'manifest', file: base.old, view: false }
    ];
    // A view only beside a digest, as inspect.sh sends it; nothing when the digests match.
    const wanted = (view) => {
        const yes = verdict.then(v => !v.same && (!view || v.have !== undefined));
        yes.catch(() => undefined);
        return yes;
    };
    const reads = all.map(c => {
        const p = read(c.name, c.file, limit, wanted(c.view));
        p.catch(() => undefined);
        return p;
    });
    const { have, source, same } = await verdict;
    if (same)
        return { sourceDigest: source, same: true };
    const candidates = all.filter(c => have !== undefined || !c.view);
    const found = await Promise.all(candidates.map(c => reads[all.indexOf(c)]));
    const i = candidates.findIndex((c, n) => found[n] !== undefined || over.has(c.name));
    const chosen = candidates[i];
    if (!chosen)
        return { sourceDigest: source, same: false };
    const data = found[i];
    return {
        sourceDigest: source,
        same: false,
        chosen: data ? { name: chosen.name, data } : { name: chosen.name, size: over.get(chosen.name) }
    };
}
/**
 * The live release against what its deploy recorded: its listing when verified and the marker
 * made when it became ready (a release made before these records existed, or a listing over its
 * limit: unknown).
 */
async function driftCheck(files, layout, id, read, sourceDirs) {
    const listingRead = read('listing', layout.listing(id), server_data/* SERVER_LIMITS */.L_.listingBytes);
    // The directories the release had, listed all at once (the walk confirms each one).
    const recordedDirs = listingRead.then(listing => listing
        ?.toString('utf8')
        .split('\n')
        .map(l => /^d (?:[0-7]+ )?\.\/(.*)$/.exec(l)?.[1])
        .filter((p) => p !== undefined));
    // The walk leaves with the reads of the records (it only reads), hinted with the source's
    // directories, and with the recorded ones once they are read; it is stopped when the records
    // say there is nothing to compare with.
    const stop = new AbortController();
    const walk = (0,sftp_tree/* walkTree */.Ir)(files, layout.release(id), {
        laterHints: [...(sourceDirs ? [sourceDirs] : []), recordedDirs],
        signal: stop.signal
    });
    walk.catch(() => undefined);
    const [listing, ready, links] = await Promise.all([
        listingRead,
        files.lstat(layout.ready(id)),
        read('links', layout.links(id), server_data/* SERVER_LIMITS */.L_.linksBytes)
    ]).catch((error) => {
        stop.abort();
        throw error;
    });
    if (!listing || ready?.type !== 'file') {
        stop.abort();
        return { drift: 'unknown' };
    }
    const recorded = listing.toString('utf8');
    const now = await walk;
    // A link list that is not ours is reported when the plan reads it (parseLinkList); here it
    // only names paths that are not the release's own, so none are taken as such.
    let linked;
    try {
        linked = (0,server_data/* parseLinkList */.KK)(links ?? Buffer.alloc(0), layout.links(id));
    }
    catch {
        linked = [];
    }
    return { drift: driftOf(recorded, now, ready.mtime, linked) };
}
/** The deploy user's id, learned from the lock each inspection made (see takeLock). */
const lockUid = new WeakMap();
/**
 * Create what the layout lacks, then `mkdir .atomic-deploy/lock` and learn the deploy user's id
 * from it (SFTP has no getuid: the directory this run just made is the user's own). With it, the
 * layout's directories are checked for their owner before anything else is written; a refusal
 * then takes back what this run made. Returns once the lock is ours and its owner record written.
 */
async function takeLock(files, options, layout, exists, byName, layoutProblem, 
/** The deploy directory's listing, which names the owners for a refusal's message. */
listed) {
    const D = layout.dir;
    const held = async () => {
        const there = await files.lstat(layout.lock).catch(() => undefined);
        if (!there)
            refused(options, `permission user ${options.user} cannot write to ${D}`, [], D);
        throw new errors/* LockHeldError */.Rk(`${options.label}: ${lockHeldMessage(await lockOwner(files, layout), D)}`);
    };
    const made = [];
    if (!byName.has('.atomic-deploy')) {
        // The deploy directory and any missing parents, shallowest first, then the metadata
        // directory (private, as the shell scripts make it).
        const missing = [];
        if (!exists) {
            const ancestors = [];
            for (let at = D; at !== '/' && at !== ''; at = external_node_path_.posix.dirname(at))
                ancestors.unshift(at);
            const found = await Promise.all(ancestors.map(a => files.lstat(a).catch(() => undefined)));
            ancestors.forEach((a, i) => {
                if (!found[i])
                    missing.push(a);
            });
        }
        try {
            // mkdir -p: another deploy starting at the same moment may make them first.
            if (missing.length > 0)
                await ensureDirectories(files, missing, sftp_layout/* MODES */.FN.layoutDir);
            await files.mkdir(layout.meta, sftp_layout/* MODES */.FN.privateDir);
            made.push(layout.meta);
        }
        catch (error) {
            const there = await files.lstat(layout.meta).catch(() => undefined);
            if (there?.type !== 'dir')
                refused(options, `permission user ${options.user} cannot create directories in ${D} (${(0,errors/* messageOf */.bD)(error)})`, [], D);
        }
    }
    const [lock, mine] = await Promise.allSettled([
        files.mkdir(layout.lock, sftp_layout/* MODES */.FN.privateDir),
        files.lstat(layout.lock)
    ]);
    if (lock.status === 'rejected') {
        const error = lock.reason;
        if (!(error instanceof sftp_engine/* SftpError */.G3) || error.code === undefined)
            throw error;
        return held();
    }
    const uid = mine.status === 'fulfilled' ? mine.value?.uid : undefined;
    if (uid !== undefined && uid >= 0)
        lockUid.set(options, uid);
    let why = layoutProblem(uid);
    // Refused: the listing names the owner, where the lstat gave only the number.
    if (why !== undefined)
        why =
            (await listed().then(() => layoutProblem(uid), () => why)) ?? why;
    if (why !== undefined) {
        // Taken back, with whatever this run made for it: a refusal leaves the server as it was.
        await files.rmdir(layout.lock).catch(() => undefined);
        for (const dir of made.reverse())
            await files.rmdir(dir).catch(() => undefined);
        refused(options, `layout ${why}`);
    }
    options.onLocked?.(D);
    const missing = ['releases', 'shared'].filter(n => !byName.has(n)).map(n => `${D}/${n}`);
    await Promise.all([
        // The owner record, private like every record; the metadata directory private too, as the
        // shell scripts leave it (`chmod 700` on every lock).
        files.writeFile(layout.owner, Buffer.from(`${options.lock?.json ?? ''}\n`), {
            mode: sftp_layout/* MODES */.FN.privateFile,
            temporaryDir: layout.lock
        }),
        files.setMode(layout.meta, sftp_layout/* MODES */.FN.privateDir),
        missing.length > 0 ? ensureDirectories(files, missing, sftp_layout/* MODES */.FN.layoutDir) : undefined
    ]).catch(error => {
        if (error instanceof sftp_engine/* SftpError */.G3 && error.code !== undefined)
            refused(options, `permission user ${options.user} cannot create directories in ${D} (${(0,errors/* messageOf */.bD)(error)})`, [], D);
        throw error;
    });
}

// EXTERNAL MODULE: ./build/bundle/js/ssh/script-frame.js
var script_frame = __webpack_require__(7061);
;// CONCATENATED MODULE: ./build/bundle/js/server/capabilities.js

/** Commands a deploy cannot do without: the listing, the checksums and their comparison. */
const REQUIRED_TOOLS = ['sha256sum', 'stat', 'find', 'awk'];
/** Whether the SFTP server announced an extension (posix-rename@openssh.com, say). */
function sftpHas(capabilities, extension) {
    const { sftp } = capabilities;
    return sftp.state === 'available' && (sftp.extensions?.includes(extension) ?? false);
}
/**
 * Whether `current` is switched over SFTP (posix-rename@openssh.com, which is rename(2)) or by a
 * rename in the shell (mv of a link made in a private directory): SFTP where it is there.
 */
function switchesOverSftp(capabilities) {
    return sftpCanUpload(capabilities.sftp);
}
/** Uploads over SFTP write each file under a temporary name and rename it over the final one. */
function sftpCanUpload(sftp) {
    return (sftp.state === 'available' && (sftp.extensions?.includes('posix-rename@openssh.com') ?? false));
}
/**
 * One line for the log: what the server is and offers, and how the deploy will use it.
 * `sftpStarting`: SFTP's start was not waited for, as the files go by tar.
 */
function describeCapabilities(capabilities, sftpStarting = false) {
    const parts = [
        `${(0,servers/* printable */.g$)(capabilities.software ?? 'unknown SSH server')}${capabilities.pipelined ? ' (round trips saved)' : ''}`
    ];
    if (capabilities.loginShell !== undefined)
        parts.push(`login shell ${(0,servers/* printable */.g$)(capabilities.loginShell).slice(0, 200)}`);
    const tools = ['tar', 'gzip'].filter(t => capabilities.tools.has(t));
    const toolset = capabilities.toolset === 'gnu'
        ? 'GNU tools'
        : capabilities.toolset === 'busybox'
            ? 'BusyBox tools'
            : 'tools';
    parts.push(`${toolset}${tools.length > 0 ? ` with ${tools.join(' and ')}` : ', no tar'}`);
    const { sftp } = capabilities;
    if (sftpStarting)
        parts.push('SFTP still starting (files go by tar)');
    else if (switchesOverSftp(capabilities))
        parts.push('SFTP with posix-rename');
    else if (sftp.state === 'available')
        parts.push('SFTP without posix-rename: switching with mv in the shell');
    else if (sftp.state === 'missing')
        parts.push(`no SFTP (${(0,servers/* printable */.g$)(sftp.reason).slice(0, 200)}): switching with mv in the shell`);
    else
        parts.push(`SFTP not probed (${(0,servers/* printable */.g$)(sftp.reason).slice(0, 200)}): switching with mv`);
    return parts.join('; ');
}
/**
 * Why a deploy cannot complete on this server, or undefined when it can: a tool it needs, or a
 * way to send files (tar, or SFTP with posix-rename), with the setting that fixes it.
 */
function deployProblem(capabilities, transfer) {
    const missing = REQUIRED_TOOLS.filter(t => !capabilities.tools.has(t));
    if (missing.length > 0)
        return missingToolsProblem(missing);
    return sendFilesProblem(transfer, capabilities.tools.has('tar'), capabilities.sftp);
}
function missingToolsProblem(missing) {
    return `the server has no ${missing.map(t => `'${t}'`).join(', ')} in PATH; atomic-deploy needs sh, find, stat, sha256sum and awk (GNU coreutils or BusyBox), and tar for transfer: tar.`;
}
/** Why files cannot be sent with `transfer`, given tar and what SFTP was found to be. */
function sendFilesProblem(transfer, tar, sftp) {
    const viaSftp = sftpCanUpload(sftp);
    const why = sftp.state === 'available'
        ? 'its SFTP server has no posix-rename@openssh.com'
        : sftp.state === 'missing'
            ? `it has no SFTP (${(0,servers/* printable */.g$)(sftp.reason).slice(0, 200)})`
            : `SFTP could not be started (${(0,servers/* printable */.g$)(sftp.reason).slice(0, 200)})`;
    if (transfer === 'tar' && !tar)
        return `transfer is tar but the server has no 'tar' in PATH: install tar, or set transfer: auto${viaSftp ? '' : ' with an SFTP server'}.`;
    if (transfer === 'sftp' && !viaSftp)
        return `transfer is sftp but ${why}: set transfer: auto or tar${tar ? '' : ' and install tar'}.`;
    if (transfer === 'auto' && !tar && !viaSftp)
        return `the server has no 'tar' in PATH and ${why}, so files cannot be sent: install tar (GNU or BusyBox), or enable SFTP (Subsystem sftp in sshd_config; Dropbear runs /usr/lib/sftp-server).`;
    return undefined;
}

;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-inspect.js
/**
 * Phases 2 and 3 on one server, its inspect half: resolve the deploy path, refuse what must be
 * refused, take the lock, and learn the server's state and what it offers, by the inspect script
 * or, for an account that runs no commands, over SFTP alone (sftp-inspect.ts). Everything read
 * back is checked (server-data.ts) before it is kept in the session's state.
 */













/** With transfer: sftp, a deploy checks that SFTP is there before anything is written. */
function checksSftpFirst(options) {
    return options.deploy?.transfer === 'sftp' && options.lockOwner !== undefined;
}
/** The inspect script's values for `options`. */
function inspectParams(options) {
    const { lockOwner, deploy } = options;
    return {
        path: options.path,
        lock: lockOwner !== undefined,
        lockOwner: lockOwner?.json ?? '',
        reuse: options.reuse,
        systemExact: system_directories/* SYSTEM_DIRECTORIES */.u.exact,
        systemTrees: system_directories/* SYSTEM_DIRECTORIES */.u.trees,
        ...(options.prefetch ? { prefetch: options.prefetch } : {}),
        drift: options.drift,
        wantDigest: options.digest !== undefined,
        ...(deploy && lockOwner
            ? {
                require: {
                    tools: [...REQUIRED_TOOLS],
                    tar: deploy.transfer === 'tar',
                    tarOrSftp: deploy.transfer === 'auto'
                }
            }
            : {})
    };
}
/**
 * The inspect script for `options` as the connection's first script, framed as it is sent, where
 * it is the first thing the inspect phase runs: not for an account that runs no commands
 * (shell: none), nor where SFTP is checked first (transfer: sftp).
 */
function firstInspectScript(options) {
    if (options.access.shell === 'none' || checksSftpFirst(options))
        return undefined;
    return {
        script: (0,script_frame/* framed */.Q)((0,remote_scripts/* inspectScript */.Y1)(inspectParams(options)), true),
        ...(options.digest ? { follow: digestLine(options.digest) } : {})
    };
}
/**
 * Resolve the deploy path, refuse what must be refused, take the lock (when given an owner for
 * it), and learn the server's state and what it offers. Nothing is created when anything is
 * refused: what a deploy needs from the server is checked before the first write.
 */
async function inspect(s, options) {
    const { path: pathInput, lockOwner, deploy, drift, access, digest } = options;
    const overSftp = (why, early) => session_inspect_inspectOverSftp(s, options, why, early);
    if (access.shell === 'none' || !s.host.exec)
        return overSftp('shell is none');
    // Whether the account runs commands is known only from the script's answer; the reads an
    // SFTP-only inspect starts with go out beside it (they only read), a round trip saved when
    // it runs none. The layout's lstats (the lock a round trip earlier) only for a deploy: a
    // rollback or an unlock on a server that runs commands, the usual case, does without their
    // bytes (about 1 kB), and on an SFTP-only one waits for the listing instead.
    const early = s.host
        .files()
        .then(files => firstReads(files, pathInput, deploy !== undefined))
        .catch(() => undefined);
    const params = inspectParams(options);
    if (checksSftpFirst(options))
        await refuseUnlessSftpUploads(s, 'sftp', true);
    // The digest follows the script on its stdin, with it when the source is hashed by then,
    // else as soon as it is: the script reads it last, so it costs no round trip of its own.
    const follow = digest ? digestLine(digest) : undefined;
    const withDigest = () => (follow ? { follow } : {});
    let ran;
    try {
        ran = await s.script((0,remote_scripts/* inspectScript */.Y1)(params), withDigest(), withDigest);
    }
    catch (error) {
        if (!(error instanceof errors/* ExecRefusedError */.EC))
            throw error;
        const why = 'the server refuses to run commands for this account';
        if (await sftpOnlyPossible(s, why))
            return overSftp(why, early);
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${noShellMessage(s.server.user, why, s.capabilities?.sftp)}`);
    }
    let { result, output } = ran;
    if (output.lines.length === 0 && result.code !== 0) {
        // Not a word from the script: the account ran something else (ForceCommand internal-sftp,
        // nologin, a restricted shell). Any sh prints a line of ours before it writes anything.
        const why = noShellReason(lastLines(`${result.stdout.toString('utf8')}\n${result.stderrTail}`), result.code);
        if (await sftpOnlyPossible(s, why))
            return overSftp(why, early);
    }
    if (params.require && (0,script_output/* value */.Uq)(output, 'refused') === 'need-sftp') {
        // No tar: the files go over SFTP if it is there, which the script cannot know. It stopped
        // before writing anything; ask again once SFTP is known to be there.
        await refuseUnlessSftpUploads(s, deploy?.transfer ?? 'auto', false);
        ({ result, output } = await s.script((0,remote_scripts/* inspectScript */.Y1)({ ...params, require: { ...params.require, tarOrSftp: false } }), withDigest(), withDigest));
    }
    await checkInspected(s, result, output, pathInput);
    if (lockOwner) {
        s.lockToken = lockOwner.token;
        s.lockOwnerJson = lockOwner.json;
    }
    // From here on, everything comes from the server: each value is checked before it is kept.
    try {
        readState(s, output, pathInput);
    }
    catch (error) {
        if (error instanceof errors/* ServerDataError */.Sy)
            throw new errors/* ServerDataError */.Sy(`${s.label}: ${error.message}`);
        throw error;
    }
    s.pendingBlob = output.blobs.get('pending');
    s.driftChecked = drift;
    if (drift && s.liveRelease !== undefined && !output.lines.includes('drift unknown'))
        s.drift = summarizeDiff(parseListingDiff('drift', output.lines));
    const hooked = output.blobs.get('hooked');
    s.hooked = hooked ? hookedDiff(hooked) : undefined;
    if (s.prefetched?.spare)
        s.log.info(`the new release starts from the copy of ${s.prefetched.from} made after the deploy that put it live`);
    s.report.previousRelease = s.liveRelease;
    const toolset = (0,script_output/* value */.Uq)(output, 'toolset');
    // SFTP starts beside the script, and its start can end after the script's answer (ssh2
    // reports it ready only once limits@openssh.com is answered: asked for after the server's
    // VERSION, or right behind INIT on the channel opened during authentication, see
    // limitsBehindInit in ssh2-internals.ts). Where the files go by tar, nothing this phase
    // decides depends on it: what it found is taken if it is in, and otherwise waited for by
    // whatever chooses by it (the switch, through sftpSettling).
    const needed = deploy !== undefined && (deploy.transfer === 'sftp' || !s.tools.has('tar'));
    const probe = sftpProbe(s, needed);
    const found = needed ? await probe : await settledNow(probe);
    const capabilities = {
        software: s.host.software,
        pipelined: s.host.pipelined,
        exec: { available: true },
        sftp: found ?? { state: 'unknown', reason: 'still starting' },
        loginShell: (0,script_output/* value */.Uq)(output, 'shell'),
        tools: s.tools,
        toolset: toolset === 'gnu' || toolset === 'busybox' ? toolset : 'other'
    };
    s.capabilities = capabilities;
    if (found === undefined)
        s.sftpSettling = probe.then(sftp => {
            capabilities.sftp = sftp;
        }, (error) => {
            capabilities.sftp = { state: 'unknown', reason: (0,errors/* messageOf */.bD)(error) };
        });
    s.log.info(`server: ${describeCapabilities(capabilities, found === undefined)}`);
    const problem = deploy ? deployProblem(capabilities, deploy.transfer) : undefined;
    if (problem)
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${problem}`);
}
/** The value of `promise` if it has settled by the end of this turn of the event loop. */
async function settledNow(promise) {
    const later = new Promise(resolve => setImmediate(resolve, undefined));
    return Promise.race([promise, later]).catch(() => undefined);
}
/**
 * What SFTP is here. `needed`: files will go over it, so a probe that sshd's MaxSessions
 * refused (while the script's channel was open) is made again, with room made for it.
 */
async function sftpProbe(s, needed) {
    const probe = await s.host.probeSftp();
    if (!needed || probe.state !== 'unknown')
        return probe;
    return s.host
        .files()
        .then(() => s.host.probeSftp())
        .catch(() => probe);
}
/** Refuse, before anything is written, a deploy whose files can go over SFTP only, without it. */
async function refuseUnlessSftpUploads(s, transfer, tar) {
    const problem = sendFilesProblem(transfer, tar, await sftpProbe(s, true));
    if (problem)
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${problem} Nothing was changed.`);
}
/** Turn what the inspect script said into the error a user reads, when it is one. */
async function checkInspected(s, result, output, pathInput) {
    if (output.lines.length === 0 && result.code !== 0) {
        // Not a word from the script: the account ran something else (nologin, a ForceCommand).
        const reason = noShellReason(lastLines(`${result.stdout.toString('utf8')}\n${result.stderrTail}`), result.code);
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${noShellMessage(s.server.user, reason, s.capabilities?.sftp)}`);
    }
    const refused = (0,script_output/* value */.Uq)(output, 'refused');
    if (refused?.startsWith('tools ')) {
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${missingToolsProblem(refused.slice(6).split(' '))} Nothing was changed.`);
    }
    if (result.code === remote_scripts/* REFUSED_EXIT */.ED || refused !== undefined) {
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${refusalMessage(refused ?? 'unknown', (0,script_output/* values */.zu)(output, 'foreign'), s.server.user, (0,script_output/* value */.Uq)(output, 'path') ?? pathInput)}`);
    }
    if (result.code === remote_scripts/* LOCK_EXIT */.n8) {
        throw new errors/* LockHeldError */.Rk(`${s.label}: ${lockHeldMessage(output.blobs.get('owner')?.toString('utf8'), (0,script_output/* value */.Uq)(output, 'path') ?? pathInput)}`);
    }
    if (result.code !== 0 || !output.lines.includes('end')) {
        throw new errors/* RemoteCommandError */.at(`${s.label}: inspecting ${pathInput} failed (exit ${result.code}): ${result.stderrTail.trim()}`, result.code, result.stderrTail);
    }
}
/**
 * The account runs no commands: resolve, refuse, lock and read the state over SFTP alone.
 * Whatever needs a shell is refused first, before anything is written.
 */
async function session_inspect_inspectOverSftp(s, options, why, 
/** The reads started beside the inspect script, when there was one. */
early) {
    const { path: pathInput, lockOwner, reuse, access, drift, digest, sourceDirs } = options;
    s.access = 'sftp';
    const [needs] = access.needsShell;
    if (needs !== undefined) {
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: '${needs}' needs a shell on the server, and ${why}. Remove '${needs}' (a health-check-url still runs from the runner), or deploy as a user with a shell. Nothing was changed.`);
    }
    // Known already when the script found no shell; with shell: none, probed here.
    const possible = s.capabilities
        ? sftpCanUpload(s.capabilities.sftp)
        : await sftpOnlyPossible(s, why);
    if (!possible) {
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${noShellMessage(s.server.user, why, s.capabilities?.sftp)}`);
    }
    const files = await s.host.files();
    s.log.info(`server: ${(0,servers/* printable */.g$)(s.host.software ?? 'unknown SSH server')}; ${why}; SFTP with ${[
        'posix-rename',
        ...(files.abilities.hardlink ? ['hardlink'] : []),
        ...(files.abilities.copyData ? ['copy-data'] : [])
    ].join(', ')}: deploying over SFTP alone`);
    const reads = await early;
    const state = await inspectOverSftp(files, {
        path: pathInput,
        lock: lockOwner,
        reuse,
        user: s.server.user,
        label: s.label,
        ...(reads ? { firstReads: Promise.resolve(reads) } : {}),
        drift,
        plans: digest !== undefined,
        ...(digest ? { sourceDigest: digest } : {}),
        ...(sourceDirs ? { sourceDirs } : {}),
        onLocked: dir => {
            s.deployDir = dir;
            if (lockOwner)
                s.lockToken = lockOwner.token;
        }
    }).catch(error => {
        throw s.sftpFailure(error, `inspecting ${pathInput}`);
    });
    s.deployDir = state.deployDir;
    s.releaseDirs = state.releaseDirs;
    // Records past their limit were not read: the same names and rules as the inspect script's.
    s.tooLarge = state.tooLarge;
    try {
        s.events = acceptLog(s, state.log ?? Buffer.alloc(0));
    }
    catch (error) {
        if (error instanceof errors/* ServerDataError */.Sy)
            throw new errors/* ServerDataError */.Sy(`${s.label}: ${error.message}`);
        throw error;
    }
    const listing = state.tooLarge.get('listing');
    if (listing !== undefined && state.liveRelease !== undefined)
        s.log.warning(`${s.deployDir}/.atomic-deploy/manifests/${state.liveRelease}.listing is ${formatBytes(listing)}, over the limit of ${formatBytes(server_data/* SERVER_LIMITS */.L_.listingBytes)}: changes made on the server since that release was deployed were not looked for`);
    s.liveRelease = state.liveRelease;
    s.sftpBase = state.base;
    s.linksBlob = state.links;
    s.pendingBlob = state.pending;
    s.driftChecked = drift;
    if (state.drift !== undefined && state.drift !== 'unknown')
        s.drift = summarizeDiff(state.drift);
    s.hooked = state.hooked ? hookedDiff(state.hooked) : undefined;
    s.leftovers = {
        switchLinks: state.switchLinks,
        metaNames: state.metaNames,
        tmpNames: state.tmpNames,
        setAside: state.setAside
    };
    s.report.previousRelease = s.liveRelease;
}
/**
 * The account runs no commands: whether its SFTP can carry the whole deploy (a session with
 * posix-rename@openssh.com, for the atomic switch). Records what the server offers either way.
 */
async function sftpOnlyPossible(s, why) {
    const sftp = await s.host
        .probeSftp()
        .catch(error => ({ state: 'unknown', reason: (0,errors/* messageOf */.bD)(error) }));
    s.capabilities = {
        software: s.host.software,
        pipelined: s.host.pipelined,
        exec: { available: false, reason: why },
        sftp,
        loginShell: undefined,
        tools: new Set(),
        toolset: 'other'
    };
    return sftpCanUpload(sftp);
}
/** What the inspect script reported, validated (see server-data.ts). */
function readState(s, output, pathInput) {
    s.deployDir = (0,server_data/* resolvedDeployDir */.DJ)((0,script_output/* value */.Uq)(output, 'path'), pathInput);
    // Records past their limit are reported by size only (`toolarge <name> <bytes>`).
    s.tooLarge = new Map((0,script_output/* values */.zu)(output, 'toolarge').map(line => {
        const [name = '', size = ''] = line.split(' ');
        return [name, /^[0-9]{1,20}$/.test(size) ? Number(size) : Infinity];
    }));
    s.umask = (0,server_data/* parseUmask */.Dy)((0,script_output/* value */.Uq)(output, 'umask'));
    s.tools = new Set((0,script_output/* values */.zu)(output, 'tool'));
    s.releaseDirs = (0,server_data/* releaseDirectories */.RW)((0,script_output/* values */.zu)(output, 'release'));
    s.events = acceptLog(s, output.blobs.get('log') ?? Buffer.alloc(0));
    const current = output.blobs.get('current')?.toString('utf8');
    s.liveRelease = current === undefined ? undefined : (0,server_data/* liveReleaseOf */.xC)(current, s.deployDir);
    s.manifestBlob = output.blobs.get('manifest');
    const view = output.blobs.get('view');
    const viewText = output.blobs.get('view-text');
    s.viewBlob = view
        ? { data: view, gzipped: true }
        : viewText
            ? { data: viewText, gzipped: false }
            : undefined;
    s.same = output.lines.includes('same');
    s.linksBlob = output.blobs.get('links');
    s.prefetched = (0,server_data/* parsePrefetch */.VV)((0,script_output/* value */.Uq)(output, 'prefetch'));
}
/**
 * The release log as read (or its size in tooLarge, when it was not sent), parsed and checked:
 * it decides what is pruned and rolled back to, so a log past its limit or with a line that is
 * not ours is an error that names the file and the fix, whichever way it was read.
 */
function acceptLog(s, log) {
    const logFile = `${s.deployDir}/.atomic-deploy/log`;
    const logSize = s.tooLarge.get('log') ?? log.length;
    if (logSize > server_data/* SERVER_LIMITS */.L_.logBytes) {
        throw new errors/* ServerDataError */.Sy(`${logFile} is ${formatBytes(logSize)}, over the limit of ${formatBytes(server_data/* SERVER_LIMITS */.L_.logBytes)}; every deploy compacts it, so it was not written by atomic-deploy alone. Nothing was changed. Keep only its lines for the releases in releases/, then deploy again.`);
    }
    try {
        return parseLog(log.toString('utf8'));
    }
    catch (error) {
        if (!(error instanceof LogFormatError))
            throw error;
        throw new errors/* ServerDataError */.Sy(`${logFile} ${error.message}: the release log is written only by atomic-deploy, one 'event<TAB>release-id<TAB>time' line per event. Nothing was changed. Remove or correct that line, then deploy again.`);
    }
}
/** What before-switch changed in a release, from the record release.sh made of it. */
function hookedDiff(record) {
    return summarizeDiff(parseListingDiff('hook', record
        .toString('utf8')
        .split('\n')
        .filter(l => l.startsWith('!'))
        .map(l => l.slice(1))));
}
/** The digest line the inspect script reads; `-` (matching nothing) when the scan failed. */
function digestLine(digest) {
    return digest.then(line => Buffer.from(`${line}\n`), 
    // The deploy fails on the scan's error once the inspect phase is over.
    () => Buffer.from('-\n'));
}

;// CONCATENATED MODULE: ./build/bundle/js/release/plan.js
/**
 * Whether two sha256 digests are of the same content. One may be cut short (a base from a
 * manifest view keeps the first 16 hex digits, see compact-manifest.ts): they agree on what
 * both have, and that is at least 16 digits.
 */
function sameDigest(a, b) {
    if (a === undefined || b === undefined)
        return false;
    if (a.length === b.length)
        return a === b;
    const [short, long] = a.length < b.length ? [a, b] : [b, a];
    return short.length >= 16 && long.startsWith(short);
}
function same(a, b) {
    if (a.type !== b.type)
        return false;
    switch (a.type) {
        case 'file':
            return sameDigest(a.sha256, b.sha256) && a.size === b.size && a.mode === b.mode;
        case 'symlink':
            return a.target === b.target;
        case 'dir':
            // Directory modes are the server's (its umask decides them), so only existence counts.
            return true;
    }
}
/** Is `p` inside one of `dirs` (a set of directory paths)? */
function underAny(p, dirs) {
    // The usual case, no directory removed: nothing to look up, and no prefix made.
    if (dirs.size === 0)
        return false;
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
        if (dirs.has(p.slice(0, i)))
            return true;
    }
    return false;
}
/**
 * Diff the local entries against the base (the manifest of the release we start from; empty for
 * a full upload).
 */
function makePlan(local, base) {
    // One map, of the local entries' positions: what the walk over the base learns of each local
    // entry (in the base, and the same there or not) is kept by position, so the walk over the
    // local entries needs no map of the base (on 50,000 entries, a third of the plan's time).
    const localIndex = new Map();
    for (let i = 0; i < local.length; i++)
        localIndex.set(local[i].path, i);
    /** Per local entry: 0 not in the base, 1 the same there, 2 in the base but different. */
    const inBase = new Uint8Array(local.length);
    const removedDirs = new Set();
    const remove = [];
    const deleted = [];
    let deletedFiles = 0;
    // Base entries sorted parents-first, so a removed directory hides everything below it.
    for (const old of base) {
        if (underAny(old.path, removedDirs)) {
            if (!localIndex.has(old.path)) {
                deleted.push(old.path);
                if (old.type === 'file')
                    deletedFiles++;
            }
            continue;
        }
        const index = localIndex.get(old.path);
        if (index === undefined) {
            deleted.push(old.path);
            if (old.type === 'file')
                deletedFiles++;
            remove.push(old.path);
            if (old.type === 'dir')
                removedDirs.add(old.path);
        }
        else if (!same(old, local[index])) {
            inBase[index] = 2;
            remove.push(old.path);
            if (old.type === 'dir')
                removedDirs.add(old.path);
        }
        else {
            inBase[index] = 1;
        }
    }
    const upload = [];
    let unchanged = 0;
    let unchangedFiles = 0;
    let uploadBytes = 0;
    let uploadFiles = 0;
    for (let i = 0; i < local.length; i++) {
        const entry = local[i];
        const was = inBase[i];
        const gone = was !== 0 && (underAny(entry.path, removedDirs) || removedDirs.has(entry.path));
        if (was === 1 && !gone) {
            unchanged++;
            if (entry.type === 'file')
                unchangedFiles++;
            continue;
        }
        upload.push(entry);
        if (entry.type === 'file') {
            uploadFiles++;
            uploadBytes += entry.size;
        }
    }
    return {
        upload,
        remove,
        deleted,
        unchanged,
        unchangedFiles,
        deletedFiles,
        uploadFiles,
        uploadBytes
    };
}
/**
 * The directories of the starting copy that the plan writes into or removes from: every parent
 * of an uploaded or removed path, and every uploaded directory (deduplicated, parents first).
 * The copy comes from the server, where any of them may have become a symlink since it was
 * deployed (by hand, or planted); the server checks each of these is no symlink before anything
 * is removed or written, so no write or removal ever follows one out of the release.
 */
function writtenDirectories(plan) {
    // Servers with the same plan share its arrays (a plan is never changed in place): a group of
    // ten works this out once.
    return [...directoriesOf(plan.upload, plan.remove)];
}
/**
 * `f(a, b)`, made once for a pair of objects and remembered while both live: for work on arrays
 * that servers with the same plan share (a plan's arrays are never changed in place).
 */
function onceForPair(f) {
    const byA = new WeakMap();
    return (a, b) => {
        let byB = byA.get(a);
        if (!byB)
            byA.set(a, (byB = new WeakMap()));
        if (!byB.has(b))
            byB.set(b, f(a, b));
        return byB.get(b);
    };
}
const directoriesOf = onceForPair((upload, remove) => {
    const dirs = new Set();
    const addParents = (p) => {
        for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1))
            dirs.add(p.slice(0, i));
    };
    for (const p of remove)
        addParents(p);
    for (const e of upload) {
        addParents(e.path);
        if (e.type === 'dir')
            dirs.add(e.path);
    }
    // Parents first: by depth (the number of slashes, counted once per name), then by name.
    const depth = (p) => {
        let n = 0;
        for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1))
            n++;
        return n;
    };
    return [...dirs]
        .map(name => ({ name, depth: depth(name) }))
        .sort((a, b) => a.depth - b.depth || (a.name < b.name ? -1 : 1))
        .map(d => d.name);
});

;// CONCATENATED MODULE: ./build/bundle/js/release/shared-check.js
/** How deep shared/ must be listed to decide: the deepest directory of the source, plus one. */
function sharedDepth(entries, sharedPaths) {
    const depth = (p) => p.replace(/\/$/, '').split('/').length;
    if (sharedPaths)
        return Math.max(1, ...sharedPaths.map(depth));
    return Math.max(1, ...entries.filter(e => e.type === 'dir').map(e => depth(e.path) + 1));
}
/** Parse `d ./a`, `f ./a/b`, `l ./c` lines of the shared/ listing. */
function parseSharedListing(lines) {
    const types = { d: 'dir', f: 'file', l: 'symlink' };
    const out = new Map();
    for (const line of lines) {
        const m = /^([dfl]) \.\/(.+)$/.exec(line);
        if (m)
            out.set(m[2], types[m[1]]);
    }
    return out;
}
function sharedProblems(shared, entries, sharedPaths, conflict) {
    const source = new Map(entries.map(e => [e.path, e.type]));
    const problems = [];
    if (sharedPaths) {
        for (const entry of sharedPaths) {
            const rel = entry.replace(/\/$/, '');
            if (shared.has(rel)) {
                if (source.has(rel) && conflict === 'fail')
                    problems.push({ kind: 'conflict', path: rel });
            }
            else if (!source.has(rel) && !entry.endsWith('/')) {
                problems.push({ kind: 'missing', path: rel });
            }
        }
        return problems;
    }
    if (conflict === 'replace')
        return problems;
    // Every entry of shared/ at the first level the release does not have as a real directory.
    const children = new Map();
    for (const p of shared.keys()) {
        const at = p.lastIndexOf('/');
        const parent = at < 0 ? '' : p.slice(0, at);
        children.set(parent, [...(children.get(parent) ?? []), p]);
    }
    const walk = (dir) => {
        for (const rel of (children.get(dir) ?? []).sort()) {
            if (source.get(rel) === 'dir' && shared.get(rel) === 'dir')
                walk(rel);
            else if (source.has(rel))
                problems.push({ kind: 'conflict', path: rel });
        }
    };
    walk('');
    return problems;
}

;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-plan.js
/**
 * Phase 3 on one server, its plan half: choose where the new release starts from (the live
 * release's copy, cache/, or nothing) from the records the inspect phase read, and diff the
 * source against it. Also the dry run's check of shared/.
 */

















/** Decide the starting point and diff against it. */
async function session_plan_makePlan(s, entries, reuse) {
    s.base = await chooseBase(s, reuse, entries);
    const baseEntries = s.base.kind === 'none' ? NO_ENTRIES : s.base.entries;
    if (s.base.kind === 'none')
        s.log.info(`full upload: ${s.base.reason}`);
    else if (s.base.kind === 'cache' && s.base.reason)
        s.log.info(`full upload: ${s.base.reason}`);
    // Servers that start from the same entries (the same view, or the source's own) share one
    // plan: a group of ten with identical plans computes it once.
    s.plan = { ...sharedPlan(entries, baseEntries) };
    const extra = s.base.kind === 'none' ? [] : s.base.remove;
    if (extra.length > 0) {
        const planned = new Set(s.plan.remove);
        s.plan.remove = [...extra.filter(p => !planned.has(p)), ...s.plan.remove];
    }
    return s.plan;
}
/**
 * The starting point's entries, from what the inspect script reported: the source's own when
 * the server said `same` (its manifest has the source's digest), else its view, else the
 * manifest an older version wrote (the new one is then sent whole). `stem` is the manifest's
 * path under .atomic-deploy without its suffix (`cache`, `manifests/<id>`); `manifest` in the
 * result names the server's manifest to put the new one together from, undefined when there
 * is none to use. A record past its limit or not valid throws, naming it.
 */
async function baseManifest(s, local, stem) {
    if (s.access === 'sftp')
        await readBaseOverSftp(s, local);
    const file = `${s.deployDir}/.atomic-deploy/${stem}`;
    const old = stem === 'cache' ? `${file}.manifest.json.gz` : `${file}.json.gz`;
    for (const [name, path] of [
        ['view', `${file}.view.gz`],
        ['view-text', `${file}.view`],
        ['manifest', old]
    ]) {
        const size = s.tooLarge.get(name);
        if (size !== undefined)
            throw new Error(`${path} is ${formatBytes(size)}, over the limit of ${formatBytes(server_data/* SERVER_LIMITS */.L_.manifestBytes)}`);
    }
    if (s.same)
        return { entries: local, manifest: stem };
    if (s.viewBlob) {
        const { data, gzipped } = s.viewBlob;
        try {
            return { entries: await viewEntries(data, gzipped, local), manifest: stem };
        }
        catch (error) {
            throw new Error(`${file}${gzipped ? '.view.gz' : '.view'} is not a valid manifest view (${(0,errors/* messageOf */.bD)(error)})`, { cause: error });
        }
    }
    if (s.manifestBlob) {
        try {
            const limits = {
                compressed: server_data/* SERVER_LIMITS */.L_.manifestBytes,
                json: server_data/* SERVER_LIMITS */.L_.manifestJsonBytes
            };
            return { entries: (await parseManifest(s.manifestBlob, limits)).entries };
        }
        catch (error) {
            throw new Error(`${old} is not a valid manifest (${(0,errors/* messageOf */.bD)(error)})`, {
                cause: error
            });
        }
    }
    return undefined;
}
/**
 * SFTP-only: what the inspect script would report of the starting point's manifest (see
 * readBaseRecords), read at inspect when the source's digest was known by then, or now. The
 * digest read is the source's: `same`, and nothing more is read.
 */
async function readBaseOverSftp(s, local) {
    const base = s.sftpBase;
    s.sftpBase = undefined;
    if (!base)
        return;
    const digest = (await sourceManifest(local)).digest;
    const records = base.records?.sourceDigest === digest
        ? base.records
        : await readBaseRecords(await s.host.files(), base, digest).catch(error => {
            throw s.sftpFailure(error, 'reading the manifest');
        });
    if (records.same) {
        s.same = true;
        return;
    }
    const chosen = records.chosen;
    if (!chosen)
        return;
    if (!chosen.data)
        s.tooLarge.set(chosen.name, chosen.size);
    else if (chosen.name === 'manifest')
        s.manifestBlob = chosen.data;
    else
        s.viewBlob = { data: chosen.data, gzipped: chosen.name === 'view' };
}
async function chooseBase(s, reuse, local) {
    if (reuse === 'none')
        return { kind: 'none', reason: 'reuse is none' };
    const metadata = `${s.deployDir}/.atomic-deploy`;
    if (reuse === 'cache') {
        // Every record of cache/ is checked: one that fails means cache/ is rebuilt from nothing.
        const rebuild = (reason) => {
            s.log.warning(reason);
            return { kind: 'cache', exists: false, entries: [], remove: [], reason };
        };
        if (s.tooLarge.has('pending'))
            return rebuild(`${metadata}/cache.pending is over the limit of ${formatBytes(server_data/* SERVER_LIMITS */.L_.manifestBytes)}; cache/ is rebuilt from scratch and the manifest written anew`);
        let found;
        try {
            found = await baseManifest(s, local, 'cache');
        }
        catch (error) {
            return rebuild(`${(0,errors/* messageOf */.bD)(error)}; cache/ is rebuilt from scratch and the manifest written anew`);
        }
        if (!found)
            return {
                kind: 'cache',
                exists: false,
                entries: [],
                remove: [],
                reason: 'cache/ has no manifest yet'
            };
        const pending = parsePending(s.pendingBlob);
        if (pending === undefined)
            return rebuild(`${metadata}/cache.pending, the record of an interrupted update of cache/, is not one path a line; cache/ is rebuilt from scratch`);
        if (pending.length > 0)
            s.log.info(`an earlier deploy was interrupted while updating cache/: ${pending.length} path${pending.length === 1 ? '' : 's'} there are sent again`);
        // With copy-method: hardlink the live release shares its files with cache/, so what was
        // changed in it in place since it was deployed (drift), or by its before-switch, may have
        // changed in cache/ too. Those paths are sent again like pending ones (with cp -a they
        // cost one upload each and change nothing else), so the new release holds the source.
        if (s.tooLarge.has('hooked') ||
            (s.drift !== undefined && !s.drift.complete) ||
            (s.hooked !== undefined && !s.hooked.complete))
            return rebuild(`the live release ${s.liveRelease ?? ''} differs from its manifest in more paths than were listed; cache/, whose files it may share, is rebuilt from scratch`);
        const changed = [...(s.drift?.paths ?? []), ...(s.hooked?.paths ?? [])];
        return {
            kind: 'cache',
            exists: true,
            ...withoutPaths(found.entries, [...pending, ...changed]),
            ...(found.manifest ? { manifest: found.manifest } : {})
        };
    }
    if (s.liveRelease === undefined)
        return { kind: 'none', reason: 'first deploy (no current release)' };
    if (!s.releaseDirs.has(s.liveRelease)) {
        return {
            kind: 'none',
            reason: `current points to ${s.liveRelease}, which is not a directory in releases/`
        };
    }
    const file = `${metadata}/manifests/${s.liveRelease}`;
    for (const [name, suffix, limit] of [
        ['links', '.links', server_data/* SERVER_LIMITS */.L_.linksBytes],
        ['hooked', '.hook', server_data/* SERVER_LIMITS */.L_.linksBytes]
    ]) {
        const size = s.tooLarge.get(name);
        if (size !== undefined)
            return notReused(s, `${file}${suffix} is ${formatBytes(size)}, over the limit of ${formatBytes(limit)}`);
    }
    // The live release's records steer what is removed from its copy: if either fails
    // validation, the copy is not used at all, and this release is uploaded whole.
    let found;
    try {
        found = await baseManifest(s, local, `manifests/${s.liveRelease}`);
    }
    catch (error) {
        return notReused(s, (0,errors/* messageOf */.bD)(error));
    }
    if (!found)
        return { kind: 'none', reason: `the live release ${s.liveRelease} has no manifest` };
    let sharedLinks;
    try {
        sharedLinks = (0,server_data/* parseLinkList */.KK)(s.linksBlob ?? Buffer.alloc(0), `${file}.links`);
    }
    catch (error) {
        return notReused(s, (0,errors/* messageOf */.bD)(error));
    }
    // The copy loses its shared links (they are removed and linked again), and with them
    // whatever the release had at those paths: plan those paths as absent, so they are sent
    // again and the shared rules (conflict, replace) apply to them as on a first deploy.
    const entries = withoutLinked(found.entries, sharedLinks);
    // Paths changed in the live release since it was deployed (drift), or by its before-switch,
    // are not what its manifest says: the copy loses them, and the plan sends them again.
    const untrusted = [...(s.drift?.paths ?? []), ...(s.hooked?.paths ?? [])];
    if ((s.drift !== undefined && !s.drift.complete) ||
        (s.hooked !== undefined && !s.hooked.complete))
        return {
            kind: 'none',
            reason: `the live release ${s.liveRelease} differs from its manifest in more paths than were listed`
        };
    return {
        kind: 'release',
        id: s.liveRelease,
        sharedLinks,
        ...withoutPaths(entries, untrusted),
        ...(found.manifest ? { manifest: found.manifest } : {})
    };
}
function notReused(s, problem) {
    s.log.warning(`${problem}. Release ${s.liveRelease} is not used as the starting point: this deploy uploads everything and writes new records.`);
    return { kind: 'none', reason: `the records of ${s.liveRelease} are not valid` };
}
/** One line that says what the upload will do. */
function planLine(s) {
    const plan = s.plan;
    if (!plan)
        return 'no plan';
    // Every count is of files, so the three add up to what the two trees hold.
    return `uploading ${files(plan.uploadFiles)} (${formatBytes(plan.uploadBytes)}), deleting ${files(plan.deletedFiles)}, keeping ${files(plan.unchangedFiles)}`;
}
/**
 * For a dry run: the shared-path conflicts and missing paths the release phase would fail on,
 * as its messages say them.
 */
async function session_plan_sharedProblems(s, entries, sharedPaths, conflict) {
    const describe = (shared) => sharedProblems(shared, entries, sharedPaths, conflict).map(p => p.kind === 'conflict'
        ? `${p.path} is both in shared/ and in the release; remove it from the source or exclude it, or set shared-conflict: replace`
        : `${p.path} is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory`);
    if (s.access === 'sftp')
        return describe(await sharedOverSftp(s, entries, sharedPaths).catch(error => {
            throw s.sftpFailure(error, 'listing shared/');
        }));
    const { result, output } = await s.script((0,remote_scripts/* sharedListingScript */.FH)(s.deployDir, Math.min(sharedDepth(entries, sharedPaths), 32)));
    if (result.code !== 0 || !output.lines.includes('shared-end')) {
        throw new errors/* RemoteCommandError */.at(`${s.label}: listing shared/ failed (exit ${result.code}): ${lastLines(result.stderrTail)}`, result.code, result.stderrTail);
    }
    return describe(parseSharedListing((0,script_output/* values */.zu)(output, 'shared-entry')));
}
/** What shared/ holds, as deep as deciding the shared paths needs, read over SFTP. */
async function sharedOverSftp(s, entries, sharedPaths) {
    const files = await s.host.files();
    const root = `${s.deployDir}/shared`;
    const typeOf = (t) => t === 'dir' ? 'dir' : t === 'symlink' ? 'symlink' : 'file';
    const shared = new Map();
    if (sharedPaths) {
        const rels = sharedPaths.map(p => p.replace(/\/$/, ''));
        const found = await Promise.all(rels.map(rel => files.lstat(`${root}/${rel}`)));
        rels.forEach((rel, i) => {
            const attrs = found[i];
            if (attrs)
                shared.set(rel, typeOf(attrs.type));
        });
        return shared;
    }
    if ((await files.lstat(root))?.type !== 'dir')
        return shared;
    const depth = Math.min(sharedDepth(entries, sharedPaths), 32);
    for (const e of await (0,sftp_tree/* walkTree */.Ir)(files, root, { maxDepth: depth }))
        shared.set(e.path, typeOf(e.attrs.type));
    return shared;
}
/** A starting point with no entries (a full upload). */
const NO_ENTRIES = [];
/** withoutLinked's results, by the entries and the links: servers alike share them. */
const unlinked = new WeakMap();
/** `entries` less the shared links and whatever lies beneath them (computed once per pair). */
function withoutLinked(entries, sharedLinks) {
    if (sharedLinks.length === 0)
        return entries;
    const key = sharedLinks.join('\0');
    let byLinks = unlinked.get(entries);
    if (!byLinks)
        unlinked.set(entries, (byLinks = new Map()));
    let kept = byLinks.get(key);
    if (!kept) {
        const linked = new Set(sharedLinks);
        const underLink = (p) => {
            for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1))
                if (linked.has(p.slice(0, i)))
                    return true;
            return false;
        };
        kept = entries.filter(e => !underLink(e.path));
        byLinks.set(key, kept);
    }
    return kept;
}
/** makePlan(local, base), made once for a pair of arrays (a plan is never changed in place). */
const sharedPlan = onceForPair((local, base) => makePlan(local, base));
/**
 * Manifest entries minus `paths` and everything under them, and the top-most of `paths` as the
 * removals that make a copy match what is left.
 */
function withoutPaths(entries, paths) {
    if (paths.length === 0)
        return { entries, remove: [] };
    // Read back from the server: never a path through a link of the tree.
    const remove = topMost(notUnderLinks(paths, entries));
    const gone = new Set(remove);
    const under = (p) => {
        for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1))
            if (gone.has(p.slice(0, i)))
                return true;
        return false;
    };
    return { entries: entries.filter(e => !under(e.path)), remove };
}
/**
 * cache.pending: one JSON string per line, each a path in cache/. Undefined when a line is not
 * one (the file is read back from the server: every path is checked before it steers a removal).
 */
function parsePending(blob) {
    if (!blob)
        return [];
    const paths = [];
    for (const line of blob.toString('utf8').split('\n')) {
        if (line === '')
            continue;
        let p;
        try {
            p = JSON.parse(line);
        }
        catch {
            return undefined;
        }
        if (typeof p !== 'string' || !isReleasePath(p))
            return undefined;
        paths.push(p);
    }
    return paths;
}
/** `1 file`, `3,500 files`. */
function files(n) {
    return `${formatCount(n)} file${n === 1 ? '' : 's'}`;
}
/** A view is 64 MB at most once unpacked (about 800,000 entries): a gzip bomb stops there. */
const VIEW_LIMIT = server_data/* SERVER_LIMITS */.L_.manifestJsonBytes;
/**
 * Views parsed, by the source they were read against and their bytes: servers that share a
 * starting point share the work.
 */
const views = new WeakMap();
/**
 * The entries of a manifest view, gzipped or not, as read back from a server (untrusted), read
 * against the source's own view (see parseViewAgainst).
 */
function viewEntries(blob, gzipped, local) {
    const key = `${gzipped ? 'gz' : 'text'} ${(0,external_node_crypto_.createHash)('sha256').update(blob).digest('hex')}`;
    let byBlob = views.get(local);
    if (!byBlob)
        views.set(local, (byBlob = new Map()));
    let parsed = byBlob.get(key);
    if (!parsed) {
        parsed = (async () => {
            let text = blob;
            if (gzipped) {
                try {
                    text = await (0,external_node_util_.promisify)(external_node_zlib_.gunzip)(blob, { maxOutputLength: VIEW_LIMIT });
                }
                catch (error) {
                    if (error.code === 'ERR_BUFFER_TOO_LARGE')
                        throw new Error(`it unpacks to more than ${VIEW_LIMIT} bytes`, { cause: error });
                    throw error;
                }
            }
            if (text.length > VIEW_LIMIT)
                throw new Error(`it is over ${VIEW_LIMIT} bytes`);
            return parseViewAgainst(text, localView(local));
        })();
        byBlob.set(key, parsed);
    }
    return parsed;
}

// EXTERNAL MODULE: ./build/bundle/js/server/removal-guard.js
var removal_guard = __webpack_require__(4145);
;// CONCATENATED MODULE: ./build/bundle/js/server/sftp-release.js
/**
 * Phases 4 and 5 over SFTP alone: build `releases/<id>` from the manifest (unchanged files made
 * on the server with hardlink@openssh.com or copy-data from the release it starts from, the rest
 * uploaded), verify it (every path's type, size and mode, nothing extra, every link's target;
 * with verify: full, every file read back and hashed here), link shared paths, and record the
 * manifest, the revision and the release log, with the same files the shell scripts write.
 */














/** What the release phases found wrong, in the shell scripts' terms. */
class SftpVerifyFailure extends Error {
    unexpected;
    missing;
    differs;
    name = 'SftpVerifyFailure';
    constructor(unexpected, missing, 
    /** Content and link targets that differ, described ('content differs: <path>'). */
    differs) {
        super('the release does not match the manifest');
        this.unexpected = unexpected;
        this.missing = missing;
        this.differs = differs;
    }
}
function chooseCopier(files, method, log) {
    const { hardlink, copyData } = files.abilities;
    if (method === 'hardlink' && hardlink)
        return 'hardlink';
    if (copyData) {
        if (method === 'hardlink')
            log.info(`the server's SFTP has no hardlink@openssh.com: unchanged files are copied on the server (copy-data)`);
        return 'copy-data';
    }
    if (method === 'copy' && hardlink)
        log.info(`the server's SFTP has no copy-data (OpenSSH before 9.0): unchanged files are sent again; 'copy-method: hardlink' would link them instead`);
    else
        log.info(`the server's SFTP can neither hard-link nor copy: every file is sent`);
    return 'upload';
}
/**
 * Requests that do not depend on each other leave together: sftp-server handles a session's
 * requests one after another, and the SFTP draft requires every server to answer as if it did
 * ("the results in the responses will be the same as if it had sent the requests one at a time
 * and waited for the response in each case", draft-ietf-secsh-filexfer-02, section 6.1). So a
 * directory's mkdir and the files made in it leave back to back; what only reads (shared/) or
 * writes elsewhere (the manifest, the log) goes beside the build.
 */
async function prepareOverSftp(o) {
    const { files, signal, log } = o;
    // How long each step took, for ACTIONS_STEP_DEBUG: where an SFTP-only deploy spends its time.
    let last = performance.now();
    const took = (step) => {
        const now = performance.now();
        log.debug(`sftp: ${step} in ${Math.round(now - last)} ms`);
        last = now;
    };
    const L = (0,sftp_layout/* layoutOf */.aH)(o.deployDir);
    const id = o.releaseId;
    const R = L.release(id);
    const guard = (0,removal_guard/* removalGuard */.oL)({ deployDir: o.deployDir, protectedReleases: o.protectedReleases });
    const copier = o.base.kind === 'none' ? 'upload' : chooseCopier(files, o.copyMethod, log);
    const quiet = (p) => {
        p.catch(() => undefined);
        return p;
    };
    // Creating the release directory is the first write of this release, and it must not fail
    // into cleanup: a release that exists already is someone else's and stays as it is. The free
    // space is asked for beside it, and the release log opened (it stays open until the release
    // is recorded).
    const free = quiet(files.freeBytes(o.deployDir, signal).catch(() => undefined));
    const logFile = quiet(files.appender(L.log, sftp_layout/* MODES */.FN.privateFile, signal));
    const closeLog = () => logFile.then(a => a.close()).catch(() => undefined);
    // The release directory is made with the server's umask (sftp-server's: an SFTP account's own),
    // less o-w, as a shell deploy makes it with the login's: what it gets is the mode of every
    // directory of the release (set explicitly, and verified). A seed record for this new id can
    // only have been planted: this run's record starts empty.
    const planted = quiet((0,sftp_tree/* removeTree */.dM)(files, L.seeded(id), { guard, signal }).then(() => undefined, (error) => error));
    let dirMode;
    let modeAtOpen;
    const creating = files.mkdir(R, sftp_layout/* MODES */.FN.layoutDir, signal);
    // Right behind the mkdir: sftp-server answers it first.
    const made = quiet(files.lstat(R, signal));
    try {
        await creating;
        // (Asked again where a server did not keep the order and answered the lstat first.)
        const attrs = (await made) ?? (await files.lstat(R, signal));
        dirMode = (attrs?.mode ?? sftp_layout/* MODES */.FN.layoutDir) & 0o777 & ~0o002;
        // What the server's umask leaves whole, from this mkdir: files and directories created with
        // such a mode need no setstat after (one request fewer each).
        modeAtOpen = umaskSpares(sftp_layout/* MODES */.FN.layoutDir, attrs?.mode);
    }
    catch (error) {
        await closeLog();
        if (await files.lstat(R).catch(() => undefined)) {
            throw new errors/* DeployRefusedError */.Qr(`${o.label}: cannot create ${R} (does release ${id} exist already?)`);
        }
        throw error;
    }
    const needed = bytesNeeded(o, copier);
    const available = await free;
    if (available !== undefined && available < needed) {
        await Promise.all([files.rmdir(R).catch(() => undefined), closeLog()]);
        throw new errors/* DeployRefusedError */.Qr(`${o.label}: not enough free space in ${o.deployDir}: ${formatBytes(available)} free, ${formatBytes(needed)} needed for release ${id}. Free some space (keep-releases prunes old releases), then deploy again. Nothing was changed.`);
    }
    o.onCreated();
    const plantedFailure = await planted;
    if (plantedFailure !== undefined)
        throw plantedFailure;
    const appender = await logFile;
    o.keepLog?.(appender);
    // Logged as begun before anything is written into it, and never cancelled: a release the log
    // does not know of would never be cleaned up.
    const started = quiet(appender.append(Buffer.from((0,sftp_layout/* logLine */.BP)('start', id))));
    took(`${R} created`);
    // Beside the build: what earlier runs left, the metadata directories and files, and what
    // shared/ holds.
    const leftovers = quiet(removeLeftovers(o, L, guard).then(async (aborted) => {
        if (aborted.length > 0)
            await appender.append(Buffer.from(aborted.map(a => (0,sftp_layout/* logLine */.BP)('abort', a)).join('')), signal);
    }));
    // tmp/ as the inspect found it (a real directory of the deploy user's, checked under the lock)
    // is written into at once: every temporary name is new and opened exclusively, so what a cut
    // run left there (listed at inspect, before this run wrote anything there) is in nobody's way,
    // and is removed beside the build (removeLeftovers).
    const scratch = quiet(makeDirectories(files, [L.tmp, L.manifests, L.revisions].filter(d => !o.leftovers.metaNames.includes(d.slice(L.meta.length + 1))), sftp_layout/* MODES */.FN.privateDir, signal));
    const write = (path, data, mode) => files.writeFile(path, data, { mode, temporaryDir: L.tmp, signal });
    // The manifest as lib/manifest.sh's install_manifest leaves it, so that a shell deploy that
    // follows puts its next manifest together from it, or finds nothing changed by its digest.
    const view = (0,external_node_zlib_.gzipSync)(manifestView(o.manifest.text), { level: 6 });
    const writeManifest = (stem) => Promise.all([
        write(`${stem}.view.gz`, view, sftp_layout/* MODES */.FN.privateFile),
        write(`${stem}.m2`, o.manifest.text, sftp_layout/* MODES */.FN.privateFile),
        write(`${stem}.digest`, Buffer.from(`${o.manifest.digest}\n`), sftp_layout/* MODES */.FN.privateFile)
    ]);
    const metadata = quiet(scratch.then(() => Promise.all([
        writeManifest(L.manifestStem(id)),
        write(L.revision(id), Buffer.from(`${o.revision}\n`), sftp_layout/* MODES */.FN.privateFile)
    ])));
    // Shared paths are decided from what shared/ holds (read beside the build), and recorded
    // (the links, the seed record) before the release is verified; they are made after it.
    const plan = quiet(readShared(o, L).then(read => planShared(o, L, read)));
    const planned = quiet(Promise.all([plan, scratch]).then(([p]) => Promise.all([
        write(L.links(id), Buffer.from((0,sftp_layout/* linkListText */.KH)([...p.linked, ...p.parents])), sftp_layout/* MODES */.FN.privateFile),
        ...(p.record.length > 0
            ? [write(L.seeded(id), Buffer.from(p.record.join('')), sftp_layout/* MODES */.FN.privateFile)]
            : [])
    ])));
    // What goes on beside the build: waited for before the release is used, and settled before a
    // failure is reported, as the caller's abort removes the release's records and a write still
    // under way (a record renamed into manifests/, a line appended to the log) would otherwise
    // land after it.
    const besideBuild = [started, leftovers, metadata, planned];
    const settled = () => Promise.allSettled(besideBuild);
    const progress = new UploadProgress(log, o.plan.uploadFiles, o.plan.uploadBytes).start();
    const sent = { files: 0, bytes: 0, missing: 0 };
    const onFile = (entry) => {
        sent.files++;
        sent.bytes += entry.size;
        progress.files++;
        progress.bytes += entry.size;
    };
    // A shared path refused (a conflict) stops the build at once: the release will not be used.
    const building = new AbortController();
    const stop = () => building.abort(signal?.reason);
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted)
        stop();
    plan.catch(error => building.abort(error));
    try {
        await build({ ...o, signal: building.signal }, L, guard, copier, onFile, sent, {
            dirMode,
            modeAtOpen
        });
    }
    catch (error) {
        const refusal = await plan.then(() => undefined, (failure) => failure);
        await settled();
        throw refusal ?? error;
    }
    finally {
        signal?.removeEventListener('abort', stop);
        progress.stop();
    }
    took(`release built (${copier} for unchanged files, ${sent.files} uploaded)`);
    if (sent.missing > 0)
        log.info(`${formatCount(sent.missing)} unchanged files were missing on the server and were sent again`);
    // The records of what the release is when verified (its listing) and of when it became
    // ready (an empty marker, made now, after every file of the build): the next deploy's drift
    // check compares the live release with both, as with a release.sh deploy. Opened while the
    // release is verified, written right after.
    const records = quiet(scratch.then(() => Promise.all([
        files.openForWrite(L.listing(id), {
            mode: sftp_layout/* MODES */.FN.privateFile,
            temporaryDir: L.tmp,
            signal
        }),
        files.openForWrite(L.ready(id), { mode: sftp_layout/* MODES */.FN.privateFile, temporaryDir: L.tmp, signal })
    ])));
    let listing;
    try {
        listing = await verifyRelease(o, R, dirMode);
    }
    catch (error) {
        await Promise.all([
            records.then(opened => Promise.all(opened.map(f => f.discard())), () => undefined),
            settled()
        ]);
        throw error;
    }
    const [listingFile, readyFile] = await records;
    took('release verified');
    const shared = await plan;
    await Promise.all(besideBuild);
    // Verified: cache/ holds exactly the manifest, whatever happens to this release from here.
    if (o.base.kind === 'cache') {
        await writeManifest(L.cacheStem);
        // What an older version wrote, a view without gzip, the paths pending: all superseded.
        await (0,sftp_tree/* removeTrees */.Ui)(files, [L.cacheManifest, `${L.cacheStem}.view`, L.cachePending], {
            guard,
            signal
        });
    }
    o.onVerified?.();
    const recorded = Promise.all([
        listingFile.commit(Buffer.from(listing)),
        readyFile.commit(Buffer.alloc(0))
    ]);
    recorded.catch(() => undefined);
    const ready = () => appender.append(Buffer.from((0,sftp_layout/* logLine */.BP)('ready', id)), signal);
    if (shared.actions.every(a => a.kind === 'link' && !a.replace && !a.parent)) {
        // Links alone: the records written and the links made, and the release logged as ready
        // right behind them, in one round trip.
        await Promise.all([recorded, applyShared(o, L, guard, shared), ready()]);
    }
    else {
        await Promise.all([recorded, applyShared(o, L, guard, shared)]);
        await ready();
    }
    // Empty by now; its answer is not waited for (whatever is left there goes with the next
    // deploy).
    quiet(files.rmdir(L.tmp));
    took('release logged as ready');
    return {
        uploadedFiles: sent.files,
        uploadedBytes: sent.bytes,
        shared: {
            linked: shared.linked,
            seeded: shared.actions.filter(a => a.kind === 'seed').map(a => a.rel),
            replaced: shared.actions.filter(a => a.replace).map(a => a.rel),
            created: shared.actions.filter(a => a.kind === 'create').map(a => a.rel)
        }
    };
}
/**
 * A starting copy is server data too: a directory of it that is a symlink now (a release changed
 * by hand, or planted), or a file that is no longer a regular file, would be read through
 * (copy-data opens what a link points to) or written through (a sync of cache/). `root` is
 * walked (one listing per directory, all at once; links are never entered), and any such path
 * refuses the deploy before anything is read from it or written into it, as release.sh's
 * check_copy refuses the copy.
 */
async function checkBase(files, label, root, what, copied, writeDirs, signal) {
    const parents = new Set(writeDirs);
    for (const e of copied)
        for (let i = e.path.indexOf('/'); i > 0; i = e.path.indexOf('/', i + 1))
            parents.add(e.path.slice(0, i));
    const found = new Map((await (0,sftp_tree/* walkTree */.Ir)(files, root, { hints: parents, signal })).map(e => [e.path, e.attrs.type]));
    const refuse = (p, expected) => {
        throw new errors/* DeployRefusedError */.Qr(`${label}: ${(0,server_data/* shown */.SP)(p)} is ${found.get(p) === 'symlink' ? 'a symlink' : `not a ${expected}`} in ${what}, where the manifest has a ${expected}; nothing was read or written through it. ${what === 'cache/' ? 'cache/ was changed on the server: remove it, and the next deploy with reuse: cache rebuilds it' : "The live release was changed on the server: deploy once with 'reuse: none' (or use 'reuse: cache')"}.`);
    };
    for (const dir of [...parents].sort()) {
        const type = found.get(dir);
        if (type !== undefined && type !== 'dir')
            refuse(dir, 'directory');
    }
    // Symlinks are made anew from the manifest, never copied: only files are read.
    for (const e of copied) {
        const type = found.get(e.path);
        if (e.type === 'file' && type !== undefined && type !== 'file')
            refuse(e.path, 'file');
    }
}
/** Bytes the new release adds on the server's disk (hard links add none). */
function bytesNeeded(o, copier) {
    const sent = new Set(o.plan.upload.map(e => e.path));
    let bytes = 0;
    for (const e of o.entries) {
        if (e.type !== 'file')
            continue;
        if (sent.has(e.path) || copier === 'upload' || copier === 'copy-data')
            bytes += e.size;
    }
    return bytes;
}
/**
 * What earlier runs left: incomplete releases (each logged as aborted once removed), temporary
 * switch links, copies a shell deploy started at lock time, what cut runs left in tmp/, and the
 * trees a cut abort or prune set aside in releases/. Returns the ids of the releases removed.
 */
async function removeLeftovers(o, L, guard) {
    const { files, signal } = o;
    const removed = [];
    const stale = o.staleReleases.filter(r => r !== o.releaseId);
    await Promise.all([
        ...stale.map(async (stale) => {
            try {
                await (0,sftp_tree/* removeTree */.dM)(files, L.release(stale), { guard, signal });
                removed.push(stale);
            }
            catch (error) {
                // A log that calls the live release incomplete is wrong, not a reason to remove it.
                if (!(error instanceof removal_guard/* RemovalRefusedError */.hg))
                    throw error;
                o.log.warning(`left release ${stale} in place: ${error.message}`);
            }
        }),
        ...o.leftovers.switchLinks.map(name => (0,sftp_tree/* removeTree */.dM)(files, `${L.dir}/${name}`, { guard, signal })),
        ...o.leftovers.metaNames
            .filter(name => /^base\.[0-9]+(\.[a-z.]+)?$/.test(name))
            .map(name => (0,sftp_tree/* removeTree */.dM)(files, `${L.meta}/${name}`, { guard, signal })),
        // What cut runs left in tmp/, by the names listed at inspect: never this run's own files.
        ...(o.leftovers.tmpNames ?? []).map(name => (0,sftp_tree/* removeTree */.dM)(files, `${L.tmp}/${name}`, { guard, signal })),
        // As release.sh's prepare removes them. The run that set one aside may still be removing
        // it (a shell run's prune goes on in the background after its unlock): what this removal
        // cannot finish is said, and left to the next deploy.
        ...(o.leftovers.setAside ?? []).map(name => (0,sftp_tree/* removeTree */.dM)(files, `${L.releases}/${name}`, { guard, signal }).catch((error) => {
            if (signal?.aborted)
                throw error;
            o.log.warning(`releases/${(0,server_data/* shown */.SP)(name)} was not removed: ${(0,errors/* messageOf */.bD)(error)}`);
        }))
    ]);
    return removed;
}
async function build(o, L, guard, copier, onFile, sent, modes) {
    const { files, signal, base, plan } = o;
    const { dirMode, modeAtOpen } = modes;
    const R = L.release(o.releaseId);
    const upload = { sourceRoot: o.sourceRoot, directoryMode: dirMode, onFile, modeAtOpen, signal };
    if (base.kind === 'none') {
        await uploadEntries(files, o.entries, { ...upload, root: R });
        return;
    }
    let from;
    let changed;
    if (base.kind === 'release') {
        from = L.release(base.id);
        changed = new Set(plan.upload.map(e => e.path));
    }
    else {
        // cache/: brought up to date first, then copied whole into the release. Its manifest is
        // rewritten once the release is verified; until then cache.pending names the paths this
        // sync touches, so an interrupted sync costs the next deploy only those (as release.sh).
        if (!base.exists) {
            await (0,sftp_tree/* removeTrees */.Ui)(files, [
                ...sftp_layout/* COMPACT_SUFFIXES */.mH.map(s => `${L.cacheStem}.${s}`),
                L.cacheManifest,
                L.cachePending,
                L.cache
            ], { guard, signal });
            await files.mkdir(L.cache, sftp_layout/* MODES */.FN.layoutDir, signal);
        }
        else {
            // What the sync writes into, and what is copied from cache/, checked first.
            await checkBase(files, o.label, L.cache, 'cache/', o.entries, o.writeDirs ?? [], signal);
            const touched = [...plan.remove, ...plan.upload.map(e => e.path)];
            if (touched.length > 0)
                await files.appendFile(L.cachePending, Buffer.from(touched.map(p => `${JSON.stringify(p)}\n`).join('')), sftp_layout/* MODES */.FN.privateFile, signal);
            await Promise.all(plan.remove.map(p => (0,sftp_tree/* removeTree */.dM)(files, `${L.cache}/${p}`, { guard, signal })));
        }
        await uploadEntries(files, plan.upload, { ...upload, root: L.cache });
        from = L.cache;
        changed = new Set();
    }
    // The directories' mkdirs leave first, the files right behind them (see prepareOverSftp).
    const dirs = makeDirectories(files, o.entries.filter(e => e.type === 'dir').map(e => `${R}/${e.path}`), dirMode, signal, modeAtOpen(dirMode));
    dirs.catch(() => undefined);
    // What crosses the wire first, so that its transfer overlaps with the copies made on the
    // server; then the rest.
    const items = o.entries.filter(e => e.type !== 'dir');
    const sentFirst = copier === 'upload' ? items : items.filter(e => changed.has(e.path));
    const madeThere = copier === 'upload' ? [] : items.filter(e => !changed.has(e.path));
    // The release copied from is read through: unless the drift check walked it already, it is
    // walked beside the uploads, and the copies wait for it.
    const baseOk = base.kind === 'release' && !o.baseChecked && madeThere.length > 0
        ? checkBase(files, o.label, from, `release ${base.id}`, madeThere, [], signal)
        : Promise.resolve();
    baseOk.catch(() => undefined);
    const made = forEachPipelined([...sentFirst, ...madeThere], async (e, batchSignal) => {
        const target = `${R}/${e.path}`;
        if (e.type === 'symlink') {
            await files.symlink(e.target ?? '', target, batchSignal);
            return;
        }
        if (!changed.has(e.path) && copier !== 'upload') {
            await baseOk;
            try {
                if (copier === 'hardlink')
                    await files.hardlink(`${from}/${e.path}`, target, batchSignal);
                else
                    await files.copyFile(`${from}/${e.path}`, target, {
                        mode: e.mode,
                        modeAtOpen: modeAtOpen(e.mode),
                        signal: batchSignal
                    });
                return;
            }
            catch (error) {
                // The starting copy lost a file (changed by hand): this side has it.
                if (!(0,sftp_engine/* isMissing */.b2)(error))
                    throw error;
                sent.missing++;
            }
        }
        await files.writeFile(target, { local: `${o.sourceRoot}/${e.path}`, size: e.size, sha256: e.sha256 }, { mode: e.mode, modeAtOpen: modeAtOpen(e.mode), signal: batchSignal });
        onFile(e);
    }, { signal });
    // A failed mkdir is the cause to report, rather than the files it left without a directory.
    const [dirsResult, madeResult] = await Promise.allSettled([dirs, made]);
    if (dirsResult.status === 'rejected')
        throw dirsResult.reason;
    if (madeResult.status === 'rejected')
        throw madeResult.reason;
}
/**
 * Every path's type, size and mode as sftp-server's lstat gives them, against the manifest, as a
 * multiset (nothing missing, nothing extra); every link's target read back; with verify: full,
 * every file read back and hashed here.
 */
async function verifyRelease(o, R, dirMode) {
    const { files, signal } = o;
    const dirs = o.entries.filter(e => e.type === 'dir').map(e => e.path);
    // Links read back (and, with verify: full, files read back) beside the listing: a path the
    // listing finds missing or of another type is reported by it, whatever these find there.
    const differs = [];
    const links = o.entries.filter(e => e.type === 'symlink');
    const contents = o.verify === 'full' ? o.entries.filter(e => e.type === 'file') : [];
    const checked = forEachPipelined([...links, ...contents], async (e, batchSignal) => {
        try {
            if (e.type === 'symlink') {
                const target = await files.readlink(`${R}/${e.path}`, batchSignal);
                if (target !== e.target)
                    differs.push(`symlink target differs: ${(0,server_data/* shown */.SP)(e.path)}`);
            }
            else {
                // Read no further than the file the manifest describes (and one byte more).
                const { sha256 } = await files
                    .sha256(`${R}/${e.path}`, e.size + 1, batchSignal)
                    .catch(error => {
                    if (error instanceof sftp_engine/* TooLargeError */.qB)
                        return { sha256: '' };
                    throw error;
                });
                if (sha256 !== e.sha256)
                    differs.push(`content differs: ${(0,server_data/* shown */.SP)(e.path)}`);
            }
        }
        catch (error) {
            if (!(0,sftp_engine/* isMissing */.b2)(error))
                throw error;
        }
    }, { signal });
    checked.catch(() => undefined);
    const actual = await (0,sftp_tree/* walkTree */.Ir)(files, R, { hints: dirs, signal });
    const expected = new Map();
    for (const e of o.entries) {
        const line = listingLine(e);
        expected.set(line, (expected.get(line) ?? 0) + 1);
    }
    const unexpected = [];
    const lines = [];
    for (const a of actual) {
        // What list_tree would print (an 'o' line for what it would not list: never expected).
        const line = `${sftp_listing_listingLine(a) ?? `o ./${a.path}`}\n`;
        lines.push(line);
        // Every directory has the release's mode (set-id and sticky bits are the server's), as
        // release.sh checks it: one with another mode is unexpected, whatever its path.
        if (a.attrs.type === 'dir' && (a.attrs.mode & 0o777) !== dirMode) {
            unexpected.push(line.slice(0, -1));
            continue;
        }
        const compared = a.attrs.type === 'dir' ? `d ./${a.path}\n` : line;
        const count = expected.get(compared) ?? 0;
        if (count > 0)
            expected.set(compared, count - 1);
        else
            unexpected.push(line.slice(0, -1));
    }
    const missing = [...expected].filter(([, n]) => n > 0).map(([line]) => line.slice(0, -1));
    await checked;
    if (unexpected.length + missing.length + differs.length > 0)
        throw new SftpVerifyFailure(unexpected.slice(0, 50), missing.slice(0, 50), differs.slice(0, 50));
    return lines.join('');
}
function sharedTarget(rel) {
    return `${'../'.repeat(rel.split('/').length + 1)}shared/${rel}`;
}
/** What shared/ holds: its top level (every entry linked), or each listed path. */
async function readShared(o, L) {
    const { files, signal } = o;
    if (o.sharedPaths) {
        const listed = o.sharedPaths.map(p => p.replace(/\/$/, ''));
        return {
            listed: await Promise.all(listed.map(rel => files.lstat(`${L.shared}/${rel}`, signal)))
        };
    }
    try {
        return { top: await files.list(L.shared, signal) };
    }
    catch (error) {
        if ((0,sftp_engine/* isMissing */.b2)(error))
            return { top: [] };
        throw error;
    }
}
/** Decide every shared path before anything changes, so a refusal leaves shared/ as it was. */
async function planShared(o, L, read) {
    const inRelease = new Map(o.entries.map(e => [e.path, e]));
    const plan = { actions: [], linked: [], parents: [], record: [] };
    const conflict = (rel, hint) => new errors/* DeployRefusedError */.Qr(`${o.label}: ${rel} is both in shared/ and in the release; ${hint}, or set shared-conflict: replace`);
    if (!o.sharedPaths) {
        // Every entry of shared/ at the first level the release does not have; where both have a
        // directory of that name, one level down.
        const walk = async (prefix, entries) => {
            for (const entry of entries) {
                const rel = `${prefix}${entry.name}`;
                const there = inRelease.get(rel);
                if (there?.type === 'dir' && entry.attrs.type === 'dir') {
                    await walk(`${rel}/`, await o.files.list(`${L.shared}/${rel}`, o.signal));
                    continue;
                }
                if (there && o.sharedConflict !== 'replace')
                    throw conflict(rel, 'remove it from the source');
                plan.actions.push({ rel, kind: 'link', replace: there !== undefined });
            }
        };
        await walk('', read.top ?? []);
    }
    else {
        o.sharedPaths.forEach((p, i) => {
            const rel = p.replace(/\/$/, '');
            const s = read.listed?.[i] !== undefined;
            const d = inRelease.has(rel);
            if (s && d && o.sharedConflict === 'fail')
                throw conflict(rel, 'remove it from the source or exclude it');
            if (!s && !d && !p.endsWith('/'))
                throw new errors/* DeployRefusedError */.Qr(`${o.label}: ${rel} is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory`);
            const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : undefined;
            const kind = s ? 'link' : d ? 'seed' : 'create';
            if (kind !== 'link')
                plan.record.push(`${kind === 'seed' ? 'seeded' : 'created'} ${rel}\n`);
            plan.actions.push({ rel, kind, replace: s && d, ...(parent ? { parent } : {}) });
            const top = parent === undefined ? undefined : topMissing(parent, inRelease);
            if (top !== undefined && !plan.parents.includes(top))
                plan.parents.push(top);
        });
    }
    plan.linked = plan.actions.map(a => a.rel);
    return plan;
}
/** Carry the plan out (its record is written already): every shared path at once. */
async function applyShared(o, L, guard, plan) {
    const { files, signal } = o;
    const R = L.release(o.releaseId);
    await Promise.all(plan.actions.map(async (a) => {
        if (a.replace)
            await (0,sftp_tree/* removeTree */.dM)(files, `${R}/${a.rel}`, { guard, signal });
        if (a.kind === 'seed') {
            const parent = a.rel.includes('/') ? a.rel.slice(0, a.rel.lastIndexOf('/')) : '';
            if (parent)
                await ensureUnder(files, L.shared, parent, signal);
            await files.rename(`${R}/${a.rel}`, `${L.shared}/${a.rel}`, signal);
        }
        else if (a.kind === 'create') {
            await ensureUnder(files, L.shared, a.rel, signal);
        }
        if (a.parent)
            await ensureUnder(files, R, a.parent, signal);
        await files.symlink(sharedTarget(a.rel), `${R}/${a.rel}`, signal);
    }));
}
function topMissing(parent, inRelease) {
    const parts = parent.split('/');
    for (let i = 1; i <= parts.length; i++) {
        const prefix = parts.slice(0, i).join('/');
        if (!inRelease.has(prefix))
            return prefix;
    }
    return undefined;
}
/** `mkdir -p base/rel`. */
function ensureUnder(files, base, rel, signal) {
    const parts = rel.split('/');
    return ensureDirectories(files, parts.map((_, i) => `${base}/${parts.slice(0, i + 1).join('/')}`), sftp_layout/* MODES */.FN.layoutDir, signal);
}

;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-switch.js
/**
 * Phase 7 on one server: the switch. `current` is pointed at the new release atomically (SFTP's
 * posix-rename where the server has it, a rename in the shell elsewhere) and read back; the same
 * swap switches back. A single server's release script may switch on its own (reported here by
 * switchedAndFinished).
 */







/** Whether `current` is switched over SFTP; by a rename in the shell otherwise. */
async function sftpSwitch(s) {
    await s.sftpSettling;
    return s.capabilities !== undefined && switchesOverSftp(s.capabilities);
}
/**
 * Point `current` at `releases/<id>` atomically, and check it: SFTP's posix-rename where the
 * server has it, a rename by mv in the shell elsewhere.
 */
async function switchTo(s, id) {
    const target = `releases/${id}`;
    let now;
    try {
        if (await sftpSwitch(s)) {
            const files = await s.host.files();
            now = await files.swapSymlink(`${s.deployDir}/current`, target, `.current.tmp-${(0,external_node_crypto_.randomBytes)(6).toString('hex')}`);
        }
        else {
            now = await shellSwitch(s, id);
        }
    }
    catch (error) {
        if (!(error instanceof errors/* SwitchRefusedError */.FL))
            s.switchUncertain = id;
        throw error;
    }
    s.switchUncertain = undefined;
    if (now?.replace(/\/$/, '') !== target) {
        throw new Error(`${s.label}: current reads back as '${(0,servers/* printable */.g$)(now ?? '(nothing)')}', expected '${target}'`);
    }
    s.switchedTo = id;
}
/** Remove `current` (undoing a first deploy's switch). */
async function removeCurrent(s) {
    if (await sftpSwitch(s)) {
        const files = await s.host.files();
        await files.unlink(`${s.deployDir}/current`).catch(() => undefined);
        return;
    }
    await shellSwitch(s, undefined);
}
/**
 * The switch by the shell (switchScript): what `current` reads back as. An answer without
 * `switched` means the rename did not happen; no answer at all (a lost connection) means it
 * may have, which the caller finds out.
 */
async function shellSwitch(s, id) {
    const { result, output } = await s.script((0,remote_scripts/* switchScript */.Ec)({ deployDir: s.deployDir, ...(id !== undefined ? { releaseId: id } : {}) }));
    if (!output.lines.includes('switched')) {
        const error = (0,script_output/* scriptError */.mm)(output);
        throw new errors/* SwitchRefusedError */.FL(`${s.label}: switch failed: ${error?.message ?? `exit ${result.code}`}: ${lastLines(result.stderrTail)}`);
    }
    return (0,script_output/* value */.Uq)(output, 'current');
}
/** What a release script that switched and finished reported after `ready`. */
function switchedAndFinished(s, id, final) {
    const now = (0,script_output/* value */.Uq)(final, 'current');
    if (!final.lines.includes('switched') || now?.replace(/\/$/, '') !== `releases/${id}`) {
        s.switchUncertain = id;
        throw new Error(`${s.label}: current reads back as '${(0,servers/* printable */.g$)(now ?? '(nothing)')}', expected 'releases/${id}'`);
    }
    s.switchedTo = id;
    s.log.info(`current -> releases/${id}`);
    for (const line of (0,script_output/* values */.zu)(final, 'pruned'))
        s.log.info(`pruned release ${line}`);
    if (final.lines.includes('unlocked'))
        s.lockToken = undefined;
    s.prepared = undefined;
    if (!final.lines.includes('finished'))
        s.log.warning(`finishing failed after the switch. The release is live; the lock may still be held: the post step tries to release it, or run 'mode: unlock'.`);
}

;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-prepare.js
/**
 * Phases 4 to 6 on one server: the release script builds the release from its starting point,
 * takes the files (a tar stream, or SFTP between its two halves), verifies them, links the
 * shared paths, records the metadata and runs before-switch; for a single server it may also
 * switch and finish (see switchedAndFinished). Over SFTP alone, sftp-release.ts does the same.
 */













/**
 * Phases 4-6: build the release from its starting point, transfer the changed files, verify,
 * link shared paths, record metadata, run before-switch. On failure the server script has
 * already removed the release; the error says why. With a tar transfer, `feed` carries the
 * archive (see releaseArchive); without one, files go over SFTP.
 */
async function prepareRelease(s, options, feed, 
/**
 * Switch and finish in the same script once the release is ready (see FinalizeParams):
 * phases 7 and 9 with it, for a single server with nothing to run or check after the switch.
 */
switchAfter) {
    const plan = s.plan;
    const base = s.base;
    if (!plan || !base)
        throw new Error('prepareRelease before makePlan');
    if (s.access === 'sftp')
        return session_prepare_prepareOverSftp(s, options, plan, base);
    const id = options.releaseId;
    s.sharedPaths = options.sharedPaths ?? [];
    const common = s.releaseParams(id);
    const stale = staleReleases(s, id);
    const metadata = await session_archive_releaseMetadata(s, options);
    const relativeTarget = releaseTarget(s, id);
    const prepare = {
        staleReleases: stale,
        base: base.kind === 'release'
            ? {
                kind: 'release',
                id: base.id,
                sharedLinks: base.sharedLinks,
                ...(s.prefetched?.from === base.id ? { prefetched: s.prefetched.name } : {})
            }
            : base.kind === 'cache'
                ? {
                    kind: 'cache',
                    exists: base.exists,
                    touched: [...plan.remove, ...plan.upload.map(e => e.path)]
                }
                : { kind: 'none' },
        copyMethod: options.copyMethod,
        remove: plan.remove,
        transfer: feed
            ? { kind: 'tar', gzip: archiveCompression(s, options.compression) !== 'none' }
            : { kind: 'sftp' },
        // A fresh, empty release has nothing a symlink could have been planted in.
        writeDirs: base.kind === 'none' ? [] : writtenDirectories(plan)
    };
    const finalize = {
        fromCache: base.kind === 'cache' ? { copyMethod: options.copyMethod } : undefined,
        manifestDigest: (await sourceManifest(options.entries)).digest,
        ...(base.kind !== 'none' && base.manifest ? { manifestBase: base.manifest } : {}),
        verifyAll: options.verify === 'full',
        oddSums: metadata.oddSums,
        links: metadata.links,
        shared: options.sharedPaths
            ? { kind: 'explicit', paths: options.sharedPaths }
            : { kind: 'auto' },
        sharedConflict: options.sharedConflict,
        hook: options.beforeSwitch
            ? { name: 'before-switch', script: options.beforeSwitch, env: s.hookEnv(id) }
            : undefined,
        updatesCache: base.kind === 'cache',
        ...(switchAfter ? { switchAfter } : {})
    };
    s.prepared = id;
    // What was sent, counted as it goes: a deploy that fails after the upload still sent it.
    // An archive counts for all the servers it goes to.
    const sent = feed?.sent ?? { files: 0, bytes: 0 };
    const count = (size) => {
        sent.files++;
        sent.bytes += size;
    };
    try {
        let final;
        try {
            final = await transferAndFinalize(s, options, { plan, metadata, relativeTarget, common, prepare, finalize }, count, feed);
        }
        catch (error) {
            // No answer from a script that switches: current may or may not point to the release.
            if (switchAfter && error instanceof errors/* ConnectionError */.Rc)
                s.switchUncertain = id;
            throw error;
        }
        sent.files = plan.uploadFiles;
        sent.bytes = plan.uploadBytes;
        reportPrepared(s, id, plan, final);
        if (switchAfter)
            switchedAndFinished(s, id, final);
    }
    finally {
        s.report.filesUploaded = sent.files;
        s.report.bytesUploaded = sent.bytes;
    }
}
/** Incomplete releases of earlier runs, to remove before `id` is made. */
function staleReleases(s, id) {
    const stale = incompleteReleases(s.events, s.releaseDirs).filter(r => r !== id);
    // The log is the server's word: a release it calls incomplete may be the live one.
    if (s.liveRelease !== undefined && stale.includes(s.liveRelease)) {
        s.log.warning(`the release log calls the live release ${s.liveRelease} incomplete; it is live, so it is kept`);
        stale.splice(stale.indexOf(s.liveRelease), 1);
    }
    return stale;
}
/** The upload and the release scripts around it; the output of the last one. */
async function transferAndFinalize(s, options, p, count, feed) {
    const { plan, metadata, relativeTarget, common, prepare, finalize } = p;
    const id = options.releaseId;
    let final;
    if (feed) {
        // A local read error truncates the stream; the server then reports a broken archive, but
        // the cause to report is the local one.
        let readError;
        feed.stream.on('error', error => (readError ??= error));
        try {
            const { result, output } = await s.script((0,remote_scripts/* releaseScript */.dg)(common, prepare, finalize), {
                stdin: feed.stream,
                signal: options.signal,
                // Switched and finished by this script: nothing runs after it on success.
                last: finalize.switchAfter !== undefined,
                ...(feed.onMeter ? { onStdinMeter: feed.onMeter } : {})
            });
            // A cancelled run cuts the stream itself: that is the cause to report, not the read.
            if (options.signal?.aborted)
                throw new errors/* AbortedError */.oM('cancelled (SIGINT/SIGTERM)');
            if (readError && result.code !== 0) {
                throw new Error(`${s.label}: reading the source failed: ${readError.message}`);
            }
            checkRelease(s, result, output, id, metadata);
            final = output;
        }
        finally {
            feed.done?.();
        }
    }
    else {
        const first = await s.script((0,remote_scripts/* releaseScript */.dg)(common, prepare), { signal: options.signal });
        checkRelease(s, first.result, first.output, id, metadata, 'prepared');
        await sftpUpload(await s.host.files(), {
            metadataDir: `${s.deployDir}/.atomic-deploy/tmp/${id}`,
            root: `${s.deployDir}/${relativeTarget}`,
            sourceRoot: options.sourceRoot,
            metadata: metadata.files,
            plan,
            directoryMode: s.directoryMode,
            log: s.log,
            signal: options.signal,
            onFile: entry => count(entry.size)
        });
        const second = await s.script((0,remote_scripts/* releaseScript */.dg)(common, undefined, finalize), {
            signal: options.signal
        });
        checkRelease(s, second.result, second.output, id, metadata);
        final = second.output;
    }
    return final;
}
/** What the release script reported once the release is ready. */
function reportPrepared(s, id, plan, final) {
    const hookExit = (0,script_output/* value */.Uq)(final, 'hook-exit');
    if (hookExit)
        s.log.info(`before-switch exited with status ${hookExit.split(' ')[1]}`);
    const hookDiff = parseListingDiff('hook', final.lines);
    if (hookDiff.counts !== undefined) {
        const changes = summarizeDiff(hookDiff);
        const total = hookDiff.counts.reduce((a, b) => a + b, 0);
        s.log.info(`before-switch changed release ${id} after verification: ${describeDrift(changes, 20, server_data/* shown */.SP)}${changes.complete ? '' : ` (${total} differences in all)`}. Recorded: the next deploy's copy of this release leaves these out, and its before-switch makes them again.`);
    }
    s.report.filesDeleted = plan.deleted.length;
    s.report.release = id;
    logShared(s, (0,script_output/* values */.zu)(final, 'shared'), (0,script_output/* values */.zu)(final, 'shared-seeded'), (0,script_output/* values */.zu)(final, 'shared-replaced'));
}
/** Phases 4 and 5 over SFTP alone (before-switch was refused at inspect). */
async function session_prepare_prepareOverSftp(s, options, plan, base) {
    const id = options.releaseId;
    s.sharedPaths = options.sharedPaths ?? [];
    const files = await s.host.files();
    const manifest = await sourceManifest(options.entries);
    s.releaseDirsHint = options.entries.filter(e => e.type === 'dir').map(e => e.path);
    let result;
    try {
        result = await prepareOverSftp({
            files,
            label: s.label,
            log: s.log,
            deployDir: s.deployDir,
            releaseId: id,
            sourceRoot: options.sourceRoot,
            entries: options.entries,
            plan,
            base,
            copyMethod: options.copyMethod,
            verify: options.verify,
            sharedPaths: options.sharedPaths,
            sharedConflict: options.sharedConflict,
            revision: options.revision,
            manifest,
            staleReleases: staleReleases(s, id),
            leftovers: s.leftovers,
            protectedReleases: s.liveRelease === undefined ? [] : [s.liveRelease],
            // The drift check walked the live release, and the base was planned without what
            // differed: nothing of it is read through a link.
            baseChecked: base.kind === 'release' && s.drift !== undefined,
            writeDirs: base.kind === 'none' ? [] : writtenDirectories(plan),
            onCreated: () => {
                s.prepared = id;
            },
            keepLog: appender => {
                s.logFile = appender;
            },
            // Read while the release is recorded and the switch is made: finishing needs it before
            // it removes the lock.
            onVerified: () => {
                s.lockOwnerRead = (0,sftp_finish/* readLockOwner */.Dh)(files, s.deployDir).catch(() => undefined);
            },
            signal: options.signal
        });
    }
    catch (error) {
        if (error instanceof SftpVerifyFailure)
            throw verifyError(s, id, error.unexpected, error.missing, error.differs);
        throw s.sftpFailure(error, `preparing release ${id}`);
    }
    s.report.filesUploaded = result.uploadedFiles;
    s.report.bytesUploaded = result.uploadedBytes;
    s.report.filesDeleted = plan.deleted.length;
    s.report.release = id;
    logShared(s, result.shared.linked, result.shared.seeded, result.shared.replaced);
}
function logShared(s, linked, seeded, replaced) {
    if (linked.length > 0)
        s.log.info(`linked from shared/: ${linked.slice(0, 10).join(', ')}${linked.length > 10 ? `, and ${linked.length - 10} more` : ''}`);
    for (const p of seeded)
        s.log.info(`moved ${p} into shared/ (first deploy of a shared path)`);
    for (const p of replaced)
        s.log.info(`replaced ${p} with the link to shared/${p} (shared-conflict: replace)`);
}
/** The release does not match its manifest: what differs, and what may have caused it. */
function verifyError(s, id, unexpected, missing, 
/** Further differences, each described already ('content differs: <path>'). */
differs) {
    const paths = [
        ...unexpected.map(l => `unexpected or different: ${describeListingLine(l)}`),
        ...missing.map(l => `missing or different: ${describeListingLine(l)}`),
        ...differs
    ];
    // What before-switch wrote is recorded and left out of the copy whatever on-drift says;
    // what was changed by hand (or by the app) is found only by the drift check.
    const drift = s.base?.kind === 'release'
        ? ` The release started as a copy of ${s.base.id}: if files there were changed on the server after it was deployed (by hand, or by the app writing into its release)${s.driftChecked ? '' : ', on-drift: ignore let them through (on-drift: warn, the default, names such changes and leaves them out of the copy)'}, deploy once with 'reuse: none' to start from nothing.`
        : '';
    return new errors/* VerifyError */.Gz(`${s.label}: release ${id} does not match the manifest; nothing was switched.${drift}\n  ${paths.slice(0, 20).join('\n  ')}`, paths);
}
function checkRelease(s, result, output, id, metadata, expect = 'ready') {
    if (result.code === 0 && output.lines.includes(expect))
        return;
    const error = (0,script_output/* scriptError */.mm)(output);
    if (error?.kind === 'verify') {
        throw verifyError(s, id, (0,script_output/* values */.zu)(output, 'unexpected'), (0,script_output/* values */.zu)(output, 'missing'), [
            ...(0,script_output/* values */.zu)(output, 'badsum').map(l => `content differs: ${l}`),
            // Reported by number: these names may hold a line break.
            ...(0,script_output/* values */.zu)(output, 'badodd').map(n => `content differs: ${(0,server_data/* shown */.SP)(metadata.oddSums[Number(n)]?.path ?? `#${n}`)}`),
            ...(0,script_output/* values */.zu)(output, 'badlink').map(n => `symlink target differs: ${(0,server_data/* shown */.SP)(metadata.links[Number(n)]?.path ?? `#${n}`)}`)
        ]);
    }
    if (error?.kind === 'shared-conflict' ||
        error?.kind === 'shared-missing' ||
        error?.kind === 'exists') {
        throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${error.message}`);
    }
    if (error?.kind === 'hook') {
        throw new errors/* RemoteCommandError */.at(`${s.label}: before-switch failed: ${error.message}; release ${id} was removed and current is untouched.`, result.code, result.stderrTail);
    }
    if (error) {
        const tail = lastLines(result.stderrTail);
        throw new errors/* RemoteCommandError */.at(`${s.label}: ${error.message}${tail ? `: ${tail}` : ''}`, result.code, result.stderrTail);
    }
    throw new errors/* RemoteCommandError */.at(`${s.label}: preparing release ${id} failed (exit ${result.code}): ${lastLines(result.stderrTail)}`, result.code, result.stderrTail);
}

;// CONCATENATED MODULE: ./build/bundle/js/server/session/session-state.js




/**
 * What one server's session learns on the way through the phases, and the helpers every phase
 * uses (running a script, SFTP errors as the deploy reports them, the release's parameters).
 * Each phase's logic is in its own module beside this one, over this state; ServerSession is
 * their facade.
 */
class SessionState {
    server;
    host;
    log;
    report = {
        status: 'pending',
        filesUploaded: 0,
        filesDeleted: 0,
        bytesUploaded: 0,
        phases: {}
    };
    /** Resolved absolute deploy directory. */
    deployDir = '';
    /** Release `current` pointed to when we arrived. */
    liveRelease;
    releaseDirs = new Set();
    events = [];
    tools = new Set();
    /** What the server offers, known once the inspect phase ran. */
    capabilities;
    /**
     * SFTP's start, when the inspect phase did not wait for it (files go by tar): settles once
     * `capabilities.sftp` holds what it found. Whatever chooses by SFTP waits for it first.
     */
    sftpSettling;
    umask = 0o022;
    lockToken;
    /** The lock's owner record, as written at lock time. */
    lockOwnerJson = '';
    /** The new release exists on the server (prepared, maybe ready) and is not live. */
    prepared;
    switchedTo;
    /** A switch to this release failed without an answer: `current` may or may not point to it. */
    switchUncertain;
    plan;
    base;
    /** The starting point's manifest as an older version of atomic-deploy wrote it. */
    manifestBlob;
    /** The starting point's manifest view (see compact-manifest.ts), gzipped or not. */
    viewBlob;
    /** The starting point's manifest has the source's digest: nothing changed. */
    same = false;
    /**
     * SFTP-only: the starting point's compact manifest records (less their suffixes), its digest
     * and, when the source's digest was known in time, its view, as read at inspect; what was
     * not read then is read when the plan is made (readBaseOverSftp).
     */
    sftpBase;
    /** The copy of the live release the inspect script started (`base.<pid>`), if any. */
    prefetched;
    linksBlob;
    warnedNoGzip = false;
    /** The release's metadata, once worked out (releaseArchive and prepareRelease share it). */
    metadata;
    /** `shell`: every phase is a script; `sftp`: the account runs no commands, SFTP does it all. */
    access = 'shell';
    /** What an SFTP-only inspect found left over by earlier runs. */
    leftovers = {
        switchLinks: [],
        metaNames: []
    };
    /** Directories of the release being deployed, listed ahead of need when pruning. */
    releaseDirsHint = [];
    /** The release log, held open for appending by an SFTP-only deploy from its prepare phase on. */
    logFile;
    /** The lock's owner record, read as the verified release is recorded, for the finish phase. */
    lockOwnerRead;
    /** Records the server did not send, being past their limits: name -> size. */
    tooLarge = new Map();
    /** This run's shared-paths input, for the cleanup of what it seeded. */
    sharedPaths = [];
    /** With reuse cache: the paths an interrupted sync of cache/ left unlike its manifest. */
    pendingBlob;
    /**
     * How the live release differs from what it was when it became ready (changes made on the
     * server since), when the drift check ran and the release has a record to compare with.
     */
    drift;
    /** Whether the drift check was asked for (not with on-drift: ignore). */
    driftChecked = false;
    /** What before-switch changed in the live release when it was made, as recorded then. */
    hooked;
    constructor(server, host, log) {
        this.server = server;
        this.host = host;
        this.log = log;
    }
    get label() {
        return this.server.label;
    }
    /** Time a phase and record it in the report. */
    async timed(phase, work) {
        const started = Date.now();
        try {
            return await work();
        }
        finally {
            this.report.phases[phase] = (this.report.phases[phase] ?? 0) + (Date.now() - started);
        }
    }
    /**
     * Run a script. `again` gives the options for a second run when the first was not read (a
     * server without gzip, on the connection's first script): a script with stdin needs it afresh.
     */
    async script(text, options = {}, again) {
        const run = (o) => this.host.run(text, { onStderrLine: line => this.log.info(line), ...o });
        let result;
        try {
            result = await run(options);
        }
        catch (error) {
            if (!(error instanceof errors/* ScriptUnreadError */.hy) || !again)
                throw error;
            result = await run(again());
        }
        const output = (0,script_output/* parseScriptOutput */.uF)(result.stdout);
        // What a script left alone and why (a release kept, a record not acted on).
        for (const line of (0,script_output/* values */.zu)(output, 'warning'))
            this.log.warning(line);
        return { result, output };
    }
    /** An SFTP failure as the deploy reports it: with the server's label, and lost or not. */
    sftpFailure(error, what) {
        if (!(error instanceof sftp_engine/* SftpError */.G3))
            return error;
        const message = error.message.startsWith(`${this.label}: `)
            ? error.message.slice(this.label.length + 2)
            : error.message;
        // No answer: the connection went, and whether the request took effect is unknown.
        if (error.code === undefined)
            return new errors/* ConnectionError */.Rc(`${this.label}: ${what}: ${/connection lost/.test(message) ? message : `connection lost (${message})`}`);
        return new errors/* RemoteCommandError */.at(`${this.label}: ${what} failed: ${message}`, null, '');
    }
    /** Complete releases (the rollback targets), the most recently live last. */
    completeReleases() {
        return completeReleases(this.events, this.releaseDirs);
    }
    /** What the log says of a release: undefined when it never mentions it. */
    releaseState(id) {
        return releaseStates(this.events).get(id);
    }
    /**
     * The releases to prune once `events` are appended to the log. `made` is a release this run
     * created (its start and ready are on the server, not yet in the log read at inspect).
     */
    pruneAfter(events, keep, live, replaced, made) {
        const appended = [
            ...(made === undefined ? [] : [['start', made], ['ready', made]]),
            ...events
        ].map(([event, id]) => ({ event, id, time: '' }));
        const existing = new Set(this.releaseDirs);
        if (made !== undefined)
            existing.add(made);
        return releasesToPrune([...this.events, ...appended], existing, keep, live, replaced);
    }
    releaseParams(releaseId) {
        return {
            deployDir: this.deployDir,
            releaseId,
            umask: this.contentUmask,
            // Whatever a record on the server says, the guard never removes these.
            keep: [this.liveRelease, this.switchedTo].filter((id) => id !== undefined),
            lockToken: this.lockToken ?? '',
            lockOwner: this.lockOwnerJson,
            prefetched: this.prefetched?.name ?? '',
            sharedPaths: this.sharedPaths
        };
    }
    /** The login's umask plus o-w, as the scripts take it: what releases and hooks get. */
    get contentUmask() {
        return (this.umask | 0o002).toString(8).padStart(4, '0');
    }
    /** Directories we create get the server's umask, and never world-write. */
    get directoryMode() {
        return 0o777 & ~(this.umask | 0o002);
    }
    hookEnv(id) {
        const previous = this.liveRelease;
        return {
            RELEASE_ID: id,
            RELEASE_PATH: `${this.deployDir}/releases/${id}`,
            DEPLOY_PATH: this.deployDir,
            SHARED_PATH: `${this.deployDir}/shared`,
            PREVIOUS_RELEASE_ID: previous ?? '',
            PREVIOUS_RELEASE_PATH: previous ? `${this.deployDir}/releases/${previous}` : ''
        };
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/server/server-session.js
/**
 * One server's side of a deploy, as the group run sees it. Each phase's logic lives in its own
 * module under session/, over the state the phases share (session/session-state.ts):
 *
 *   session-inspect.ts       lock, and read and check the server's state (phases 2 and 3)
 *   session-plan.ts          the starting point and the diff against it (phase 3)
 *   session-archive.ts       the release's metadata and tar stream (phase 4, on the runner)
 *   session-prepare.ts       the release script: build, transfer, verify, shared, before-switch
 *   session-switch.ts        `current` swapped atomically, and back (phase 7)
 *   session-after-switch.ts  the hook in the live release (phase 8)
 *   session-finish.ts        record, prune, unlock (phase 9), and abort
 */








/**
 * One server's side of a deploy: the phases as methods, the state they learn on the way, and a
 * report. The group runner decides when each phase runs; this class decides what it does.
 */
class ServerSession extends SessionState {
    /** See session-inspect.ts. */
    inspect(...a) {
        return inspect(this, ...a);
    }
    /** See session-plan.ts. */
    makePlan(...a) {
        return session_plan_makePlan(this, ...a);
    }
    planLine() {
        return planLine(this);
    }
    sharedProblems(...a) {
        return session_plan_sharedProblems(this, ...a);
    }
    /** See session-archive.ts. */
    releaseArchive(...a) {
        return releaseArchive(this, ...a);
    }
    /** See session-prepare.ts. */
    prepareRelease(...a) {
        return prepareRelease(this, ...a);
    }
    /** See session-switch.ts. */
    switchTo(...a) {
        return switchTo(this, ...a);
    }
    removeCurrent() {
        return removeCurrent(this);
    }
    /** See session-after-switch.ts. */
    afterSwitch(...a) {
        return afterSwitch(this, ...a);
    }
    /** See session-finish.ts. */
    finish(...a) {
        return finish(this, ...a);
    }
    finishParams(...a) {
        return finishParams(this, ...a);
    }
    abort() {
        return abort(this);
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-connect.js
/**
 * Phase 1 across servers: connect to every server and verify its host key, before anything is
 * written anywhere.
 */




/** Connect to every server (phase 1). Nothing is written on any server before all answered. */
async function connect(run, servers) {
    await run.deps.group('Connect and verify host keys', async () => {
        const results = await forEachLimited(servers, Math.max(run.settings.maxParallel, 1), async (server) => {
            const started = Date.now();
            // One server: its inspect script goes during authentication, if ready by then.
            const host = await run.deps.connect(server, servers.length === 1 ? run.inspectAhead?.then(ahead => ahead?.script) : undefined);
            const session = new ServerSession(server, host, run.deps.serverLog(server.label));
            session.report.phases.connect = Date.now() - started;
            run.sessions.push(session);
            session.log.info(`connected (${formatDuration(Date.now() - started)})`);
        }, { stopOnError: false });
        // Keep the sessions in the order the servers were given.
        run.sessions.sort((a, b) => servers.indexOf(a.server) - servers.indexOf(b.server));
        if (results.length > 0) {
            run.close();
            // With one server, its inspect script may have gone with the authentication request.
            const mayHaveRun = results.some(f => f.error instanceof errors/* ConnectionError */.Rc && f.error.scriptMayHaveRun === true);
            run.fail(`Cannot reach ${results.length} of ${servers.length} server${servers.length === 1 ? '' : 's'}; ${mayHaveRun ? 'nothing was changed but perhaps the lock (see below)' : 'nothing was changed anywhere'}:\n${results.map(f => `  ${(0,errors/* messageOf */.bD)(f.error)}`).join('\n')}`, results.map(f => f.error));
        }
    });
}

// EXTERNAL MODULE: ./build/bundle/js/settings.js
var js_settings = __webpack_require__(7336);
;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-inspect.js
/**
 * Phases 2 and 3 across servers, their inspect half: take every server's lock and read its
 * state, with a barrier: one refusal anywhere releases every lock and changes nothing. Then
 * what was changed on the servers since their deploy (drift), named or refused as on-drift says.
 */









function group_inspect_lockOwner(run, context) {
    const token = (0,external_node_crypto_.randomBytes)(16).toString('hex');
    const json = JSON.stringify({
        token,
        runUrl: context.runUrl,
        repository: context.repository,
        commit: context.commit,
        ref: context.ref,
        actor: context.actor,
        runner: context.runner,
        started: run.deps.now().toISOString()
    });
    return { token, json };
}
/** Inputs that are set and need a shell on the server, for this mode. */
function needsShell(run) {
    const { settings } = run;
    const needs = [];
    if (settings.mode === 'deploy' && settings.beforeSwitch)
        needs.push(js_settings/* Inputs */.G0.BeforeSwitch);
    if (settings.afterSwitch)
        needs.push(js_settings/* Inputs */.G0.AfterSwitch);
    if (settings.afterRollback)
        needs.push(js_settings/* Inputs */.G0.AfterRollback);
    if (settings.mode === 'deploy' && settings.transfer === 'tar')
        needs.push(js_settings/* Inputs */.G0.Transfer);
    return needs;
}
/** What one server's inspect is asked (a lock owner of its own, when it locks). */
function inspectOptions(run, context, ask, sourceDirs) {
    const { settings } = run;
    return {
        path: settings.path,
        ...(ask.lock ? { lockOwner: group_inspect_lockOwner(run, context) } : {}),
        reuse: settings.reuse,
        // A deploy starts copying the live release as soon as it holds the lock.
        ...(ask.lock && ask.prefetch ? { prefetch: { copyMethod: settings.copyMethod } } : {}),
        ...(settings.mode === 'deploy' ? { deploy: { transfer: settings.transfer } } : {}),
        drift: ask.drift === true && settings.onDrift !== 'ignore',
        access: { shell: settings.shell, needsShell: needsShell(run) },
        // A deploy (or its dry run) compares the source's manifest with the one it starts
        // from by their digests: the server sends its manifest only when they differ.
        ...(settings.mode === 'deploy' && settings.reuse !== 'none'
            ? {
                digest: run.deps.manifest.then(scan => sourceManifest(scan.entries)).then(m => m.digest)
            }
            : {}),
        ...(sourceDirs ? { sourceDirs } : {})
    };
}
/**
 * The new release's directories, mostly the live one's: an SFTP-only drift check lists them
 * ahead of need. (A failed scan fails the deploy where it is awaited, not here.)
 */
function sourceDirsOf(run) {
    if (run.settings.mode !== 'deploy')
        return undefined;
    const dirs = run.deps.manifest.then(scan => scan.entries.filter(e => e.type === 'dir').map(e => e.path));
    dirs.catch(() => undefined);
    return dirs;
}
/**
 * With one server, nothing waits for other servers between connecting and inspecting: the
 * inspect script is made ready while the connection is made (once the run's context is read),
 * and goes out during authentication as the connection's first script (see connect and
 * ssh2-internals.ts, execBehindOpen), a round trip sooner. The inspect phase then runs that
 * same script. With more servers, none is locked before every one has answered.
 */
function prepareInspectAhead(run, ask) {
    if (run.settings.servers.length !== 1)
        return;
    run.inspectAhead = run.deps.context.then(context => {
        const options = inspectOptions(run, context, ask, sourceDirsOf(run));
        return { options, script: firstInspectScript(options) };
    }, 
    // The inspect phase reports the context's failure.
    () => undefined);
}
/** Phase 2 and the server half of phase 3: lock and learn the state. */
async function group_inspect_inspect(run, lock, prefetch = false, drift = false) {
    const context = await run.deps.context;
    const ask = { lock, prefetch, drift };
    const sourceDirs = sourceDirsOf(run);
    await run.deps.group(lock ? 'Lock and inspect' : 'Inspect (read only)', async () => {
        const failures = await run.phase(run.sessions, 'inspect', async (s) => {
            // The options of the script that may have gone out during authentication already.
            const ahead = run.sessions.length === 1 ? (await run.inspectAhead)?.options : undefined;
            await s.inspect(ahead ?? inspectOptions(run, context, ask, sourceDirs));
            s.log.info(`${s.deployDir}: live release ${s.liveRelease ?? '(none: first deploy)'}`);
            run.saveLocks();
        });
        if (failures.length > 0) {
            await abortAll(run);
            run.fail(describeFailures(failures, 'Refused'), failures.map(f => f.error));
        }
    });
}
/**
 * Name what was changed in each live release on the server since it was deployed: it is not in
 * the new release (which holds exactly the source), so with on-drift: fail nothing goes ahead.
 */
async function reportDrift(run) {
    const { onDrift } = run.settings;
    if (onDrift === 'ignore')
        return;
    const drifted = run.sessions.filter(s => s.drift !== undefined && (s.drift.paths.length > 0 || !s.drift.complete));
    if (drifted.length === 0)
        return;
    const lines = drifted.map(s => {
        const d = s.drift;
        return `${s.label}: release ${s.liveRelease ?? ''} was changed on the server since it was deployed: ${describeDrift(d, 20, server_data/* shown */.SP)}${d.complete ? '' : ' (more than could be listed)'}`;
    });
    const where = `Paths the app writes belong in shared/ (see shared-paths); anything else belongs in the source.`;
    if (onDrift === 'fail') {
        await abortAll(run);
        run.fail(`Refused (on-drift: fail); nothing was changed:\n  ${lines.join('\n  ')}\nThe next release would hold exactly the source, without these changes. ${where} Or set on-drift: warn to deploy anyway.`, lines.map(l => new errors/* DeployRefusedError */.Qr(l)));
    }
    for (const line of lines)
        run.deps.log.warning(`${line}. The new release holds exactly the source, without these changes (they stay in the old release until it is pruned). ${where} on-drift: fail stops such a deploy; on-drift: ignore silences run.`);
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-plan.js
/**
 * Phase 3 across servers, its plan half: the one release id for every server, the dry run's
 * report and its check of shared/, and the release mode: rollback switches each server to.
 */




/** The same release id on every server: the custom one, or the first free UTC second. */
function chooseReleaseId(run) {
    if (run.settings.releaseId) {
        const taken = run.sessions.filter(s => s.releaseDirs.has(run.settings.releaseId));
        if (taken.length > 0) {
            throw new errors/* DeployRefusedError */.Qr(`release-id '${run.settings.releaseId}' already exists on ${taken.map(s => s.label).join(', ')}. Release ids are never reused; choose a new one.`);
        }
        return run.settings.releaseId;
    }
    const taken = new Set();
    for (const s of run.sessions)
        for (const id of s.releaseDirs)
            taken.add(id);
    for (const s of run.sessions)
        for (const e of s.events)
            taken.add(e.id);
    return (0,release_id/* nextFreeTimestampId */.Zb)(run.deps.now(), taken);
}
function printDryRun(run) {
    for (const s of run.sessions) {
        const plan = s.plan;
        if (!plan)
            continue;
        // The counts outputs of a dry run say what a deploy would transfer.
        s.report.filesUploaded = plan.uploadFiles;
        s.report.bytesUploaded = plan.uploadBytes;
        s.report.filesDeleted = plan.deleted.length;
        const show = (title, paths) => {
            if (paths.length === 0)
                return;
            s.log.info(`${title} (${paths.length}):`);
            for (const p of paths.slice(0, 20))
                s.log.info(`  ${p}`);
            if (paths.length > 20)
                s.log.info(`  ... and ${paths.length - 20} more`);
        };
        s.log.info(`dry run: ${s.planLine()}; nothing was written`);
        // A changed path is removed from the starting copy before it is written again.
        const replaced = new Set(plan.remove);
        const sent = plan.upload.filter(e => e.type !== 'dir');
        show('would add', sent.filter(e => !replaced.has(e.path)).map(e => e.path));
        show('would change', sent.filter(e => replaced.has(e.path)).map(e => e.path));
        show('would delete', plan.deleted);
    }
}
/** A dry run finds the shared-path problems the deploy would fail on, and fails with them. */
async function checkSharedDryRun(run, scan) {
    const { settings } = run;
    const failures = await run.phase(run.sessions, 'inspect', async (s) => {
        const problems = await s.sharedProblems(scan.entries, settings.sharedPaths, settings.sharedConflict);
        if (problems.length > 0)
            throw new errors/* DeployRefusedError */.Qr(`${s.label}: ${problems.join('; ')}`);
    });
    if (failures.length > 0)
        run.fail(`${describeFailures(failures, 'The deploy would fail before the switch')}\nDry run: nothing was written.`, failures.map(f => f.error));
}
/**
 * The release `mode: rollback` switches a server to: `rollback-to`, or the good release live
 * before the current one. A problem is a sentence for the refusal.
 */
function rollbackTarget(run, s) {
    const complete = s.completeReleases();
    const { rollbackTo } = run.settings;
    const targets = `rollback targets here: ${complete.filter(id => id !== s.liveRelease).join(', ') || 'none'}`;
    if (rollbackTo === undefined) {
        const target = previousRelease(complete, s.liveRelease);
        if (target === undefined)
            return {
                problem: `${s.label}: no good release before ${s.liveRelease ?? '(none)'} to roll back to (releases that failed after going live are kept for inspection, never rolled back to)`
            };
        return { target };
    }
    const state = s.releaseState(rollbackTo);
    if (!s.releaseDirs.has(rollbackTo) ||
        state === 'incomplete' ||
        state === 'gone' ||
        state === undefined)
        return {
            problem: `${s.label}: release '${rollbackTo}' is not a complete release here (${targets})`
        };
    if (state === 'failed')
        return {
            problem: `${s.label}: release '${rollbackTo}' failed its checks after it went live and was switched away from; it is kept for inspection, not as a rollback target (${targets}). Deploy a fixed version instead.`
        };
    if (rollbackTo === s.liveRelease)
        return { problem: `${s.label}: release '${rollbackTo}' is already live` };
    return { target: rollbackTo };
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group/group-prepare.js


/**
 * Phases 4 to 6 on every server. Servers that need the same archive (the usual case: the same
 * plan, umask and tools) get one archive, made and compressed once and copied to each of
 * them at the pace of the slowest; the others get their own. An archive's servers run
 * together (they must, to share it), within max-parallel.
 */
async function upload(run, options, switchAfter) {
    const failures = [];
    const limit = Math.max(1, run.settings.maxParallel);
    const archives = new Map();
    for (const s of run.sessions) {
        try {
            archives.set(s, await s.releaseArchive(options));
        }
        catch (error) {
            failures.push({ item: s, error });
        }
    }
    if (failures.length > 0)
        return run.markFailed(failures);
    // Streams: servers with the same archive key, at most max-parallel to a stream.
    const streams = [];
    const open = new Map();
    for (const s of run.sessions) {
        const archive = archives.get(s);
        const shared = archive ? open.get(archive.key) : undefined;
        if (archive && shared && shared.sessions.length < limit) {
            shared.sessions.push(s);
            continue;
        }
        const stream = { archive, sessions: [s] };
        streams.push(stream);
        if (archive)
            open.set(archive.key, stream);
    }
    // Run the streams as max-parallel allows, each with all of its servers at once.
    let running = 0;
    let wake;
    const runStream = async (stream) => {
        const { archive, sessions } = stream;
        if (!archive) {
            const session = sessions[0];
            await session
                .timed('upload', () => session.prepareRelease(options, undefined, switchAfter?.(session)))
                .catch(error => {
                failures.push({ item: session, error });
            });
            return;
        }
        const many = sessions.length > 1;
        const log = many ? run.deps.log : sessions[0].log;
        if (many)
            log.info(`one archive for ${sessions.length} servers with the same plan: ${sessions.map(s => s.label).join(', ')}`);
        const progress = archiveProgress(many ? withSuffix(log, ` to ${sessions.length} servers`) : log, archive.entries, archive.fileCount).start();
        // The plan's files the archive carried, for the reports of every server it goes to.
        const sent = { files: 0, bytes: 0 };
        const { stream: source, gzip } = archiveStream(archive.entries, archive.compression, progress, options.signal, entry => {
            if (entry.path.startsWith('.atomic-deploy/'))
                return;
            sent.files++;
            sent.bytes += entry.size ?? 0;
        });
        const fanout = new Fanout(source, sessions.length);
        let changes = 0;
        const stopAdapting = gzip && archive.compression === 'adaptive'
            ? adaptLevel(gzip, () => fanout.stats(), 
            // A link at the edge between the levels may switch often: the first changes
            // are worth a line, the rest only go to the debug log.
            (level, why) => (changes++ < 3 ? log.info : log.debug)(`compression: gzip level ${level} (${why})`))
            : () => undefined;
        try {
            await Promise.all(sessions.map((session, i) => session
                .timed('upload', () => session.prepareRelease(options, {
                stream: fanout.output(i),
                onMeter: meter => fanout.attach(i, meter),
                done: () => fanout.drop(i),
                sent
            }, switchAfter?.(session)))
                .catch(error => {
                failures.push({ item: session, error });
            })));
        }
        finally {
            stopAdapting();
            progress.stop();
            source.destroy();
        }
    };
    const pending = [];
    for (const stream of streams) {
        if (failures.length > 0)
            break;
        const weight = stream.sessions.length;
        while (running > 0 && running + weight > limit) {
            await new Promise(resolve => (wake = resolve));
        }
        if (failures.length > 0)
            break;
        running += weight;
        pending.push(runStream(stream).finally(() => {
            running -= weight;
            wake?.();
        }));
    }
    await Promise.all(pending);
    return run.markFailed(failures);
}
/** A log whose lines end with `suffix`. */
function withSuffix(log, suffix) {
    return {
        info: message => log.info(message + suffix),
        warning: message => log.warning(message + suffix),
        debug: message => log.debug(message + suffix)
    };
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/group-run.js












/**
 * The runs of one action step against a group of servers. Each phase ends with a barrier: it
 * finishes on every server before the next begins, so either every server switches, or none.
 * Each phase across servers is a module under group/ (connect, inspect, plan, prepare, switch,
 * after-switch, finish); this class puts them in order for a deploy and for mode: rollback.
 */
class GroupRun extends GroupState {
    /** A whole deploy. */
    async deploy() {
        const started = Date.now();
        const { settings } = this;
        try {
            prepareInspectAhead(this, { lock: !settings.dryRun, prefetch: true, drift: true });
            await connect(this, settings.servers);
            // A lock taken by a script sent during authentication is known only from its answer:
            // the inspect phase reads it, and a cancellation is acted on once it has.
            if (!this.sessions.some(s => s.host.firstScriptSent?.() === true))
                this.checkAborted();
            await group_inspect_inspect(this, !settings.dryRun, true, true);
            this.checkAborted();
            await reportDrift(this);
            const scan = await this.deps.manifest;
            this.deps.log.info(describeSource(settings.source, scan));
            for (const skipped of scan.skipped)
                this.deps.log.warning(`not deployed: ${skipped} is not a file, directory or symlink`);
            const leaving = linksLeavingTree(scan.entries);
            if (leaving.length > 0) {
                const shown = leaving.slice(0, 10).map(e => `${e.path} -> ${e.target ?? ''}`);
                this.deps.log.warning(`${formatCount(leaving.length)} symlink${leaving.length === 1 ? '' : 's'} in source point${leaving.length === 1 ? 's' : ''} outside it and ${leaving.length === 1 ? 'is' : 'are'} deployed as ${leaving.length === 1 ? 'a link' : 'links'}, which resolve${leaving.length === 1 ? 's' : ''} to whatever the server has there: ${shown.join(', ')}${leaving.length > 10 ? `, and ${formatCount(leaving.length - 10)} more` : ''}. Copy the files into source, or exclude the links, if the server should not provide them.`);
            }
            try {
                if (scan.entries.length === 0) {
                    // An empty source is a mistake (a build that wrote nowhere, an exclude of '**'), and
                    // putting an empty release live would take the site down.
                    throw new errors/* DeployRefusedError */.Qr(`source ${settings.source} has nothing to deploy${settings.exclude.length > 0 ? ' after exclude' : ''}: refusing to put an empty release live. Check that the build wrote its output there.`);
                }
                this.releaseId = chooseReleaseId(this);
            }
            catch (error) {
                await abortAll(this);
                throw error;
            }
            const releaseId = this.releaseId;
            await this.deps.group('Plan', async () => {
                for (const s of this.sessions) {
                    await s.makePlan(scan.entries, settings.reuse);
                    s.log.info(`plan for release ${releaseId}: ${s.planLine()}`);
                }
            });
            if (settings.dryRun) {
                printDryRun(this);
                for (const s of this.sessions)
                    s.report.status = 'planned';
                await checkSharedDryRun(this, scan);
                return this.result();
            }
            const context = await this.deps.context;
            const revision = JSON.stringify({
                release: releaseId,
                commit: context.commit,
                ref: context.ref,
                actor: context.actor,
                repository: context.repository,
                runUrl: context.runUrl,
                workflow: context.workflow,
                time: this.deps.now().toISOString()
            });
            // Phases 4 to 6 are one script per server (one round trip), so before-switch's output
            // is in this group, named for it.
            // The next deploy starts from a copy of this release made now, in the background, rather
            // than copying the live release then (reuse previous), made as copy-method says: a whole
            // copy needs room for the files' bytes, a hard-linked one only for its directories.
            const spare = settings.reuse === 'previous'
                ? {
                    release: releaseId,
                    method: settings.copyMethod,
                    bytes: settings.copyMethod === 'copy' ? scan.entries.reduce((n, e) => n + e.size, 0) : 0
                }
                : undefined;
            const finishing = (s) => {
                const events = [['live', releaseId]];
                return {
                    events,
                    prune: s.pruneAfter(events, settings.keepReleases, releaseId, s.liveRelease, releaseId)
                };
            };
            // One server, and nothing to run or check after the switch: no other server to switch
            // with, nothing that could call for a rollback. The release script switches and finishes
            // once the release is ready, which saves the round trips of phases 7 and 9 (an SFTP-only
            // server has no script: its phases are requests, pipelined already).
            const switchAfter = this.sessions.length === 1 &&
                this.sessions.every(s => s.access === 'shell') &&
                !settings.afterSwitch &&
                !settings.healthCheckUrl
                ? (s) => {
                    const { events, prune } = finishing(s);
                    return s.finishParams(events, prune, spare, releaseId);
                }
                : undefined;
            const prepareTitle = `Prepare release ${releaseId}${settings.beforeSwitch ? ' and run before-switch' : ''}${switchAfter ? `, switch to it and finish` : ''}`;
            await this.deps.group(prepareTitle, async () => {
                const failures = await upload(this, {
                    releaseId,
                    sourceRoot: settings.source,
                    entries: scan.entries,
                    reuse: settings.reuse,
                    copyMethod: settings.copyMethod,
                    compression: settings.compression,
                    transfer: settings.transfer,
                    verify: settings.verify,
                    sharedPaths: settings.sharedPaths,
                    sharedConflict: settings.sharedConflict,
                    beforeSwitch: settings.beforeSwitch,
                    revision,
                    mtime: Math.floor(this.deps.now().getTime() / 1000),
                    signal: this.deps.signal
                }, switchAfter);
                if (failures.length > 0 || this.deps.signal.aborted) {
                    // A script that switches and lost its connection may have switched: put current back.
                    const uncertain = this.sessions.filter(s => s.switchUncertain !== undefined);
                    const reverted = uncertain.length > 0 ? await revert(this, uncertain) : [];
                    await abortAll(this);
                    this.checkAborted();
                    this.fail(`${describeFailures(failures, 'Deploy failed before the switch')}\n${reverted.length > 0 ? `Switched back: ${reverted.join(', ')}.` : 'Nothing was switched; current is unchanged everywhere.'}`, failures.map(f => f.error));
                }
            });
            if (switchAfter) {
                // The release script released the lock, or said it could not: the post step knows.
                this.saveLocks();
            }
            else {
                await switchAll(this, () => releaseId, `Switch to ${releaseId}`);
                await afterSwitchAndHealth(this, releaseId);
                await finishAll(this, s => ({ ...finishing(s), spare }));
            }
            for (const s of this.sessions)
                s.report.status = 'deployed';
            this.deps.log.info(`release ${releaseId} is live on ${this.sessions.length} server${this.sessions.length === 1 ? '' : 's'} (${formatDuration(Date.now() - started)})`);
            return this.result();
        }
        catch (error) {
            if (error instanceof GroupError)
                throw error;
            await abortAll(this).catch(() => undefined);
            throw new GroupError((0,errors/* messageOf */.bD)(error), [error], this.result());
        }
        finally {
            this.close();
        }
    }
    /**
     * mode: rollback. The target gets the same checks as a deploy: after-rollback (or after-switch)
     * and the health check; if they fail, every server goes back to what it had.
     */
    async rollback() {
        const { settings } = this;
        try {
            prepareInspectAhead(this, { lock: true });
            await connect(this, settings.servers);
            await group_inspect_inspect(this, true);
            const targets = new Map();
            const problems = [];
            for (const s of this.sessions) {
                const choice = rollbackTarget(this, s);
                if ('problem' in choice)
                    problems.push(choice.problem);
                else
                    targets.set(s, choice.target);
            }
            if (problems.length > 0) {
                await abortAll(this);
                this.fail(`Rollback refused; nothing was changed:\n  ${problems.join('\n  ')}`, problems.map(p => new errors/* DeployRefusedError */.Qr(p)));
            }
            const target = (s) => targets.get(s);
            const distinct = new Set(targets.values());
            if (distinct.size > 1)
                this.deps.log.warning(`servers roll back to different releases: ${[...targets].map(([s, t]) => `${s.label} -> ${t}`).join(', ')}`);
            this.releaseId = [...targets.values()][0];
            await switchAll(this, target, `Roll back to ${this.releaseId}`);
            for (const s of this.sessions)
                s.report.release = target(s);
            const failure = await checkLive(this, this.sessions, rollbackHook(this), target, s => s.liveRelease, false);
            const events = (s) => [
                ...(s.liveRelease === undefined ? [] : [['rollback', s.liveRelease]]),
                ['live', target(s)]
            ];
            if (failure === undefined) {
                // Nothing is pruned by a rollback: every release stays where it was for the next step.
                await finishAll(this, s => ({ events: events(s), prune: [] }));
                for (const s of this.sessions)
                    s.report.status = 'deployed';
                this.deps.log.info(`rolled back to ${this.releaseId}`);
                return this.result();
            }
            if (!settings.rollbackOnFailure) {
                await finishAll(this, s => ({ events: events(s), prune: [] }));
                for (const s of this.sessions) {
                    s.report.status = 'failed';
                    s.report.error ??= failure.message;
                }
                this.fail(`Rollback to ${this.releaseId} failed its checks: ${failure.message}\nrollback-on-failure is false: release ${this.releaseId} stays live.`, failure.causes);
            }
            return await switchBack(this, target, {
                message: `Rollback to ${this.releaseId} failed its checks: ${failure.message}`,
                causes: failure.causes
            });
        }
        catch (error) {
            if (error instanceof GroupError)
                throw error;
            await abortAll(this).catch(() => undefined);
            throw new GroupError((0,errors/* messageOf */.bD)(error), [error], this.result());
        }
        finally {
            this.close();
        }
    }
}
/** What is being deployed, in one line: `source: 3,505 files, 12 directories, 30.0 MB; ...`. */
function describeSource(source, scan) {
    let files = 0;
    let dirs = 0;
    let links = 0;
    let bytes = 0;
    for (const e of scan.entries) {
        if (e.type === 'file') {
            files++;
            bytes += e.size;
        }
        else if (e.type === 'dir')
            dirs++;
        else
            links++;
    }
    const parts = [
        `${formatCount(files)} files`,
        `${formatCount(dirs)} directories`,
        ...(links > 0 ? [`${formatCount(links)} symlinks`] : []),
        formatBytes(bytes)
    ];
    const threads = scan.threads ? ` on ${scan.threads} thread${scan.threads === 1 ? '' : 's'}` : '';
    const took = scan.elapsedMs === undefined ? '' : `; scanned and hashed in ${scan.elapsedMs} ms${threads}`;
    return `source ${source}: ${parts.join(', ')}${took}`;
}

// EXTERNAL MODULE: ./build/bundle/js/action/input-helper.js
var input_helper = __webpack_require__(3501);
// EXTERNAL MODULE: ./node_modules/@actions/exec/lib/exec.js + 3 modules
var exec = __webpack_require__(1260);
// EXTERNAL MODULE: ./node_modules/@actions/github/lib/github.js + 22 modules
var github = __webpack_require__(2413);
;// CONCATENATED MODULE: ./build/bundle/js/action/run-context.js



/**
 * Read the run from the Actions context. Outside Actions (local runs, the demo) the commit
 * comes from git in the source directory, when it is a checkout.
 */
async function readRunContext(source) {
    const repository = repositoryName();
    const runUrl = repository && github/* context */._.runId > 0
        ? `${github/* context */._.serverUrl}/${repository}/actions/runs/${github/* context */._.runId}`
        : 'local run';
    const commit = github/* context */._.sha || (await gitHead(source));
    return {
        commit,
        ref: github/* context */._.ref ?? '',
        actor: github/* context */._.actor || process.env.USER || '',
        repository,
        runUrl,
        workflow: github/* context */._.workflow ?? '',
        runner: (0,external_node_os_.hostname)()
    };
}
/** `owner/repo`, or '' outside Actions: `context.repo` throws when it has no repository. */
function repositoryName() {
    try {
        const { owner, repo } = github/* context */._.repo;
        return owner && repo ? `${owner}/${repo}` : '';
    }
    catch {
        return '';
    }
}
/** How long `git rev-parse` may take before the commit is recorded as unknown. */
const GIT_TIMEOUT_MS = 10_000;
/** The checkout's commit, or '' when the source is not in a git work tree (or git is absent). */
async function gitHead(cwd) {
    const head = (0,exec/* getExecOutput */.H)('git', ['rev-parse', 'HEAD'], {
        cwd,
        silent: true,
        ignoreReturnCode: true
    }).then(result => (result.exitCode === 0 ? result.stdout.trim() : ''), 
    // io.which throws when git is not installed.
    () => '');
    // @actions/exec has no timeout: the deploy does not wait for a git that hangs.
    let timer;
    const timeout = new Promise(resolve => {
        timer = setTimeout(() => resolve(''), GIT_TIMEOUT_MS);
        timer.unref();
    });
    try {
        return await Promise.race([head, timeout]);
    }
    finally {
        clearTimeout(timer);
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/deploy/unlock.js









/** mode: unlock — remove a stale lock on every server, saying who held it and since when. */
class UnlockRun {
    settings;
    deps;
    constructor(settings, deps) {
        this.settings = settings;
        this.deps = deps;
    }
    async unlock() {
        const sessions = [];
        const failures = await forEachLimited(this.settings.servers, this.settings.maxParallel, async (server) => {
            const host = await this.deps.connect(server);
            const session = new ServerSession(server, host, this.deps.serverLog(server.label));
            sessions.push(session);
            try {
                const { locked, owner, deployDir, current } = await this.unlockOn(host);
                // For the outputs only, and checked like everything a server sends: a `current` that
                // is not a release of this directory is reported, and no release is named.
                try {
                    session.deployDir = (0,server_data/* resolvedDeployDir */.DJ)(deployDir, this.settings.path);
                    session.liveRelease =
                        current === undefined ? undefined : (0,server_data/* liveReleaseOf */.xC)(current, session.deployDir);
                }
                catch (error) {
                    session.log.warning((0,errors/* messageOf */.bD)(error));
                }
                session.report.release = session.liveRelease;
                if (!locked) {
                    session.log.info('no lock was held');
                }
                else {
                    session.log.info(`removed the lock held by ${describeLockOwner(owner)}`);
                }
                session.report.status = 'unlocked';
            }
            catch (error) {
                session.report.status = 'failed';
                session.report.error = (0,errors/* messageOf */.bD)(error);
                throw error;
            }
            finally {
                host.close();
            }
        }, { stopOnError: false });
        // The outputs say what is live, as after any other mode.
        sessions.sort((a, b) => this.settings.servers.indexOf(a.server) - this.settings.servers.indexOf(b.server));
        const first = sessions[0];
        const result = {
            rolledBack: false,
            sessions,
            releaseId: first?.liveRelease,
            releasePath: first?.liveRelease
                ? `${first.deployDir}/releases/${first.liveRelease}`
                : undefined,
            previousReleaseId: first?.liveRelease
        };
        if (failures.length > 0) {
            throw new GroupError(`Unlock failed:\n${failures.map(f => `  ${(0,errors/* messageOf */.bD)(f.error)}`).join('\n')}`, failures.map(f => f.error), result);
        }
        return result;
    }
    /** Remove the lock with the unlock script, or over SFTP when the account runs no commands. */
    async unlockOn(host) {
        const sftp = async () => (0,sftp_finish/* unlockOverSftp */.aP)(await host.files(), this.settings.path);
        if (this.settings.shell === 'none' || !host.exec)
            return sftp();
        let result;
        try {
            result = await host.run((0,remote_scripts/* unlockScript */.Ag)(this.settings.path));
        }
        catch (error) {
            if (error instanceof errors/* ExecRefusedError */.EC)
                return sftp();
            throw error;
        }
        const output = (0,script_output/* parseScriptOutput */.uF)(result.stdout);
        // No line of ours: no shell ran it (an SFTP-only account).
        if (output.lines.length === 0)
            return sftp();
        // The owner record and current's target come as blobs: they may hold anything.
        const found = {
            owner: output.blobs.get('owner')?.toString('utf8'),
            current: output.blobs.get('current')?.toString('utf8'),
            deployDir: output.lines.find(l => l.startsWith('path '))?.slice(5)
        };
        if (output.lines.includes('not-locked'))
            return { locked: false, ...found };
        if (output.lines.includes('unlocked'))
            return { locked: true, ...found };
        throw new Error(`${host.label}: could not remove the lock: ${result.stderrTail.trim()}`);
    }
}

// EXTERNAL MODULE: ./build/bundle/js/ssh/jump-hosts.js
var jump_hosts = __webpack_require__(6348);
// EXTERNAL MODULE: ./build/bundle/js/ssh/ssh-remote-host.js + 4 modules
var ssh_remote_host = __webpack_require__(1714);
// EXTERNAL MODULE: ./build/bundle/js/action/state-helper.js
var state_helper = __webpack_require__(2006);
;// CONCATENATED MODULE: ./build/bundle/js/action/summary.js


const PHASES = [
    'connect',
    'inspect',
    'upload',
    'switch',
    'after-switch',
    'health-check',
    'finish'
];
/** The `servers` output: JSON keyed by server. */
function serversOutput(result) {
    const out = {};
    for (const s of result?.sessions ?? [])
        out[s.label] = s.report;
    return JSON.stringify(out);
}
const STATUS_TEXT = {
    pending: '⏸️ not reached',
    deployed: '✅ live',
    failed: '❌ failed',
    'rolled-back': '↩️ rolled back',
    aborted: '⏹️ aborted',
    planned: '📝 planned (dry run)',
    unlocked: '🔓 unlocked',
    skipped: '⏭️ skipped'
};
/**
 * A table with one row per server in $GITHUB_STEP_SUMMARY: what went live where, and why not.
 * `core.summary` writes its arguments into the HTML as they are (addHeading, addTable and
 * addCodeBlock escape nothing), and errors carry text a server sent back, so every value is
 * escaped here.
 */
async function writeSummary(title, result, error) {
    if (!process.env.GITHUB_STEP_SUMMARY)
        return;
    const header = [
        { data: 'Server', header: true },
        { data: 'Status', header: true },
        { data: 'Release', header: true },
        { data: 'Previous', header: true },
        { data: 'Uploaded', header: true },
        { data: 'Deleted', header: true },
        { data: 'Time per phase', header: true },
        { data: 'Reason', header: true }
    ];
    const rows = (result?.sessions ?? []).map(s => {
        const r = s.report;
        const phases = PHASES.filter(p => r.phases[p] !== undefined)
            .map(p => `${p} ${formatDuration(r.phases[p])}`)
            .join(', ');
        return [
            s.label,
            STATUS_TEXT[r.status],
            r.release ?? '',
            r.previousRelease ?? '',
            `${formatCount(r.filesUploaded)} files, ${formatBytes(r.bytesUploaded)}`,
            formatCount(r.filesDeleted),
            phases,
            (r.error ?? '').split('\n')[0] ?? ''
        ].map(escapeHtml);
    });
    const summary = core/* summary */.z.addHeading(escapeHtml(title), 3);
    if (rows.length > 0)
        summary.addTable([header, ...rows]);
    if (error) {
        summary.addRaw('\n\n**Failed:**\n\n');
        summary.addCodeBlock(escapeHtml(error));
    }
    if (result?.rolledBack)
        summary.addRaw(`\n\n**Rolled back** to ${escapeHtml(result.releaseId ?? '(none)')}.\n`);
    await summary.write();
}
/** Text as HTML character data or a quoted attribute value. */
function escapeHtml(text) {
    return text.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

;// CONCATENATED MODULE: ./build/bundle/js/action/main.js














/** The main step: read the inputs, run the mode, set outputs and the summary, fail once. */
async function run() {
    (0,state_helper/* markMainStarted */.UM)();
    const started = Date.now();
    let settings;
    try {
        settings = (0,input_helper/* getSettings */.m)();
    }
    catch (error) {
        // One line that names the input: no stack trace, nothing touched.
        core/* setFailed */.C1((0,errors/* messageOf */.bD)(error));
        return;
    }
    const controller = new AbortController();
    const onSignal = (signal) => {
        if (controller.signal.aborted)
            return;
        core/* warning */.$e(`${signal} received: aborting; the new release is removed and the lock released.`);
        controller.abort(new Error(signal));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let result;
    let failure;
    try {
        result = await runMode(settings, controller.signal);
    }
    catch (error) {
        failure = (0,errors/* messageOf */.bD)(error);
        if (error instanceof GroupError)
            result = error.result;
        if (!(error instanceof GroupError) &&
            !(error instanceof errors/* InputError */.dz) &&
            error instanceof Error &&
            error.stack) {
            core/* debug */.Yz(error.stack);
        }
    }
    finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
    }
    setOutputs(result);
    const title = summaryTitle(settings, result, failure);
    try {
        await writeSummary(title, result, failure);
    }
    catch (error) {
        core/* warning */.$e(`could not write the job summary: ${(0,errors/* messageOf */.bD)(error)}`);
    }
    if (failure !== undefined) {
        core/* setFailed */.C1(failure);
        return;
    }
    const took = formatDuration(Date.now() - started);
    if (settings.mode === 'unlock')
        core/* info */.pq(`Done: unlock finished (${took}).`);
    else if (settings.dryRun)
        core/* info */.pq(`Done: dry run planned release ${result?.plannedReleaseId ?? '(none)'} (${took}).`);
    else if (settings.mode === 'rollback')
        core/* info */.pq(`Done: rolled back; release ${result?.releaseId} is live (${took}).`);
    else
        core/* info */.pq(`Done: release ${result?.releaseId} is live (${took}).`);
}
async function runMode(settings, signal) {
    const manifest = settings.mode === 'deploy'
        ? buildManifest(settings.source, settings.exclude)
        : Promise.resolve({ entries: [], skipped: [] });
    // Scanning runs while the connections are made; a failure surfaces when the plan needs it.
    manifest.catch(() => undefined);
    // So is the source's compact manifest and its digest, which the inspect script waits for,
    // and the source's view, which the servers' views are read against.
    manifest.then(scan => sourceManifest(scan.entries)).catch(() => undefined);
    const warn = (message) => core/* warning */.$e(message);
    // One connection through the jump hosts, shared by every server of the run.
    const jumps = settings.jumpHosts.length > 0
        ? new jump_hosts/* JumpChain */.i(settings.jumpHosts, {
            hostKeys: settings.hostKeys,
            timeoutSeconds: settings.connectTimeout,
            warn
        })
        : undefined;
    if (jumps)
        core/* info */.pq(`Connecting through jump host${settings.jumpHosts.length === 1 ? '' : 's'} ${settings.jumpHosts.map(h => h.server.label).join(' -> ')}`);
    const deps = {
        connect: (server, firstScript) => (0,ssh_remote_host/* connectSsh */.LZ)({
            server,
            hostKeys: settings.hostKeys,
            privateKey: settings.privateKey,
            passphrase: settings.passphrase,
            password: settings.password,
            timeoutSeconds: settings.connectTimeout,
            commandTimeoutSeconds: settings.commandTimeout,
            ...(jumps ? { tunnel: jumps.tunnel } : {}),
            warn,
            exec: settings.shell !== 'none',
            ...(firstScript ? { firstScript } : {})
        }).then(host => {
            host.warmUp();
            return host;
        }),
        serverLog: serverLog,
        log: actionLog,
        group: (name, work) => core/* group */.Os(name, work),
        manifest,
        context: readRunContext(settings.source),
        now: () => new Date(),
        saveLocks: state_helper/* saveHeldLocks */.dK,
        signal
    };
    try {
        if (settings.mode === 'unlock')
            return await new UnlockRun(settings, deps).unlock();
        if (settings.strategy === 'sequential' && settings.servers.length > 1)
            return await runSequential(settings, deps);
        const group = new GroupRun(settings, deps);
        return settings.mode === 'rollback' ? await group.rollback() : await group.deploy();
    }
    finally {
        jumps?.close();
    }
}
/**
 * strategy: sequential — a rolling deploy: each server goes through every phase before the next
 * one starts. The first failure stops the rollout; servers already done stay on the new release.
 */
async function runSequential(settings, deps) {
    const sessions = [];
    let releaseId = settings.releaseId;
    let last;
    for (const [index, server] of settings.servers.entries()) {
        core/* info */.pq(`Server ${index + 1} of ${settings.servers.length}: ${server.label}`);
        const group = new GroupRun({ ...settings, servers: [server], releaseId }, deps);
        try {
            last = settings.mode === 'rollback' ? await group.rollback() : await group.deploy();
        }
        catch (error) {
            if (error instanceof GroupError) {
                const rest = settings.servers.slice(index + 1).map(s => s.label);
                throw new GroupError(`${error.message}${rest.length > 0 ? `\nNot deployed (sequential strategy stops at the first failure): ${rest.join(', ')}` : ''}`, error.causes, { ...error.result, sessions: [...sessions, ...error.result.sessions] });
            }
            throw error;
        }
        sessions.push(...last.sessions);
        // The next server gets the same id: the one put live, or, in a dry run (whose releaseId is
        // the live release, as its outputs say), the one planned.
        if (settings.mode === 'deploy')
            releaseId = settings.dryRun ? (last.plannedReleaseId ?? releaseId) : last.releaseId;
    }
    return { ...last, previousReleaseId: sessions[0]?.liveRelease, sessions };
}
/** `atomic-deploy: deploy, 20261122140000 live`; no id where none is known. */
function summaryTitle(settings, result, failure) {
    const what = `atomic-deploy: ${settings.mode}${settings.dryRun ? ' (dry run)' : ''}`;
    if (failure !== undefined)
        return `${what} failed`;
    if (settings.dryRun && result?.plannedReleaseId)
        return `${what}, release ${result.plannedReleaseId} planned`;
    return result?.releaseId ? `${what}, ${result.releaseId} live` : what;
}
function setOutputs(result) {
    const sessions = result?.sessions ?? [];
    const sum = (key) => String(sessions.reduce((n, s) => n + s.report[key], 0));
    core/* setOutput */.uH(js_settings/* Outputs */.tY.ReleaseId, result?.releaseId ?? '');
    core/* setOutput */.uH(js_settings/* Outputs */.tY.ReleasePath, result?.releasePath ?? '');
    core/* setOutput */.uH(js_settings/* Outputs */.tY.PreviousReleaseId, result?.previousReleaseId ?? '');
    core/* setOutput */.uH(js_settings/* Outputs */.tY.FilesUploaded, sum('filesUploaded'));
    core/* setOutput */.uH(js_settings/* Outputs */.tY.FilesDeleted, sum('filesDeleted'));
    core/* setOutput */.uH(js_settings/* Outputs */.tY.BytesUploaded, sum('bytesUploaded'));
    core/* setOutput */.uH(js_settings/* Outputs */.tY.RolledBack, String(result?.rolledBack ?? false));
    core/* setOutput */.uH(js_settings/* Outputs */.tY.Servers, serversOutput(result));
}


/***/ }),

/***/ 3392:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   b: () => (/* binding */ post)
/* harmony export */ });
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7264);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(6506);
/* harmony import */ var _input_helper_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(3501);
/* harmony import */ var _server_remote_scripts_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(4200);
/* harmony import */ var _server_script_output_js__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(2738);
/* harmony import */ var _server_sftp_finish_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(4590);
/* harmony import */ var _ssh_jump_hosts_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(6348);
/* harmony import */ var _ssh_ssh_remote_host_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(1714);
/* harmony import */ var _state_helper_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(2006);









/**
 * The post step. It runs even when the job was cancelled, after the main step was interrupted:
 * if the main step still held a lock, release it here (only if our token still holds it). The
 * incomplete release, if any, is removed by the next deploy.
 */
async function post() {
    const locks = (0,_state_helper_js__WEBPACK_IMPORTED_MODULE_7__/* .heldLocks */ .Mw)();
    if (locks.length === 0)
        return;
    let settings;
    try {
        settings = (0,_input_helper_js__WEBPACK_IMPORTED_MODULE_2__/* .getSettings */ .m)();
    }
    catch (error) {
        _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .warning */ .$e(`post: cannot read inputs to release the lock: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .messageOf */ .bD)(error)}`);
        return;
    }
    const jumps = settings.jumpHosts.length > 0
        ? new _ssh_jump_hosts_js__WEBPACK_IMPORTED_MODULE_5__/* .JumpChain */ .i(settings.jumpHosts, {
            hostKeys: settings.hostKeys,
            timeoutSeconds: settings.connectTimeout
        })
        : undefined;
    for (const lock of locks) {
        try {
            const host = await (0,_ssh_ssh_remote_host_js__WEBPACK_IMPORTED_MODULE_6__/* .connectSsh */ .LZ)({
                server: lock.server,
                hostKeys: settings.hostKeys,
                privateKey: settings.privateKey,
                passphrase: settings.passphrase,
                password: settings.password,
                timeoutSeconds: settings.connectTimeout,
                commandTimeoutSeconds: settings.commandTimeout,
                ...(jumps ? { tunnel: jumps.tunnel } : {}),
                exec: settings.shell !== 'none'
            });
            try {
                if (await releaseLock(host, lock.deployDir, lock.token))
                    _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .info */ .pq(`[${lock.server.label}] released the lock left by the main step`);
            }
            finally {
                host.close();
            }
        }
        catch (error) {
            _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .warning */ .$e(`[${lock.server.label}] could not release the lock: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .messageOf */ .bD)(error)}. Run the action with 'mode: unlock'.`);
        }
    }
    jumps?.close();
}
/** Release the lock if `token` still holds it: with a script, or over SFTP alone. */
async function releaseLock(host, deployDir, token) {
    const sftp = async () => (0,_server_sftp_finish_js__WEBPACK_IMPORTED_MODULE_4__/* .releaseLockOverSftp */ .yR)(await host.files(), deployDir, token);
    if (!host.exec)
        return sftp();
    let lines;
    try {
        const result = await host.run((0,_server_remote_scripts_js__WEBPACK_IMPORTED_MODULE_3__/* .finishScript */ .NM)({ deployDir, events: [], prune: [], forget: [], lockToken: token }));
        lines = (0,_server_script_output_js__WEBPACK_IMPORTED_MODULE_8__/* .parseScriptOutput */ .uF)(result.stdout).lines;
    }
    catch (error) {
        if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .ExecRefusedError */ .EC)
            return sftp();
        throw error;
    }
    // No line of ours: no shell ran it (an SFTP-only account).
    if (lines.length === 0)
        return sftp();
    return lines.includes('unlocked');
}


/***/ }),

/***/ 2006:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Mw: () => (/* binding */ heldLocks),
/* harmony export */   UM: () => (/* binding */ markMainStarted),
/* harmony export */   dK: () => (/* binding */ saveHeldLocks),
/* harmony export */   tl: () => (/* binding */ isPost)
/* harmony export */ });
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7264);

/**
 * State shared between the main step and the post step. The post step runs even when the job
 * was cancelled, so it is where a lock the main step could not release gets released.
 */
const IS_POST = 'isPost';
const LOCKS = 'locks';
/** Outside Actions (local runs, the demo) there is no post step and nothing to save. */
function inActions() {
    return Boolean(process.env.GITHUB_STATE);
}
const isPost = () => _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .getState */ .Gu(IS_POST) === 'true';
function markMainStarted() {
    if (inActions())
        _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .saveState */ .LZ(IS_POST, 'true');
}
function saveHeldLocks(locks) {
    if (inActions())
        _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .saveState */ .LZ(LOCKS, JSON.stringify(locks));
}
function heldLocks() {
    const raw = _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .getState */ .Gu(LOCKS);
    if (!raw)
        return [];
    try {
        const parsed = JSON.parse(raw);
        return Array.isArray(parsed) ? parsed : [];
    }
    catch {
        return [];
    }
}


/***/ }),

/***/ 3095:
/***/ ((__webpack_module__, __webpack_exports__, __webpack_require__) => {

__webpack_require__.a(__webpack_module__, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
__webpack_require__.r(__webpack_exports__);
/* harmony import */ var _main_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3770);
/* harmony import */ var _post_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3392);
/* harmony import */ var _state_helper_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(2006);
/* harmony import */ var node_v8__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(8877);
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(7264);
/** Both steps: the main step deploys, the post step cleans up after a cancel (see src/index.ts). */





// A deploy allocates a stream of short-lived objects (file reads, archive blocks). By default
// V8 then grows its young generation to tens of megabytes, and the process keeps that memory:
// on a 50,000-file tree, keeping it at its starting size took the peak from about 390 MB to
// about 260 MB, and scanning that tree was no slower (measured with bench/'s large tree).
(0,node_v8__WEBPACK_IMPORTED_MODULE_3__.setFlagsFromString)('--semi-space-growth-factor=1');
if ((0,_state_helper_js__WEBPACK_IMPORTED_MODULE_2__/* .isPost */ .tl)()) {
    await (0,_post_js__WEBPACK_IMPORTED_MODULE_1__/* .post */ .b)();
}
else {
    await (0,_main_js__WEBPACK_IMPORTED_MODULE_0__/* .run */ .e)();
}
// The step is over once its outcome is written. Whatever is still open then (a timer, the
// socket of a server that stopped answering) must not hold the job until its own timeout: the
// process exits after a short grace, which only a handle left open ever waits for.
const GRACE_MS = 2000;
setTimeout(() => {
    _actions_core__WEBPACK_IMPORTED_MODULE_4__/* .debug */ .Yz(`still open ${GRACE_MS} ms after the step ended: ${process.getActiveResourcesInfo().join(', ')}; exiting`);
    process.exit();
}, GRACE_MS).unref();

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 2734:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Zb: () => (/* binding */ nextFreeTimestampId),
/* harmony export */   co: () => (/* binding */ releaseIdProblem)
/* harmony export */ });
/* unused harmony export timestampId */
/**
 * Release ids name directories under releases/ and appear in shell scripts, so they are held to
 * a single safe path segment. Their order never comes from sorting names: the release log in
 * .atomic-deploy/ records it, so custom ids work as well as timestamps.
 */
const RELEASE_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** Why `id` is not a valid release id, or undefined when it is. */
function releaseIdProblem(id) {
    if (id === '.' || id === '..')
        return `'${id}' is not a directory name`;
    if (!RELEASE_ID.test(id)) {
        return 'a release id is 1-128 letters, digits, dots, underscores and hyphens';
    }
    // Our own temporary names start with '.'; a release named like one would be removed as stale.
    if (id.startsWith('.'))
        return 'a release id cannot start with a dot';
    return undefined;
}
/** UTC time as YYYYMMDDHHMMSS. */
function timestampId(date) {
    const pad = (n, w = 2) => String(n).padStart(w, '0');
    return (pad(date.getUTCFullYear(), 4) +
        pad(date.getUTCMonth() + 1) +
        pad(date.getUTCDate()) +
        pad(date.getUTCHours()) +
        pad(date.getUTCMinutes()) +
        pad(date.getUTCSeconds()));
}
/** The first timestamp id at or after `now` that none of `taken` holds (bounded search). */
function nextFreeTimestampId(now, taken) {
    for (let i = 0; i < 100_000; i++) {
        const id = timestampId(new Date(now.getTime() + i * 1000));
        if (!taken.has(id))
            return id;
    }
    throw new Error('no free release id in the next 100,000 seconds');
}


/***/ }),

/***/ 4200:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  n8: () => (/* binding */ LOCK_EXIT),
  ED: () => (/* binding */ REFUSED_EXIT),
  eL: () => (/* binding */ abortScript),
  NM: () => (/* binding */ finishScript),
  Z4: () => (/* binding */ hookScript),
  Y1: () => (/* binding */ inspectScript),
  dg: () => (/* binding */ releaseScript),
  FH: () => (/* binding */ sharedListingScript),
  Ec: () => (/* binding */ switchScript),
  Ag: () => (/* binding */ unlockScript)
});

// UNUSED EXPORTS: directoryMode, listingScript, symbolicMode

// EXTERNAL MODULE: ./build/bundle/js/server/server-data.js
var server_data = __webpack_require__(2959);
// EXTERNAL MODULE: ./build/bundle/js/shell-quote.js
var shell_quote = __webpack_require__(1538);
;// CONCATENATED MODULE: ./build/bundle/js/server/script-values.js
/**
 * How values reach a server script without ever becoming script text.
 *
 * Each script in src/server/scripts/*.sh is constant text; scripts.generated.ts carries it into
 * the bundle with the parameters its `# @param` lines declare. To run one, the runner sends a
 * prelude of assignments followed by that text (through the bootstrap, on stdin):
 *
 *     NAME='value'
 *     LIST=''\''first word'\'' second'
 *     readonly NAME LIST
 *
 * Every value goes through `quote()` (POSIX single quotes, in which nothing is special but the
 * quote itself), so whatever it holds (quotes, `$()`, backticks, newlines, backslashes, leading
 * dashes, unicode) is data. A flag is `1` or empty. A list is one variable holding its words,
 * each quoted again; the script expands it with `eval "set -- $LIST"`, which gives back exactly
 * the words, since the text eval parses was built by `quote()` alone. Values are checked against
 * the declared kinds here, and `readonly` keeps a script from overwriting one by accident.
 */

/** The prelude that assigns `values` to the script's parameters, refusing anything undeclared. */
function prelude(script, values) {
    const params = script.params;
    const given = values;
    const lines = [];
    for (const name of Object.keys(given)) {
        if (!(name in params))
            throw new Error(`${script.name} has no parameter ${name}`);
    }
    for (const [name, kind] of Object.entries(params)) {
        const value = given[name];
        const wrong = (expected) => new Error(`${script.name}: parameter ${name} must be ${expected}`);
        if (kind === 'flag') {
            if (typeof value !== 'boolean')
                throw wrong('a boolean');
            lines.push(`${name}=${value ? '1' : "''"}`);
        }
        else if (kind === 'list') {
            if (!Array.isArray(value) || value.some(v => typeof v !== 'string'))
                throw wrong('a list of strings');
            lines.push(`${name}=${(0,shell_quote/* quote */.h)(value.map(v => (0,shell_quote/* quote */.h)(v)).join(' '))}`);
        }
        else if (kind === 'string') {
            if (typeof value !== 'string')
                throw wrong('a string');
            lines.push(`${name}=${(0,shell_quote/* quote */.h)(value)}`);
        }
        else {
            if (typeof value !== 'string' || !kind.includes(value))
                throw wrong(`one of ${kind.join(', ')}`);
            lines.push(`${name}=${(0,shell_quote/* quote */.h)(value)}`);
        }
    }
    const names = Object.keys(params);
    if (names.length > 0)
        lines.push(`readonly ${names.join(' ')}`);
    return lines.map(l => `${l}\n`).join('');
}
/**
 * What is sent to the server: the prelude, then the script's text, given apart (the same text
 * ends this script on every server: it is gzipped once, see framed).
 */
function script_values_withValues(script, values) {
    return { head: prelude(script, values), tail: script.text };
}

;// CONCATENATED MODULE: ./build/bundle/js/server/scripts.generated.js
const ABORT_SH = {
    name: 'abort.sh',
    params: {
        LOCK_TOKEN: 'string',
        GUARD_KEEP: 'list',
        DEPLOY_DIR: 'string',
        RELEASE_ID: 'string',
        UMASK: 'string',
        PREFETCHED: 'string',
        SHARED_PATHS: 'list'
    },
    text: 'set -u\nlogin_umask=\'\' my_uid=\'\'\nif [ -r "/proc/$$/status" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < "/proc/$$/status" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in \'\' | *[!0-9]*) my_uid=\'\' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl=\'\n\'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf \'!%s\\n\' "$*"; }\nguard_also_keep=\'\'\ncurrent_target() {\n  ct=$(readlink "$D/current" 2>/dev/null) || ct=\'\'\n  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac\n  while :; do\n    case $ct in\n      */) ct=${ct%/} ;;\n      *) break ;;\n    esac\n  done\n}\nparents_real() {\n  pr_p=$1 pr_rest=$2\n  while :; do\n    case $pr_rest in\n      */*) ;;\n      *) return 0 ;;\n    esac\n    pr_p="$pr_p/${pr_rest%%/*}"\n    pr_rest=${pr_rest#*/}\n    if [ -L "$pr_p" ]; then\n      why="${pr_p#"$D"/} is a symlink"\n      return 1\n    fi\n  done\n}\nremovable() {\n  why=\'\'\n  case /$1/ in\n    // | *//* | */./* | */../*) why="\'$1\' is not a plain relative path" ;;\n  esac\n  [ -z "$why" ] || return 1\n  case $1 in\n    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)\n      why="$1 is part of the deploy layout"\n      return 1\n      ;;\n  esac\n  if [ -n "$ct" ]; then\n    case $1 in\n      "$ct" | "$ct"/*)\n        why="$1 is what current points to"\n        return 1\n        ;;\n    esac\n    case $ct in\n      "$1"/*)\n        why="$1 holds what current points to"\n        return 1\n        ;;\n    esac\n  fi\n  eval "set -- \\"\\$1\\" $GUARD_KEEP $guard_also_keep"\n  rm_rel=$1\n  shift\n  for rm_keep; do\n    case $rm_rel in\n      "releases/$rm_keep" | "releases/$rm_keep"/*)\n        why="$rm_rel is release $rm_keep, which is kept"\n        return 1\n        ;;\n    esac\n  done\n  parents_real "$D" "$rm_rel"\n}\nguarded_rm() {\n  gr_n=$#\n  for gr_rel; do\n    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi\n  done\n  if [ $# -gt "$gr_n" ]; then current_target; else ct=\'\'; fi\n  gr_i=0\n  for gr_rel; do\n    [ $gr_i -lt "$gr_n" ] || break\n    gr_i=$((gr_i + 1))\n    if ! removable "$gr_rel"; then\n      say "refused-remove $why"\n      return 1\n    fi\n  done\n  shift "$gr_n"\n  [ $# -eq 0 ] || rm -rf -- "$@"\n}\nlog_event() { printf \'%s\\t%s\\t%s\\n\' "$1" "$2" "${log_stamp:-$(date -u "$stamp_format")}" >> "$M/log"; }\ndrop_base() {\n  if [ $# -gt 0 ]; then\n    case $1 in base.[A-Za-z0-9]*) ;; *) return 0 ;; esac\n    case $1 in *[!A-Za-z0-9.]*) return 0 ;; esac\n    set -- "$M/$1"\n  else\n    set -- "$M"/base.*\n    [ -e "$1" ] || [ -L "$1" ] || return 0\n  fi\n  for db_b; do\n    case $db_b in\n      *.rc.tmp) db_b=${db_b%.rc.tmp} ;;\n      *.pid | *.from | *.rc) db_b=${db_b%.*} ;;\n    esac\n    [ "${db_b##*/}" != "${db_keep:-}" ] || continue\n    [ -e "$db_b" ] || [ -L "$db_b" ] || [ -e "$db_b.from" ] || [ -e "$db_b.pid" ] ||\n      [ -e "$db_b.rc" ] || [ -e "$db_b.rc.tmp" ] || continue\n    db_rel=".atomic-deploy/${db_b##*/}"\n    if [ -f "$db_b.rc" ] && [ ! -L "$db_b.rc" ]; then\n      guarded_rm "$db_rel.from" "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n      continue\n    fi\n    guarded_rm "$db_rel.from" >/dev/null\n    p=\'\' comm=\'\'\n    if [ -f "$db_b.pid" ] && [ ! -L "$db_b.pid" ]; then\n      IFS= read -r p 2>/dev/null < "$db_b.pid"\n      case $p in \'\' | *[!0-9]*) ;; *)\n        IFS= read -r comm 2>/dev/null < "/proc/$p/comm"\n        [ "$comm" != cp ] || kill "$p" 2>/dev/null\n        ;;\n      esac\n    fi\n    guarded_rm "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n  done\n  :\n}\ndrop_bases_but() {\n  db_keep=$1\n  drop_base\n  db_keep=\'\'\n}\nlive_copy() {\n  live=\'\' live_kind=\'\'\n  lc=${1:-}\n  if [ -z "$lc" ]; then\n    lc=$(readlink "$D/current" 2>/dev/null) || return 0\n  fi\n  lc=${lc%/}\n  lc=${lc##*/}\n  [ -n "$lc" ] || return 0\n  for f in "$M"/base.*.from; do\n    b=${f%.from} rc=\'\'\n    copy_of "$f" "$lc" "${2:-}" || continue\n    [ ! -L "$b.rc" ] || continue\n    IFS= read -r rc 2>/dev/null < "$b.rc"\n    if [ "$rc" = 0 ] && [ -d "$b" ] && [ ! -L "$b" ]; then\n      live=${b##*/} live_kind=$ck\n      return 0\n    fi\n  done\n}\ncopy_of() {\n  ck=\'\' co_from=\'\'\n  [ -f "$1" ] && [ ! -L "$1" ] || return 1\n  IFS= read -r co_from 2>/dev/null < "$1"\n  case $co_from in\n    "$2 copy") ck=copy ;;\n    "$2 hardlink") ck=hardlink ;;\n    "$2") ck=unknown ;;\n    *) return 1 ;;\n  esac\n  case ${3:-} in\n    copy) [ "$ck" = copy ] ;;\n    hardlink | \'\') return 0 ;;\n    *) return 1 ;;\n  esac\n}\nlock_is_ours() {\n  [ -n "$1" ] && [ -f "$M/lock/owner" ] && [ ! -L "$M/lock/owner" ] || return 1\n  while IFS= read -r lo_line || [ -n "$lo_line" ]; do\n    case $lo_line in *"$1"*) return 0 ;; esac\n  done < "$M/lock/owner" 2>/dev/null\n  return 1\n}\nunlock_if_ours() {\n  if lock_is_ours "$1"; then\n    if [ -n "${spare:-}" ]; then live=$spare; else live_copy; fi\n    drop_bases_but "$live"\n    guarded_rm .atomic-deploy/lock && say unlocked\n  fi\n}\nD=$DEPLOY_DIR\nM="$D/.atomic-deploy"\nID=$RELEASE_ID\nR="$D/releases/$ID"\nT="$M/tmp/$ID"\nlisted_shared() {\n  eval "set -- \\"\\$1\\" $SHARED_PATHS"\n  ls_rel=$1\n  shift\n  for ls_entry; do [ "$ls_rel" != "${ls_entry%/}" ] || return 0; done\n  return 1\n}\ncleanup_release() {\n  trap \'\' HUP INT TERM PIPE\n  wait\n  cd "$D" 2>/dev/null || cd /\n  was=\'\'\n  current_target\n  if [ -d "$R" ] && removable "${R#"$D"/}" && mv "$R" "$D/releases/.aborting.$ID.$$" 2>/dev/null; then\n    was=1\n    guarded_rm "releases/.aborting.$ID.$$"\n  fi\n  guarded_rm "${R#"$D"/}" "${T#"$D"/}" ".atomic-deploy/revisions/$ID.json" \\\n    ".atomic-deploy/manifests/$ID.json.gz" ".atomic-deploy/manifests/$ID.links" \\\n    ".atomic-deploy/manifests/$ID.listing" ".atomic-deploy/manifests/$ID.hook" \\\n    ".atomic-deploy/manifests/$ID.ready" ".atomic-deploy/manifests/$ID.m2" \\\n    ".atomic-deploy/manifests/$ID.digest" ".atomic-deploy/manifests/$ID.view.gz" \\\n    ".atomic-deploy/manifests/$ID.view" ||\n    say "warning release $ID was not removed: $why"\n  if [ -n "$PREFETCHED" ]; then\n    live_copy\n    [ "$PREFETCHED" = "$live" ] || drop_base "$PREFETCHED"\n  fi\n  if [ -f "$M/seeded.$ID" ] && [ ! -L "$M/seeded.$ID" ]; then\n    while IFS= read -r line; do\n      case $line in\n        \'seeded \'* | \'created \'*) cr_rel=${line#* } ;;\n        *) continue ;;\n      esac\n      if ! listed_shared "$cr_rel"; then\n        say "warning the seed record of $ID names shared/$cr_rel, which is not in shared-paths; it was left alone"\n        continue\n      fi\n      case $line in\n        \'seeded \'*) guarded_rm "shared/$cr_rel" || say "warning shared/$cr_rel was not removed: $why" ;;\n        *)\n          current_target\n          if removable "shared/$cr_rel"; then rmdir "$D/shared/$cr_rel" 2>/dev/null; fi\n          ;;\n      esac\n    done < "$M/seeded.$ID"\n    guarded_rm ".atomic-deploy/seeded.$ID"\n  fi\n  [ -z "$was" ] || log_event abort "$ID" 2>/dev/null\n}\ncleanup_release\nunlock_if_ours "$LOCK_TOKEN"\nsay aborted\n'
};
const FINISH_SH = {
    name: 'finish.sh',
    params: {
        DEPLOY_DIR: 'string',
        LOCK_TOKEN: 'string',
        GUARD_KEEP: 'list',
        EVENTS: 'list',
        PRUNE: 'list',
        FORGET: 'list',
        SEEDED: 'list',
        FINISH_KEEP: 'list',
        SPARE_RELEASE: 'string',
        SPARE_NEED_KB: 'string',
        SPARE_METHOD: 'string'
    },
    text: 'set -u\nlogin_umask=\'\' my_uid=\'\'\nif [ -r "/proc/$$/status" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < "/proc/$$/status" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in \'\' | *[!0-9]*) my_uid=\'\' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl=\'\n\'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf \'!%s\\n\' "$*"; }\nwait_job() {\n  unset wj_none\n  wait "$1"\n}\nguard_also_keep=\'\'\ncurrent_target() {\n  ct=$(readlink "$D/current" 2>/dev/null) || ct=\'\'\n  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac\n  while :; do\n    case $ct in\n      */) ct=${ct%/} ;;\n      *) break ;;\n    esac\n  done\n}\nparents_real() {\n  pr_p=$1 pr_rest=$2\n  while :; do\n    case $pr_rest in\n      */*) ;;\n      *) return 0 ;;\n    esac\n    pr_p="$pr_p/${pr_rest%%/*}"\n    pr_rest=${pr_rest#*/}\n    if [ -L "$pr_p" ]; then\n      why="${pr_p#"$D"/} is a symlink"\n      return 1\n    fi\n  done\n}\nremovable() {\n  why=\'\'\n  case /$1/ in\n    // | *//* | */./* | */../*) why="\'$1\' is not a plain relative path" ;;\n  esac\n  [ -z "$why" ] || return 1\n  case $1 in\n    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)\n      why="$1 is part of the deploy layout"\n      return 1\n      ;;\n  esac\n  if [ -n "$ct" ]; then\n    case $1 in\n      "$ct" | "$ct"/*)\n        why="$1 is what current points to"\n        return 1\n        ;;\n    esac\n    case $ct in\n      "$1"/*)\n        why="$1 holds what current points to"\n        return 1\n        ;;\n    esac\n  fi\n  eval "set -- \\"\\$1\\" $GUARD_KEEP $guard_also_keep"\n  rm_rel=$1\n  shift\n  for rm_keep; do\n    case $rm_rel in\n      "releases/$rm_keep" | "releases/$rm_keep"/*)\n        why="$rm_rel is release $rm_keep, which is kept"\n        return 1\n        ;;\n    esac\n  done\n  parents_real "$D" "$rm_rel"\n}\nguarded_rm() {\n  gr_n=$#\n  for gr_rel; do\n    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi\n  done\n  if [ $# -gt "$gr_n" ]; then current_target; else ct=\'\'; fi\n  gr_i=0\n  for gr_rel; do\n    [ $gr_i -lt "$gr_n" ] || break\n    gr_i=$((gr_i + 1))\n    if ! removable "$gr_rel"; then\n      say "refused-remove $why"\n      return 1\n    fi\n  done\n  shift "$gr_n"\n  [ $# -eq 0 ] || rm -rf -- "$@"\n}\nlog_event() { printf \'%s\\t%s\\t%s\\n\' "$1" "$2" "${log_stamp:-$(date -u "$stamp_format")}" >> "$M/log"; }\ndrop_base() {\n  if [ $# -gt 0 ]; then\n    case $1 in base.[A-Za-z0-9]*) ;; *) return 0 ;; esac\n    case $1 in *[!A-Za-z0-9.]*) return 0 ;; esac\n    set -- "$M/$1"\n  else\n    set -- "$M"/base.*\n    [ -e "$1" ] || [ -L "$1" ] || return 0\n  fi\n  for db_b; do\n    case $db_b in\n      *.rc.tmp) db_b=${db_b%.rc.tmp} ;;\n      *.pid | *.from | *.rc) db_b=${db_b%.*} ;;\n    esac\n    [ "${db_b##*/}" != "${db_keep:-}" ] || continue\n    [ -e "$db_b" ] || [ -L "$db_b" ] || [ -e "$db_b.from" ] || [ -e "$db_b.pid" ] ||\n      [ -e "$db_b.rc" ] || [ -e "$db_b.rc.tmp" ] || continue\n    db_rel=".atomic-deploy/${db_b##*/}"\n    if [ -f "$db_b.rc" ] && [ ! -L "$db_b.rc" ]; then\n      guarded_rm "$db_rel.from" "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n      continue\n    fi\n    guarded_rm "$db_rel.from" >/dev/null\n    p=\'\' comm=\'\'\n    if [ -f "$db_b.pid" ] && [ ! -L "$db_b.pid" ]; then\n      IFS= read -r p 2>/dev/null < "$db_b.pid"\n      case $p in \'\' | *[!0-9]*) ;; *)\n        IFS= read -r comm 2>/dev/null < "/proc/$p/comm"\n        [ "$comm" != cp ] || kill "$p" 2>/dev/null\n        ;;\n      esac\n    fi\n    guarded_rm "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n  done\n  :\n}\ndrop_bases_but() {\n  db_keep=$1\n  drop_base\n  db_keep=\'\'\n}\nstart_copy() {\n  B="$M/base.$$"\n  sc_from="$1 copy" sc_nice=\'\'\n  [ "$2" != hardlink ] || sc_from="$1 hardlink"\n  if [ "${3:-}" = low ] && command -v nice > /dev/null 2>&1; then sc_nice=\'nice -n 10\'; fi\n  { (umask 077 && mkdir "$B") 2>/dev/null && printf \'%s\\n\' "$sc_from" > "$B.from"; } || return 1\n  (\n    trap \'\' HUP\n    if [ "$2" = hardlink ]; then\n      $sc_nice cp -al "$D/releases/$1/." "$B/" &\n    elif cp --version >/dev/null 2>&1; then\n      $sc_nice cp -a --reflink=auto "$D/releases/$1/." "$B/" &\n    else\n      $sc_nice cp -a "$D/releases/$1/." "$B/" &\n    fi\n    echo $! > "$B.pid"\n    wait_job $!\n    rc=$?\n    [ $rc -ne 0 ] || chmod 700 "$B" || rc=1\n    [ -f "$B.from" ] && echo $rc > "$B.rc.tmp" && mv "$B.rc.tmp" "$B.rc" &&\n      { [ -f "$B.from" ] || guarded_rm ".atomic-deploy/${B##*/}.rc"; }\n  ) < /dev/null > /dev/null 2>&1 &\n}\nlive_copy() {\n  live=\'\' live_kind=\'\'\n  lc=${1:-}\n  if [ -z "$lc" ]; then\n    lc=$(readlink "$D/current" 2>/dev/null) || return 0\n  fi\n  lc=${lc%/}\n  lc=${lc##*/}\n  [ -n "$lc" ] || return 0\n  for f in "$M"/base.*.from; do\n    b=${f%.from} rc=\'\'\n    copy_of "$f" "$lc" "${2:-}" || continue\n    [ ! -L "$b.rc" ] || continue\n    IFS= read -r rc 2>/dev/null < "$b.rc"\n    if [ "$rc" = 0 ] && [ -d "$b" ] && [ ! -L "$b" ]; then\n      live=${b##*/} live_kind=$ck\n      return 0\n    fi\n  done\n}\ncopy_of() {\n  ck=\'\' co_from=\'\'\n  [ -f "$1" ] && [ ! -L "$1" ] || return 1\n  IFS= read -r co_from 2>/dev/null < "$1"\n  case $co_from in\n    "$2 copy") ck=copy ;;\n    "$2 hardlink") ck=hardlink ;;\n    "$2") ck=unknown ;;\n    *) return 1 ;;\n  esac\n  case ${3:-} in\n    copy) [ "$ck" = copy ] ;;\n    hardlink | \'\') return 0 ;;\n    *) return 1 ;;\n  esac\n}\nlock_is_ours() {\n  [ -n "$1" ] && [ -f "$M/lock/owner" ] && [ ! -L "$M/lock/owner" ] || return 1\n  while IFS= read -r lo_line || [ -n "$lo_line" ]; do\n    case $lo_line in *"$1"*) return 0 ;; esac\n  done < "$M/lock/owner" 2>/dev/null\n  return 1\n}\nunlock_if_ours() {\n  if lock_is_ours "$1"; then\n    if [ -n "${spare:-}" ]; then live=$spare; else live_copy; fi\n    drop_bases_but "$live"\n    guarded_rm .atomic-deploy/lock && say unlocked\n  fi\n}\nfinish_run() {\n  guard_also_keep=$FINISH_KEEP\n  eval "set -- $EVENTS"\n  [ $# -lt 2 ] || [ -n "${log_stamp:-}" ] || log_stamp=$(date -u "$stamp_format")\n  while [ $# -ge 2 ]; do\n    log_event "$1" "$2"\n    shift 2\n  done\n  log_stamp=\'\'\n  spare=\'\' pruning=\'\'\n  if lock_is_ours "$LOCK_TOKEN"; then\n    eval "set -- $PRUNE"\n    for id; do\n      if prune_aside "$id" && guarded_rm ".atomic-deploy/revisions/$id.json" \\\n        ".atomic-deploy/manifests/$id.json.gz" ".atomic-deploy/manifests/$id.links" \\\n        ".atomic-deploy/manifests/$id.listing" ".atomic-deploy/manifests/$id.hook" \\\n        ".atomic-deploy/manifests/$id.ready" ".atomic-deploy/manifests/$id.m2" \\\n        ".atomic-deploy/manifests/$id.digest" ".atomic-deploy/manifests/$id.view.gz" \\\n        ".atomic-deploy/manifests/$id.view"; then\n        say "pruned $id"\n      else\n        say "kept $id: $why"\n      fi\n    done\n    eval "set -- $FORGET"\n    if [ $# -gt 0 ]; then\n      awk -F \'\\t\' \'BEGIN { for (i = 2; i < ARGC; i++) { f[ARGV[i]] = 1; delete ARGV[i] } } !($2 in f)\' "$M/log" "$@" > "$M/log.new.$$" &&\n        mv "$M/log.new.$$" "$M/log"\n      guarded_rm ".atomic-deploy/log.new.$$"\n    fi\n    eval "set -- $SEEDED"\n    for id; do guarded_rm ".atomic-deploy/seeded.$id"; done\n    current_target\n    if [ -n "$SPARE_RELEASE" ] && [ "$ct" = "releases/$SPARE_RELEASE" ]; then\n      avail=$(df -Pk "$M" 2>/dev/null) && set -f && set -- $avail && set +f && avail=${11:-}\n      case $avail in \'\' | *[!0-9]*) avail=0 ;; esac\n      if [ "$avail" -gt "$SPARE_NEED_KB" ]; then\n        drop_base\n        start_copy "$SPARE_RELEASE" "$SPARE_METHOD" low && spare=${B##*/} && say "spare $spare"\n      else\n        say "no-spare $avail"\n      fi\n    fi\n  elif [ -n "$PRUNE$FORGET$SEEDED" ]; then\n    say "warning the lock on $D is no longer this run\'s: nothing was pruned"\n  fi\n  unlock_if_ours "$LOCK_TOKEN"\n  if [ -n "$pruning" ]; then\n    (\n      trap \'\' HUP\n      rm -rf -- "$D"/releases/.pruning.*."$$"\n    ) < /dev/null > /dev/null 2>&1 &\n  fi\n  say finished\n}\nprune_aside() {\n  pa_rel="releases/$1"\n  current_target\n  if ! removable "$pa_rel"; then\n    say "refused-remove $why"\n    return 1\n  fi\n  [ -e "$D/$pa_rel" ] || [ -L "$D/$pa_rel" ] || return 0\n  if mv "$D/$pa_rel" "$D/releases/.pruning.$1.$$" 2>/dev/null; then\n    pruning=1\n  else\n    guarded_rm "$pa_rel"\n  fi\n}\nD=$DEPLOY_DIR\nM="$D/.atomic-deploy"\nfinish_run\n'
};
const HOOK_SH = {
    name: 'hook.sh',
    params: {
        DEPLOY_DIR: 'string',
        RELEASE_ID: 'string',
        HOOK_NAME: 'string',
        HOOK_SCRIPT: 'string',
        HOOK_ENV: 'list',
        UMASK: 'string',
        GUARD_KEEP: 'list'
    },
    text: 'set -u\nlogin_umask=\'\' my_uid=\'\'\nif [ -r "/proc/$$/status" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < "/proc/$$/status" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in \'\' | *[!0-9]*) my_uid=\'\' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl=\'\n\'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf \'!%s\\n\' "$*"; }\nguard_also_keep=\'\'\ncurrent_target() {\n  ct=$(readlink "$D/current" 2>/dev/null) || ct=\'\'\n  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac\n  while :; do\n    case $ct in\n      */) ct=${ct%/} ;;\n      *) break ;;\n    esac\n  done\n}\nparents_real() {\n  pr_p=$1 pr_rest=$2\n  while :; do\n    case $pr_rest in\n      */*) ;;\n      *) return 0 ;;\n    esac\n    pr_p="$pr_p/${pr_rest%%/*}"\n    pr_rest=${pr_rest#*/}\n    if [ -L "$pr_p" ]; then\n      why="${pr_p#"$D"/} is a symlink"\n      return 1\n    fi\n  done\n}\nremovable() {\n  why=\'\'\n  case /$1/ in\n    // | *//* | */./* | */../*) why="\'$1\' is not a plain relative path" ;;\n  esac\n  [ -z "$why" ] || return 1\n  case $1 in\n    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)\n      why="$1 is part of the deploy layout"\n      return 1\n      ;;\n  esac\n  if [ -n "$ct" ]; then\n    case $1 in\n      "$ct" | "$ct"/*)\n        why="$1 is what current points to"\n        return 1\n        ;;\n    esac\n    case $ct in\n      "$1"/*)\n        why="$1 holds what current points to"\n        return 1\n        ;;\n    esac\n  fi\n  eval "set -- \\"\\$1\\" $GUARD_KEEP $guard_also_keep"\n  rm_rel=$1\n  shift\n  for rm_keep; do\n    case $rm_rel in\n      "releases/$rm_keep" | "releases/$rm_keep"/*)\n        why="$rm_rel is release $rm_keep, which is kept"\n        return 1\n        ;;\n    esac\n  done\n  parents_real "$D" "$rm_rel"\n}\nguarded_rm() {\n  gr_n=$#\n  for gr_rel; do\n    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi\n  done\n  if [ $# -gt "$gr_n" ]; then current_target; else ct=\'\'; fi\n  gr_i=0\n  for gr_rel; do\n    [ $gr_i -lt "$gr_n" ] || break\n    gr_i=$((gr_i + 1))\n    if ! removable "$gr_rel"; then\n      say "refused-remove $why"\n      return 1\n    fi\n  done\n  shift "$gr_n"\n  [ $# -eq 0 ] || rm -rf -- "$@"\n}\nreal_dir() {\n  why=\'\'\n  rd_name=${1#"$D"/}\n  [ "$rd_name" != "$1" ] || rd_name=$1\n  if [ -L "$1" ]; then\n    why="$rd_name is a symlink (to $(readlink "$1")); atomic-deploy writes only into real directories. Replace it with the directory itself"\n    return 1\n  fi\n  [ -e "$1" ] || return 0\n  if [ ! -d "$1" ]; then\n    why="$rd_name exists and is not a directory"\n    return 1\n  fi\n  rd_stat=$(stat -c \'%u %a %U\' "$1") || {\n    why="cannot read the owner of $rd_name"\n    return 1\n  }\n  rd_uid=${rd_stat%% *}\n  rd_mode=${rd_stat#* }\n  rd_mode=${rd_mode%% *}\n  [ -n "${my_uid:-}" ] || my_uid=$(id -u)\n  if [ "$rd_uid" != "$my_uid" ]; then\n    why="$rd_name is owned by ${rd_stat##* }, not by $(id -un); atomic-deploy writes only into directories of the deploy user. Give it to that user (chown)"\n    return 1\n  fi\n  case $rd_mode in\n    *[2367])\n      why="$rd_name is writable by every user (mode $rd_mode), so anybody could swap what is in it. Remove that (chmod o-w)"\n      return 1\n      ;;\n  esac\n  return 0\n}\nrun_hook() {\n  rc=1\n  mkdir -p "$M/tmp" 2>/dev/null\n  real_dir "$M/tmp" || return 1\n  hn=0\n  while :; do\n    hd="$M/tmp/hook.$$.$hn"\n    mkdir "$hd" 2>/dev/null && break\n    hn=$((hn + 1))\n    if [ $hn -ge 10 ]; then\n      why="cannot create a directory for the hook in $M/tmp"\n      return 1\n    fi\n  done\n  H="$hd/$1.sh"\n  printf \'%s\\n\' "$3" > "$H" || {\n    why="cannot write $H"\n    return 1\n  }\n  say "hook-start $1"\n  (\n    cd "$2" || exit 1\n    umask "$5" || exit 1\n    eval "set -- $4"\n    exec env ${1+"$@"} sh -e "$H"\n  ) </dev/null >&2\n  rc=$?\n  guarded_rm ".atomic-deploy/tmp/${hd##*/}" >/dev/null\n  say "hook-exit $1 $rc"\n}\nD=$DEPLOY_DIR\nM="$D/.atomic-deploy"\nR="$D/releases/$RELEASE_ID"\nrun_hook "$HOOK_NAME" "$R" "$HOOK_SCRIPT" "$HOOK_ENV" "$UMASK" || {\n  say "error hook cannot run $HOOK_NAME: $why"\n  exit 1\n}\nexit $rc\n'
};
const INSPECT_SH = {
    name: 'inspect.sh',
    params: {
        PATH_INPUT: 'string',
        LOCK: 'flag',
        LOCK_OWNER: 'string',
        REUSE: ['previous', 'cache', 'none'],
        SYSTEM_EXACT: 'list',
        SYSTEM_TREES: 'list',
        LOG_LIMIT: 'string',
        MANIFEST_LIMIT: 'string',
        LINKS_LIMIT: 'string',
        PREFETCH: ['none', 'copy', 'hardlink'],
        REQUIRE_TOOLS: 'list',
        REQUIRE_TAR: 'flag',
        REQUIRE_TAR_OR_SFTP: 'flag',
        DRIFT: 'flag',
        WANT_DIGEST: 'flag',
        GUARD_KEEP: 'list'
    },
    text: 'set -u\nlogin_umask=\'\' my_uid=\'\'\nif [ -r "/proc/$$/status" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < "/proc/$$/status" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in \'\' | *[!0-9]*) my_uid=\'\' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl=\'\n\'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf \'!%s\\n\' "$*"; }\nwait_job() {\n  unset wj_none\n  wait "$1"\n}\nguard_also_keep=\'\'\ncurrent_target() {\n  ct=$(readlink "$D/current" 2>/dev/null) || ct=\'\'\n  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac\n  while :; do\n    case $ct in\n      */) ct=${ct%/} ;;\n      *) break ;;\n    esac\n  done\n}\nparents_real() {\n  pr_p=$1 pr_rest=$2\n  while :; do\n    case $pr_rest in\n      */*) ;;\n      *) return 0 ;;\n    esac\n    pr_p="$pr_p/${pr_rest%%/*}"\n    pr_rest=${pr_rest#*/}\n    if [ -L "$pr_p" ]; then\n      why="${pr_p#"$D"/} is a symlink"\n      return 1\n    fi\n  done\n}\nremovable() {\n  why=\'\'\n  case /$1/ in\n    // | *//* | */./* | */../*) why="\'$1\' is not a plain relative path" ;;\n  esac\n  [ -z "$why" ] || return 1\n  case $1 in\n    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)\n      why="$1 is part of the deploy layout"\n      return 1\n      ;;\n  esac\n  if [ -n "$ct" ]; then\n    case $1 in\n      "$ct" | "$ct"/*)\n        why="$1 is what current points to"\n        return 1\n        ;;\n    esac\n    case $ct in\n      "$1"/*)\n        why="$1 holds what current points to"\n        return 1\n        ;;\n    esac\n  fi\n  eval "set -- \\"\\$1\\" $GUARD_KEEP $guard_also_keep"\n  rm_rel=$1\n  shift\n  for rm_keep; do\n    case $rm_rel in\n      "releases/$rm_keep" | "releases/$rm_keep"/*)\n        why="$rm_rel is release $rm_keep, which is kept"\n        return 1\n        ;;\n    esac\n  done\n  parents_real "$D" "$rm_rel"\n}\nguarded_rm() {\n  gr_n=$#\n  for gr_rel; do\n    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi\n  done\n  if [ $# -gt "$gr_n" ]; then current_target; else ct=\'\'; fi\n  gr_i=0\n  for gr_rel; do\n    [ $gr_i -lt "$gr_n" ] || break\n    gr_i=$((gr_i + 1))\n    if ! removable "$gr_rel"; then\n      say "refused-remove $why"\n      return 1\n    fi\n  done\n  shift "$gr_n"\n  [ $# -eq 0 ] || rm -rf -- "$@"\n}\nreal_dir() {\n  why=\'\'\n  rd_name=${1#"$D"/}\n  [ "$rd_name" != "$1" ] || rd_name=$1\n  if [ -L "$1" ]; then\n    why="$rd_name is a symlink (to $(readlink "$1")); atomic-deploy writes only into real directories. Replace it with the directory itself"\n    return 1\n  fi\n  [ -e "$1" ] || return 0\n  if [ ! -d "$1" ]; then\n    why="$rd_name exists and is not a directory"\n    return 1\n  fi\n  rd_stat=$(stat -c \'%u %a %U\' "$1") || {\n    why="cannot read the owner of $rd_name"\n    return 1\n  }\n  rd_uid=${rd_stat%% *}\n  rd_mode=${rd_stat#* }\n  rd_mode=${rd_mode%% *}\n  [ -n "${my_uid:-}" ] || my_uid=$(id -u)\n  if [ "$rd_uid" != "$my_uid" ]; then\n    why="$rd_name is owned by ${rd_stat##* }, not by $(id -un); atomic-deploy writes only into directories of the deploy user. Give it to that user (chown)"\n    return 1\n  fi\n  case $rd_mode in\n    *[2367])\n      why="$rd_name is writable by every user (mode $rd_mode), so anybody could swap what is in it. Remove that (chmod o-w)"\n      return 1\n      ;;\n  esac\n  return 0\n}\nopen_to_all() {\n  case $1 in\n    *[2367])\n      why="$D is writable by every user, so anybody could swap its entries; remove that (chmod o-w)"\n      return 0\n      ;;\n  esac\n  return 1\n}\nlayout_dirs() {\n  ld_n=$# meta_mode=\'\'\n  for ld_rel; do\n    ld_p="$D/$ld_rel"\n    if [ -L "$ld_p" ] || { [ -e "$ld_p" ] && [ ! -d "$ld_p" ]; }; then\n      ! open_to_all "$(stat -c \'%a\' "$D" 2>/dev/null)" || return 1\n      real_dir "$ld_p"\n      return 1\n    fi\n    [ ! -d "$ld_p" ] || set -- "$@" "$ld_p"\n  done\n  shift "$ld_n"\n  [ -d "$D" ] || return 0\n  [ -n "${my_uid:-}" ] || my_uid=$(id -u)\n  ld_out=$(stat -c \'%u %a %n\' -- "$D" "$@") || ld_out=\'\'\n  ld_rest=$ld_out$nl ld_bad=\'\' ld_lines=0\n  while [ -n "$ld_rest" ] && [ $ld_lines -le $# ]; do\n    ld_line=${ld_rest%%"$nl"*}\n    ld_rest=${ld_rest#*"$nl"}\n    ld_lines=$((ld_lines + 1))\n    ld_uid=${ld_line%% *} ld_path=${ld_line#* }\n    ld_mode=${ld_path%% *} ld_path=${ld_path#* }\n    case $ld_uid$ld_mode in \'\' | *[!0-9]*)\n      ld_bad=1\n      break\n      ;;\n    esac\n    if [ $ld_lines -eq 1 ]; then\n      [ "$ld_path" = "$D" ] || { ld_bad=1; break; }\n      ! open_to_all "$ld_mode" || return 1\n      continue\n    fi\n    [ "$ld_path" != "$D/.atomic-deploy" ] || meta_mode=$ld_mode\n    if [ "$ld_uid" != "$my_uid" ] || [ $((ld_mode % 10 & 2)) -ne 0 ]; then\n      ld_bad=1\n      break\n    fi\n  done\n  [ -n "$ld_bad" ] || [ $ld_lines -ne $(($# + 1)) ] || return 0\n  meta_mode=\'\'\n  ! open_to_all "$(stat -c \'%a\' "$D" 2>/dev/null)" || return 1\n  for ld_p; do real_dir "$ld_p" || return 1; done\n}\nblob() {\n  [ -f "$2" ] && [ ! -L "$2" ] || return 0\n  if [ ! -s "$2" ]; then\n    printf \'!blob %s 0\\n\' "$1"\n    return 0\n  fi\n  n=$(wc -c < "$2") || return 0\n  n=$((n + 0))\n  if [ "$n" -gt "$3" ]; then\n    say "toolarge $1 $n"\n    return 0\n  fi\n  printf \'!blob %s %s\\n\' "$1" "$n"\n  head -c "$n" "$2"\n}\nblob_text() {\n  case $2 in\n    *[!\\ -~]*) n=$(printf \'%s\' "$2" | wc -c) ;;\n    *) n=${#2} ;;\n  esac\n  printf \'!blob %s %s\\n%s\' "$1" "$((n + 0))" "$2"\n}\ndrop_base() {\n  if [ $# -gt 0 ]; then\n    case $1 in base.[A-Za-z0-9]*) ;; *) return 0 ;; esac\n    case $1 in *[!A-Za-z0-9.]*) return 0 ;; esac\n    set -- "$M/$1"\n  else\n    set -- "$M"/base.*\n    [ -e "$1" ] || [ -L "$1" ] || return 0\n  fi\n  for db_b; do\n    case $db_b in\n      *.rc.tmp) db_b=${db_b%.rc.tmp} ;;\n      *.pid | *.from | *.rc) db_b=${db_b%.*} ;;\n    esac\n    [ "${db_b##*/}" != "${db_keep:-}" ] || continue\n    [ -e "$db_b" ] || [ -L "$db_b" ] || [ -e "$db_b.from" ] || [ -e "$db_b.pid" ] ||\n      [ -e "$db_b.rc" ] || [ -e "$db_b.rc.tmp" ] || continue\n    db_rel=".atomic-deploy/${db_b##*/}"\n    if [ -f "$db_b.rc" ] && [ ! -L "$db_b.rc" ]; then\n      guarded_rm "$db_rel.from" "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n      continue\n    fi\n    guarded_rm "$db_rel.from" >/dev/null\n    p=\'\' comm=\'\'\n    if [ -f "$db_b.pid" ] && [ ! -L "$db_b.pid" ]; then\n      IFS= read -r p 2>/dev/null < "$db_b.pid"\n      case $p in \'\' | *[!0-9]*) ;; *)\n        IFS= read -r comm 2>/dev/null < "/proc/$p/comm"\n        [ "$comm" != cp ] || kill "$p" 2>/dev/null\n        ;;\n      esac\n    fi\n    guarded_rm "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n  done\n  :\n}\ndrop_bases_but() {\n  db_keep=$1\n  drop_base\n  db_keep=\'\'\n}\nstart_copy() {\n  B="$M/base.$$"\n  sc_from="$1 copy" sc_nice=\'\'\n  [ "$2" != hardlink ] || sc_from="$1 hardlink"\n  if [ "${3:-}" = low ] && command -v nice > /dev/null 2>&1; then sc_nice=\'nice -n 10\'; fi\n  { (umask 077 && mkdir "$B") 2>/dev/null && printf \'%s\\n\' "$sc_from" > "$B.from"; } || return 1\n  (\n    trap \'\' HUP\n    if [ "$2" = hardlink ]; then\n      $sc_nice cp -al "$D/releases/$1/." "$B/" &\n    elif cp --version >/dev/null 2>&1; then\n      $sc_nice cp -a --reflink=auto "$D/releases/$1/." "$B/" &\n    else\n      $sc_nice cp -a "$D/releases/$1/." "$B/" &\n    fi\n    echo $! > "$B.pid"\n    wait_job $!\n    rc=$?\n    [ $rc -ne 0 ] || chmod 700 "$B" || rc=1\n    [ -f "$B.from" ] && echo $rc > "$B.rc.tmp" && mv "$B.rc.tmp" "$B.rc" &&\n      { [ -f "$B.from" ] || guarded_rm ".atomic-deploy/${B##*/}.rc"; }\n  ) < /dev/null > /dev/null 2>&1 &\n}\nlive_copy() {\n  live=\'\' live_kind=\'\'\n  lc=${1:-}\n  if [ -z "$lc" ]; then\n    lc=$(readlink "$D/current" 2>/dev/null) || return 0\n  fi\n  lc=${lc%/}\n  lc=${lc##*/}\n  [ -n "$lc" ] || return 0\n  for f in "$M"/base.*.from; do\n    b=${f%.from} rc=\'\'\n    copy_of "$f" "$lc" "${2:-}" || continue\n    [ ! -L "$b.rc" ] || continue\n    IFS= read -r rc 2>/dev/null < "$b.rc"\n    if [ "$rc" = 0 ] && [ -d "$b" ] && [ ! -L "$b" ]; then\n      live=${b##*/} live_kind=$ck\n      return 0\n    fi\n  done\n}\ncopy_of() {\n  ck=\'\' co_from=\'\'\n  [ -f "$1" ] && [ ! -L "$1" ] || return 1\n  IFS= read -r co_from 2>/dev/null < "$1"\n  case $co_from in\n    "$2 copy") ck=copy ;;\n    "$2 hardlink") ck=hardlink ;;\n    "$2") ck=unknown ;;\n    *) return 1 ;;\n  esac\n  case ${3:-} in\n    copy) [ "$ck" = copy ] ;;\n    hardlink | \'\') return 0 ;;\n    *) return 1 ;;\n  esac\n}\nchanged_since() {\n  cs_dirs=\'\'\n  [ "${3:-}" != hardlink ] || cs_dirs=\'-type d\'\n  if find "$1" -maxdepth 0 -cnewer "$2" > /dev/null 2>&1; then\n    [ -n "$(find "$1" $cs_dirs \\( -newer "$2" -o -cnewer "$2" \\) -print 2> /dev/null | head -n 1)" ]\n  else\n    [ -n "$(find "$1" $cs_dirs -newer "$2" -print 2> /dev/null | head -n 1)" ]\n  fi\n}\nnl=$(printf \'\\n_\')\nnl=${nl%_}\ndiff_awk=\'function linked(p,   i) { while (1) { if (p in links) return 1; i = match(p, /\\/[^\\/]*$/); if (!i) return 0; p = substr(p, 1, i - 1) } }\'\ndiff_awk="$diff_awk$nl"\'function pathof(line,   p) { p = line; sub(/^(f [0-7]+ [0-9]+|l [0-9]+|d [0-7]+|d) \\.\\//, "", p); return p }\'\ndiff_awk="$diff_awk$nl"\'function enc(s) { gsub(/%/, "%25", s); gsub(/\\n/, "%0A", s); return s }\'\ndiff_awk="$diff_awk$nl"\'function within(p, d1, d2,   i) { while (1) { i = match(p, /\\/[^\\/]*$/); if (!i) return 0; p = substr(p, 1, i - 1); if ((p in d1) && !(p in d2)) return 1 } }\'\ndiff_awk="$diff_awk$nl"\'function fin(   p) { if (!have) return; have = 0; if (src == "r") { e[cur]++; return }; fresh = 0; if (substr(cur, 1, 2) == "N ") { cur = substr(cur, 3); fresh = 1 }; if (!fresh && e[cur] > 0) { e[cur]--; return }; p = pathof(cur); if (linked(p)) return; if (fresh) nw[++nn] = p; if (e[cur] > 0) { e[cur]--; return }; al[++na] = cur; ap[p] = 1; if (cur ~ /^d /) ad[p] = 1 }\'\ndiff_awk="$diff_awk$nl"\'BEGIN { lf = ENVIRON["ADT_LF"]; rf = ENVIRON["ADT_RF"] }\'\ndiff_awk="$diff_awk$nl"\'FNR == 1 { fin(); src = (FILENAME == lf) ? "l" : ((FILENAME == rf) ? "r" : "a") }\'\ndiff_awk="$diff_awk$nl"\'src == "l" { p = $0; gsub(/%0A/, "\\n", p); gsub(/%25/, "%", p); links[p] = 1; next }\'\ndiff_awk="$diff_awk$nl"\'/^(N )?(f [0-7]+ [0-9]+|l [0-9]+|d [0-7]+|d) \\.\\// { fin(); cur = $0; have = 1; next }\'\ndiff_awk="$diff_awk$nl"\'{ if (have) cur = cur "\\n" $0; else { cur = $0; have = 1 } }\'\ndiff_awk="$diff_awk$nl"\'END { fin(); for (x in e) if (e[x] > 0) { p = pathof(x); if (linked(p)) e[x] = 0; else if (x ~ /^d /) md[p] = 1 }\'\ndiff_awk="$diff_awk"\' for (i = 1; i <= na; i++) { if (within(pathof(al[i]), ad, md)) continue; a++; if (a <= max) print "!" k "-added " enc(al[i]) }\'\ndiff_awk="$diff_awk"\' for (x in e) if (e[x] > 0 && !within(pathof(x), md, ad)) { m += e[x]; if (m <= max) print "!" k "-missing " enc(x) }\'\ndiff_awk="$diff_awk"\' for (i = 1; i <= nn; i++) { p = nw[i]; if ((p in ap) || within(p, ad, md)) continue; n++; if (n <= max) print "!" k "-newer " enc(p) }\'\ndiff_awk="$diff_awk"\' print "!" k " " a + 0 " " m + 0 " " n + 0 }\'\nlisting_diff() {\n  ADT_LF=$3 ADT_RF=$4 awk -v k="$1" -v max="$2" "$diff_awk" "$3" "$4" "$5"\n}\ndrift_list() {\n  if find . -maxdepth 0 -printf \'\' 2>/dev/null; then\n    find . ! -name . \\( ! -type d -newer "$1" -printf \'N \' -o -true \\) \\( -type f -printf \'f %m %s %p\\n\' -o -type d -printf \'d %m %p\\n\' -o -type l -printf \'l %s %p\\n\' \\)\n  else\n    dl_ref=$(TZ=UTC0 stat -c \'%y\' "$1") || return 1\n    {\n      TZ=UTC0 find . -type f -exec stat -c \'%y|f %a %s %n\' {} + -o -type l -exec stat -c \'%y|l %s %n\' {} + &&\n        find . ! -name . -type d -exec stat -c \'d %a %n\' {} + || echo //failed\n    } | awk -v ref="$dl_ref" \'$0 == "//failed" { bad = 1; next } /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9][.0-9]* [-+][0-9][0-9][0-9][0-9][|][fl] / { i = index($0, "|"); t = substr($0, 1, i - 1); $0 = substr($0, i + 1); if (t > ref) $0 = "N " $0 } { print } END { exit bad }\'\n  fi\n}\nnewer() {\n  if find . -maxdepth 0 -printf \'\' 2>/dev/null; then\n    [ -n "$(find "$1" -newer "$2" 2>/dev/null)" ]\n  else\n    nw_a=$(TZ=UTC0 stat -c \'%y\' "$1") && nw_b=$(TZ=UTC0 stat -c \'%y\' "$2") &&\n      awk -v a="$nw_a" -v b="$nw_b" \'BEGIN { exit !(a > b) }\'\n  fi\n}\nrefused_exit=3\nlock_exit=75\nrelease_id() {\n  case $1 in \'\' | . | .. | .* | *[!A-Za-z0-9._-]*) return 1 ;; esac\n  [ ${#1} -le 128 ]\n}\ncase $PATH_INPUT in\n  /*) D=$PATH_INPUT ;;\n  *)\n    cd -P . 2>/dev/null || { say "refused access cannot enter the login directory"; exit $refused_exit; }\n    D="$PWD/$PATH_INPUT"\n    ;;\nesac\nA=$D R=\'\' i=0\nwhile [ ! -d "$A" ] && [ $i -lt 256 ]; do\n  R="/${A##*/}$R"\n  A=${A%/*}\n  [ -n "$A" ] || A=/\n  i=$((i + 1))\ndone\nif [ -e "$D" ] && [ ! -d "$D" ]; then say "refused notdir $D exists and is not a directory"; exit $refused_exit; fi\ncd -P "$A" 2>/dev/null || { say "refused access cannot enter $A"; exit $refused_exit; }\nA=$PWD\ncase $A in /) D=${R:-/} ;; *) D="$A$R" ;; esac\nM="$D/.atomic-deploy"\ncase $D in *"$nl"*)\n  say "refused layout the deploy path resolves to a name that contains a newline"\n  exit $refused_exit\n  ;;\nesac\neval "set -- $SYSTEM_EXACT"\nfor s; do\n  if [ "$D" = "$s" ]; then say "refused system $D is a system directory"; exit $refused_exit; fi\ndone\neval "set -- $SYSTEM_TREES"\nfor s; do\n  case "$D/" in "$s"*) say "refused system $D is inside a system directory"; exit $refused_exit ;; esac\ndone\nsay "path $D"\nif [ -d "$D" ] && [ ! -d "$M" ]; then\n  foreign=\'\'\n  for e in "$D"/* "$D"/.[!.]* "$D"/..?*; do\n    [ -e "$e" ] || [ -L "$e" ] || continue\n    case ${e##*/} in releases | shared | cache | current | .atomic-deploy) ;; *) foreign=1; say "foreign ${e##*/}" ;; esac\n  done\n  if [ -n "$foreign" ]; then say "refused foreign $D holds files that are not a deploy layout"; exit $refused_exit; fi\nfi\nfor e in releases shared cache .atomic-deploy; do\n  if [ -e "$D/$e" ] && [ ! -d "$D/$e" ]; then say "refused layout $D/$e exists and is not a directory"; exit $refused_exit; fi\ndone\nif [ -e "$D/current" ] && [ ! -L "$D/current" ]; then say "refused layout $D/current exists and is not a symlink"; exit $refused_exit; fi\nlayout_dirs releases shared cache .atomic-deploy .atomic-deploy/manifests .atomic-deploy/revisions .atomic-deploy/tmp || {\n  say "refused layout $why"\n  exit $refused_exit\n}\nu=$login_umask\ncase $u in ???) u=0$u ;; esac\nsay "umask $u"\ncase $u in\n  [0-7][0-7][0-7][0-7])\n    case ${u#???} in\n      0 | 2) cu=${u%?}2 ;;\n      1 | 3) cu=${u%?}3 ;;\n      4 | 6) cu=${u%?}6 ;;\n      *) cu=${u%?}7 ;;\n    esac\n    ;;\n  *) cu=$(printf \'%04o\' $((u | 2))) ;;\nesac\nif [ -n "$LOCK" ]; then\n  missing=\'\'\n  eval "set -- $REQUIRE_TOOLS"\n  [ -z "$REQUIRE_TAR" ] || set -- "$@" tar\n  for t; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done\n  if [ -n "$missing" ]; then say "refused tools$missing"; exit $refused_exit; fi\n  if [ -n "$REQUIRE_TAR_OR_SFTP" ] && ! command -v tar >/dev/null 2>&1; then say "refused need-sftp"; exit $refused_exit; fi\n  if { [ -d "$D/releases" ] && [ -d "$D/shared" ]; } || (umask "$cu" && mkdir -p "$D/releases" "$D/shared") 2>/dev/null; then made=1; else made=\'\'; fi\n  if [ -z "$made" ] || { [ ! -d "$M" ] && ! mkdir -p "$M" 2>/dev/null; } || { [ "$meta_mode" != 700 ] && ! chmod 700 "$M"; }; then\n    say "refused permission user $(id -un) cannot create directories in $D"\n    exit $refused_exit\n  fi\n  if [ ! -w "$D" ] || [ ! -w "$D/releases" ] || [ ! -w "$M" ]; then say "refused permission user $(id -un) cannot write to $D"; exit $refused_exit; fi\n  if ! mkdir "$M/lock" 2>/dev/null; then\n    say locked\n    n=0\n    while [ ! -s "$M/lock/owner" ] && [ -d "$M/lock" ] && [ $n -lt 10 ]; do\n      if sleep 0.1 2>/dev/null; then n=$((n + 1)); else sleep 1; n=10; fi\n    done\n    if [ -f "$M/lock/owner" ]; then blob_text owner "$(head -c 4000 "$M/lock/owner")"; fi\n    exit $lock_exit\n  fi\n  printf \'%s\\n\' "$LOCK_OWNER" > "$M/lock/owner"\n  say locked-by-us\nfi\nfor t in tar gzip sha256sum stat find awk; do command -v "$t" >/dev/null 2>&1 && say "tool $t"; done\nGNU_CP=\'\'\ncp --version >/dev/null 2>&1 && GNU_CP=1 && say "tool gnu-cp"\nif [ -n "$GNU_CP" ]; then\n  say "toolset gnu"\nelse\n  case $(readlink "$(command -v cp)" 2>/dev/null) in *busybox) say "toolset busybox" ;; esac\nfi\n[ -z "${SHELL:-}" ] || say "shell $SHELL"\ncur=\'\' c=\'\'\nif [ -L "$D/current" ]; then\n  cur=$(readlink "$D/current" && echo _)\n  cur=${cur%?_}\n  blob_text current "$cur"\n  c=${cur%/}\n  c=${c#"$D"/}\n  case $c in releases/*) c=${c#releases/} ;; *) c=\'\' ;; esac\n  release_id "$c" || c=\'\'\nfi\nfor r in "$D"/releases/*; do\n  release_id "${r##*/}" && [ -d "$r" ] && [ ! -L "$r" ] && say "release ${r##*/}"\ndone\nblob log "$M/log" "$LOG_LIMIT"\ncase $REUSE in\n  cache)\n    if [ -d "$D/cache" ]; then\n      blob pending "$M/cache.pending" "$MANIFEST_LIMIT"\n    fi\n    ;;\n  previous)\n    if [ -n "$c" ]; then\n      blob links "$M/manifests/$c.links" "$LINKS_LIMIT"\n    fi\n    ;;\nesac\n[ -z "$c" ] || blob hooked "$M/manifests/$c.hook" "$LINKS_LIMIT"\ndrift_known=\'\'\nif [ -n "$DRIFT" ]; then\n  lv=$c\n  case $lv in\n    \'\') ;;\n    *)\n      L="$D/releases/$lv" F="$M/manifests/$lv"\n      if [ -d "$L" ] && [ ! -L "$L" ] && [ -f "$F.listing" ] && [ -f "$F.ready" ]; then\n        lk="$F.links"\n        [ -f "$lk" ] || lk=/dev/null\n        (cd "$L" && drift_list "$F.ready") 2>/dev/null | listing_diff drift 50 "$lk" "$F.listing" -\n        drift_known=1\n      else\n        say "drift unknown"\n      fi\n      ;;\n  esac\nfi\nif [ -n "$LOCK" ] && [ "$REUSE" = previous ] && [ "$PREFETCH" != none ]; then\n  kept=\'\'\n  if [ -n "$c" ]; then\n    live_copy "$c" "$PREFETCH"\n    kept=$live\n    if [ -n "$kept" ] && [ -z "$drift_known" ] && changed_since "$D/releases/$c" "$M/$kept.from" "$live_kind"; then kept=\'\'; fi\n  fi\n  drop_bases_but "$kept"\n  if [ -n "$kept" ]; then\n    say "prefetch $kept $c spare"\n  elif [ -n "$c" ] && [ -d "$D/releases/$c" ] && [ ! -L "$D/releases/$c" ] &&\n    { [ -f "$M/manifests/$c.m2" ] || [ -f "$M/manifests/$c.json.gz" ]; }; then\n    start_copy "$c" "$PREFETCH" && say "prefetch ${B##*/} $c"\n  fi\nfi\nif [ -n "$WANT_DIGEST" ]; then\n  mf=\'\' old=\'\'\n  case $REUSE in\n    cache) [ ! -d "$D/cache" ] || { mf="$M/cache" old="$M/cache.manifest.json.gz"; } ;;\n    previous) [ -z "$c" ] || { mf="$M/manifests/$c" old="$M/manifests/$c.json.gz"; } ;;\n  esac\n  have=\'\'\n  if [ -n "$mf" ] && [ -f "$mf.m2" ]; then\n    IFS= read -r have 2>/dev/null < "$mf.digest" || have=\'\'\n    case $have in *[!0-9a-f]*) have=\'\' ;; esac\n    [ ${#have} -eq 64 ] || have=\'\'\n  fi\n  want=\'\'\n  IFS= read -r want || want=\'\'\n  if [ -n "$have" ] && [ "$want" = "$have" ]; then\n    say same\n  elif [ -n "$have" ] && [ -f "$mf.view.gz" ]; then\n    blob view "$mf.view.gz" "$MANIFEST_LIMIT"\n  elif [ -n "$have" ] && [ -f "$mf.view" ]; then\n    blob view-text "$mf.view" "$MANIFEST_LIMIT"\n  elif [ -n "$old" ]; then\n    blob manifest "$old" "$MANIFEST_LIMIT"\n  fi\nfi\nsay end\n'
};
const scripts_generated_LISTING_SH = {
    name: 'listing.sh',
    params: { LIST_DIR: 'string' },
    text: "set -u\nlogin_umask='' my_uid=''\nif [ -r \"/proc/$$/status\" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < \"/proc/$$/status\" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in '' | *[!0-9]*) my_uid='' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl='\n'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nlist_tree() {\n  if find . -maxdepth 0 -printf '' 2>/dev/null; then\n    find . ! -name . \\( -type f -printf 'f %m %s %p\\n' -o -type d -printf 'd %m %p\\n' -o -type l -printf 'l %s %p\\n' \\)\n  else\n    find . -type f -exec stat -c 'f %a %s %n' {} + &&\n      find . ! -name . -type d -exec stat -c 'd %a %n' {} + &&\n      find . -type l -exec stat -c 'l %s %n' {} +\n  fi\n}\ncd \"$LIST_DIR\" || exit 1\nlist_tree\n"
};
const RELEASE_SH = {
    name: 'release.sh',
    params: {
        PREPARE: 'flag',
        STALE_RELEASES: 'list',
        BASE: ['none', 'release', 'cache'],
        BASE_ID: 'string',
        BASE_SHARED_LINKS: 'list',
        PREFETCHED: 'string',
        CACHE_EXISTS: 'flag',
        CACHE_TOUCHED: 'list',
        COPY_METHOD: ['copy', 'hardlink'],
        REMOVE: 'list',
        WRITE_DIRS: 'list',
        DIR_MODE: 'string',
        DIR_CHMOD: 'string',
        TRANSFER: ['tar', 'tar-gzip', 'sftp'],
        FINALIZE: 'flag',
        FROM_CACHE: ['none', 'copy', 'hardlink'],
        MANIFEST_DIGEST: 'string',
        MANIFEST_BASE: 'string',
        VERIFY_ALL: 'flag',
        SWITCH_AFTER: 'flag',
        ODD_SUMS: 'list',
        LINKS: 'list',
        SHARED: ['auto', 'explicit'],
        SHARED_PATHS: 'list',
        SHARED_CONFLICT: ['fail', 'replace'],
        HOOK_NAME: 'string',
        HOOK_SCRIPT: 'string',
        HOOK_ENV: 'list',
        LOCK_OWNER: 'string',
        UPDATES_CACHE: 'flag',
        GUARD_KEEP: 'list',
        DEPLOY_DIR: 'string',
        RELEASE_ID: 'string',
        UMASK: 'string',
        LOCK_TOKEN: 'string',
        EVENTS: 'list',
        PRUNE: 'list',
        FORGET: 'list',
        SEEDED: 'list',
        FINISH_KEEP: 'list',
        SPARE_RELEASE: 'string',
        SPARE_NEED_KB: 'string',
        SPARE_METHOD: 'string'
    },
    text: 'set -u\nlogin_umask=\'\' my_uid=\'\'\nif [ -r "/proc/$$/status" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < "/proc/$$/status" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in \'\' | *[!0-9]*) my_uid=\'\' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl=\'\n\'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf \'!%s\\n\' "$*"; }\nwait_job() {\n  unset wj_none\n  wait "$1"\n}\nguard_also_keep=\'\'\ncurrent_target() {\n  ct=$(readlink "$D/current" 2>/dev/null) || ct=\'\'\n  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac\n  while :; do\n    case $ct in\n      */) ct=${ct%/} ;;\n      *) break ;;\n    esac\n  done\n}\nparents_real() {\n  pr_p=$1 pr_rest=$2\n  while :; do\n    case $pr_rest in\n      */*) ;;\n      *) return 0 ;;\n    esac\n    pr_p="$pr_p/${pr_rest%%/*}"\n    pr_rest=${pr_rest#*/}\n    if [ -L "$pr_p" ]; then\n      why="${pr_p#"$D"/} is a symlink"\n      return 1\n    fi\n  done\n}\nremovable() {\n  why=\'\'\n  case /$1/ in\n    // | *//* | */./* | */../*) why="\'$1\' is not a plain relative path" ;;\n  esac\n  [ -z "$why" ] || return 1\n  case $1 in\n    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)\n      why="$1 is part of the deploy layout"\n      return 1\n      ;;\n  esac\n  if [ -n "$ct" ]; then\n    case $1 in\n      "$ct" | "$ct"/*)\n        why="$1 is what current points to"\n        return 1\n        ;;\n    esac\n    case $ct in\n      "$1"/*)\n        why="$1 holds what current points to"\n        return 1\n        ;;\n    esac\n  fi\n  eval "set -- \\"\\$1\\" $GUARD_KEEP $guard_also_keep"\n  rm_rel=$1\n  shift\n  for rm_keep; do\n    case $rm_rel in\n      "releases/$rm_keep" | "releases/$rm_keep"/*)\n        why="$rm_rel is release $rm_keep, which is kept"\n        return 1\n        ;;\n    esac\n  done\n  parents_real "$D" "$rm_rel"\n}\nguarded_rm() {\n  gr_n=$#\n  for gr_rel; do\n    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi\n  done\n  if [ $# -gt "$gr_n" ]; then current_target; else ct=\'\'; fi\n  gr_i=0\n  for gr_rel; do\n    [ $gr_i -lt "$gr_n" ] || break\n    gr_i=$((gr_i + 1))\n    if ! removable "$gr_rel"; then\n      say "refused-remove $why"\n      return 1\n    fi\n  done\n  shift "$gr_n"\n  [ $# -eq 0 ] || rm -rf -- "$@"\n}\nguarded_rm_list() {\n  ru_base=$1 ru_kind=$2\n  eval "set -- $3"\n  [ $# -gt 0 ] || return 0\n  current_target\n  for ru_path; do\n    removable "$ru_base/$ru_path" || fail "$ru_kind" "refusing to remove $ru_base/$ru_path: $why"\n  done\n  ru_dir="$D/$ru_base"\n  ru_words=\'\' ru_count=0 ru_size=0 ru_i=1 ru_path=\'\'\n  while [ $ru_i -le $# ]; do\n    eval "ru_path=\\${$ru_i}"\n    ru_words="$ru_words \\"\\$ru_dir\\"/\\"\\${$ru_i}\\""\n    ru_count=$((ru_count + 1))\n    ru_size=$((ru_size + ${#ru_dir} + ${#ru_path} + 2))\n    if [ $ru_count -ge 500 ] || [ $ru_size -gt 60000 ] || [ $ru_i -eq $# ]; then\n      eval "rm -rf -- $ru_words" || fail "$ru_kind" "cannot remove paths in $ru_dir"\n      ru_words=\'\' ru_count=0 ru_size=0\n    fi\n    ru_i=$((ru_i + 1))\n  done\n}\nreal_dir() {\n  why=\'\'\n  rd_name=${1#"$D"/}\n  [ "$rd_name" != "$1" ] || rd_name=$1\n  if [ -L "$1" ]; then\n    why="$rd_name is a symlink (to $(readlink "$1")); atomic-deploy writes only into real directories. Replace it with the directory itself"\n    return 1\n  fi\n  [ -e "$1" ] || return 0\n  if [ ! -d "$1" ]; then\n    why="$rd_name exists and is not a directory"\n    return 1\n  fi\n  rd_stat=$(stat -c \'%u %a %U\' "$1") || {\n    why="cannot read the owner of $rd_name"\n    return 1\n  }\n  rd_uid=${rd_stat%% *}\n  rd_mode=${rd_stat#* }\n  rd_mode=${rd_mode%% *}\n  [ -n "${my_uid:-}" ] || my_uid=$(id -u)\n  if [ "$rd_uid" != "$my_uid" ]; then\n    why="$rd_name is owned by ${rd_stat##* }, not by $(id -un); atomic-deploy writes only into directories of the deploy user. Give it to that user (chown)"\n    return 1\n  fi\n  case $rd_mode in\n    *[2367])\n      why="$rd_name is writable by every user (mode $rd_mode), so anybody could swap what is in it. Remove that (chmod o-w)"\n      return 1\n      ;;\n  esac\n  return 0\n}\nlog_event() { printf \'%s\\t%s\\t%s\\n\' "$1" "$2" "${log_stamp:-$(date -u "$stamp_format")}" >> "$M/log"; }\ndrop_base() {\n  if [ $# -gt 0 ]; then\n    case $1 in base.[A-Za-z0-9]*) ;; *) return 0 ;; esac\n    case $1 in *[!A-Za-z0-9.]*) return 0 ;; esac\n    set -- "$M/$1"\n  else\n    set -- "$M"/base.*\n    [ -e "$1" ] || [ -L "$1" ] || return 0\n  fi\n  for db_b; do\n    case $db_b in\n      *.rc.tmp) db_b=${db_b%.rc.tmp} ;;\n      *.pid | *.from | *.rc) db_b=${db_b%.*} ;;\n    esac\n    [ "${db_b##*/}" != "${db_keep:-}" ] || continue\n    [ -e "$db_b" ] || [ -L "$db_b" ] || [ -e "$db_b.from" ] || [ -e "$db_b.pid" ] ||\n      [ -e "$db_b.rc" ] || [ -e "$db_b.rc.tmp" ] || continue\n    db_rel=".atomic-deploy/${db_b##*/}"\n    if [ -f "$db_b.rc" ] && [ ! -L "$db_b.rc" ]; then\n      guarded_rm "$db_rel.from" "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n      continue\n    fi\n    guarded_rm "$db_rel.from" >/dev/null\n    p=\'\' comm=\'\'\n    if [ -f "$db_b.pid" ] && [ ! -L "$db_b.pid" ]; then\n      IFS= read -r p 2>/dev/null < "$db_b.pid"\n      case $p in \'\' | *[!0-9]*) ;; *)\n        IFS= read -r comm 2>/dev/null < "/proc/$p/comm"\n        [ "$comm" != cp ] || kill "$p" 2>/dev/null\n        ;;\n      esac\n    fi\n    guarded_rm "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n  done\n  :\n}\ndrop_bases_but() {\n  db_keep=$1\n  drop_base\n  db_keep=\'\'\n}\nstart_copy() {\n  B="$M/base.$$"\n  sc_from="$1 copy" sc_nice=\'\'\n  [ "$2" != hardlink ] || sc_from="$1 hardlink"\n  if [ "${3:-}" = low ] && command -v nice > /dev/null 2>&1; then sc_nice=\'nice -n 10\'; fi\n  { (umask 077 && mkdir "$B") 2>/dev/null && printf \'%s\\n\' "$sc_from" > "$B.from"; } || return 1\n  (\n    trap \'\' HUP\n    if [ "$2" = hardlink ]; then\n      $sc_nice cp -al "$D/releases/$1/." "$B/" &\n    elif cp --version >/dev/null 2>&1; then\n      $sc_nice cp -a --reflink=auto "$D/releases/$1/." "$B/" &\n    else\n      $sc_nice cp -a "$D/releases/$1/." "$B/" &\n    fi\n    echo $! > "$B.pid"\n    wait_job $!\n    rc=$?\n    [ $rc -ne 0 ] || chmod 700 "$B" || rc=1\n    [ -f "$B.from" ] && echo $rc > "$B.rc.tmp" && mv "$B.rc.tmp" "$B.rc" &&\n      { [ -f "$B.from" ] || guarded_rm ".atomic-deploy/${B##*/}.rc"; }\n  ) < /dev/null > /dev/null 2>&1 &\n}\nlive_copy() {\n  live=\'\' live_kind=\'\'\n  lc=${1:-}\n  if [ -z "$lc" ]; then\n    lc=$(readlink "$D/current" 2>/dev/null) || return 0\n  fi\n  lc=${lc%/}\n  lc=${lc##*/}\n  [ -n "$lc" ] || return 0\n  for f in "$M"/base.*.from; do\n    b=${f%.from} rc=\'\'\n    copy_of "$f" "$lc" "${2:-}" || continue\n    [ ! -L "$b.rc" ] || continue\n    IFS= read -r rc 2>/dev/null < "$b.rc"\n    if [ "$rc" = 0 ] && [ -d "$b" ] && [ ! -L "$b" ]; then\n      live=${b##*/} live_kind=$ck\n      return 0\n    fi\n  done\n}\ncopy_of() {\n  ck=\'\' co_from=\'\'\n  [ -f "$1" ] && [ ! -L "$1" ] || return 1\n  IFS= read -r co_from 2>/dev/null < "$1"\n  case $co_from in\n    "$2 copy") ck=copy ;;\n    "$2 hardlink") ck=hardlink ;;\n    "$2") ck=unknown ;;\n    *) return 1 ;;\n  esac\n  case ${3:-} in\n    copy) [ "$ck" = copy ] ;;\n    hardlink | \'\') return 0 ;;\n    *) return 1 ;;\n  esac\n}\nlock_is_ours() {\n  [ -n "$1" ] && [ -f "$M/lock/owner" ] && [ ! -L "$M/lock/owner" ] || return 1\n  while IFS= read -r lo_line || [ -n "$lo_line" ]; do\n    case $lo_line in *"$1"*) return 0 ;; esac\n  done < "$M/lock/owner" 2>/dev/null\n  return 1\n}\nunlock_if_ours() {\n  if lock_is_ours "$1"; then\n    if [ -n "${spare:-}" ]; then live=$spare; else live_copy; fi\n    drop_bases_but "$live"\n    guarded_rm .atomic-deploy/lock && say unlocked\n  fi\n}\nD=$DEPLOY_DIR\nM="$D/.atomic-deploy"\nID=$RELEASE_ID\nR="$D/releases/$ID"\nT="$M/tmp/$ID"\nfail() {\n  kind=$1\n  shift\n  say "error $kind $*"\n  cleanup_release\n  exit 1\n}\nlisted_shared() {\n  eval "set -- \\"\\$1\\" $SHARED_PATHS"\n  ls_rel=$1\n  shift\n  for ls_entry; do [ "$ls_rel" != "${ls_entry%/}" ] || return 0; done\n  return 1\n}\ncleanup_release() {\n  trap \'\' HUP INT TERM PIPE\n  wait\n  cd "$D" 2>/dev/null || cd /\n  was=\'\'\n  current_target\n  if [ -d "$R" ] && removable "${R#"$D"/}" && mv "$R" "$D/releases/.aborting.$ID.$$" 2>/dev/null; then\n    was=1\n    guarded_rm "releases/.aborting.$ID.$$"\n  fi\n  guarded_rm "${R#"$D"/}" "${T#"$D"/}" ".atomic-deploy/revisions/$ID.json" \\\n    ".atomic-deploy/manifests/$ID.json.gz" ".atomic-deploy/manifests/$ID.links" \\\n    ".atomic-deploy/manifests/$ID.listing" ".atomic-deploy/manifests/$ID.hook" \\\n    ".atomic-deploy/manifests/$ID.ready" ".atomic-deploy/manifests/$ID.m2" \\\n    ".atomic-deploy/manifests/$ID.digest" ".atomic-deploy/manifests/$ID.view.gz" \\\n    ".atomic-deploy/manifests/$ID.view" ||\n    say "warning release $ID was not removed: $why"\n  if [ -n "$PREFETCHED" ]; then\n    live_copy\n    [ "$PREFETCHED" = "$live" ] || drop_base "$PREFETCHED"\n  fi\n  if [ -f "$M/seeded.$ID" ] && [ ! -L "$M/seeded.$ID" ]; then\n    while IFS= read -r line; do\n      case $line in\n        \'seeded \'* | \'created \'*) cr_rel=${line#* } ;;\n        *) continue ;;\n      esac\n      if ! listed_shared "$cr_rel"; then\n        say "warning the seed record of $ID names shared/$cr_rel, which is not in shared-paths; it was left alone"\n        continue\n      fi\n      case $line in\n        \'seeded \'*) guarded_rm "shared/$cr_rel" || say "warning shared/$cr_rel was not removed: $why" ;;\n        *)\n          current_target\n          if removable "shared/$cr_rel"; then rmdir "$D/shared/$cr_rel" 2>/dev/null; fi\n          ;;\n      esac\n    done < "$M/seeded.$ID"\n    guarded_rm ".atomic-deploy/seeded.$ID"\n  fi\n  [ -z "$was" ] || log_event abort "$ID" 2>/dev/null\n}\nown_release() {\n  trap \'fail signal "interrupted by a signal"\' HUP INT TERM\n  trap \'cleanup_release; exit 1\' PIPE\n}\nwith_umask() {\n  umask "$UMASK"\n  "$@"\n  wu_rc=$?\n  umask 077\n  return $wu_rc\n}\nlist_tree() {\n  if find . -maxdepth 0 -printf \'\' 2>/dev/null; then\n    find . ! -name . \\( -type f -printf \'f %m %s %p\\n\' -o -type d -printf \'d %m %p\\n\' -o -type l -printf \'l %s %p\\n\' \\)\n  else\n    find . -type f -exec stat -c \'f %a %s %n\' {} + &&\n      find . ! -name . -type d -exec stat -c \'d %a %n\' {} + &&\n      find . -type l -exec stat -c \'l %s %n\' {} +\n  fi\n}\nrun_hook() {\n  rc=1\n  mkdir -p "$M/tmp" 2>/dev/null\n  real_dir "$M/tmp" || return 1\n  hn=0\n  while :; do\n    hd="$M/tmp/hook.$$.$hn"\n    mkdir "$hd" 2>/dev/null && break\n    hn=$((hn + 1))\n    if [ $hn -ge 10 ]; then\n      why="cannot create a directory for the hook in $M/tmp"\n      return 1\n    fi\n  done\n  H="$hd/$1.sh"\n  printf \'%s\\n\' "$3" > "$H" || {\n    why="cannot write $H"\n    return 1\n  }\n  say "hook-start $1"\n  (\n    cd "$2" || exit 1\n    umask "$5" || exit 1\n    eval "set -- $4"\n    exec env ${1+"$@"} sh -e "$H"\n  ) </dev/null >&2\n  rc=$?\n  guarded_rm ".atomic-deploy/tmp/${hd##*/}" >/dev/null\n  say "hook-exit $1 $rc"\n}\nMANIFEST_UNESCAPE=\'function unesc(s,  out, i, c) {\n  out = ""\n  while ((i = index(s, "\\\\")) > 0) {\n    out = out substr(s, 1, i - 1)\n    c = substr(s, i + 1, 1)\n    if (c == "n") c = "\\n"\n    else if (c == "r") c = "\\r"\n    else if (c == "t") c = "\\t"\n    else if (c == "s") c = " "\n    out = out c\n    s = substr(s, i + 2)\n  }\n  return out s\n}\'\nmanifest_assemble() {\n  if [ -n "$1" ]; then\n    awk \'FILENAME == ARGV[1] { gone[$0] = 1; n++; next }\n      n {\n        if ($1 in gone) {\n          if ($2 == "d") dirs++\n          next\n        }\n        if (dirs) {\n          k = split($1, part, "/")\n          q = part[1]\n          for (i = 2; i <= k; i++) {\n            if (q in gone) next\n            q = q "/" part[i]\n          }\n        }\n      }\n      { print }\' "$2" "$1"\n  fi | sort -m - "$3"\n}\nmanifest_digest() {\n  md=$(sha256sum < "$1") || return 1\n  printf \'%s\\n\' "${md%% *}"\n}\nmanifest_sums() {\n  awk "$MANIFEST_UNESCAPE"\'\n    $2 == "f" && $1 !~ /\\\\[nr\\\\]/ { printf "%s  ./%s\\n", $5, unesc($1) }\' "$1"\n}\nexpected_listing() {\n  awk "$MANIFEST_UNESCAPE"\'\n    { p = $1; if (index(p, "\\\\")) p = unesc(p) }\n    $2 == "f" { print "f " $3 " " $4 " ./" p; next }\n    $2 == "d" { print "d ./" p; next }\n    $2 == "l" { print "l " $4 " ./" p }\' "$1"\n}\nmanifest_view() {\n  awk \'{ if ($2 == "f") $5 = substr($5, 1, 16); print }\' "$1"\n}\nstart_view() {\n  if command -v gzip > /dev/null 2>&1; then\n    (manifest_view "$1" | gzip -c > "$2.view.gz") < /dev/null 2> /dev/null &\n  else\n    manifest_view "$1" > "$2.view" < /dev/null 2> /dev/null &\n  fi\n  viewjob=$!\n}\nview_made() {\n  wait_job "$viewjob"\n}\ninstall_manifest() {\n  if [ -f "$4.view.gz" ]; then\n    cp "$4.view.gz" "$3.view.gz.tmp" && mv "$3.view.gz.tmp" "$3.view.gz" &&\n      guarded_rm "${3#"$D"/}.view" || return 1\n  else\n    cp "$4.view" "$3.view.tmp" && mv "$3.view.tmp" "$3.view" || return 1\n  fi\n  cp "$1" "$3.m2.tmp" && mv "$3.m2.tmp" "$3.m2" &&\n    printf \'%s\\n\' "$2" > "$3.digest.tmp" && mv "$3.digest.tmp" "$3.digest"\n}\nswitch_current() {\n  if [ -z "$1" ]; then\n    rm -f "$D/current" || {\n      say "error io cannot remove $D/current"\n      return 1\n    }\n  else\n    if [ $# -gt 1 ] && [ -d "$2" ] && [ ! -L "$2" ]; then\n      P=$2 sc_own=\'\'\n      guarded_rm "${P#"$D"/}/current" || {\n        say "error io cannot remove $P/current: $why"\n        return 1\n      }\n    else\n      P="$M/switch.$$" sc_own=1\n      guarded_rm ".atomic-deploy/${P##*/}" || {\n        say "error io cannot remove $P: $why"\n        return 1\n      }\n      (umask 077 && mkdir "$P") || {\n        say "error io cannot create $P"\n        return 1\n      }\n    fi\n    sc_left="${P#"$D"/}"\n    [ -n "$sc_own" ] || sc_left="$sc_left/current"\n    ln -s "releases/$1" "$P/current" || {\n      guarded_rm "$sc_left"\n      say "error io cannot create a link in $P"\n      return 1\n    }\n    mv -f "$P/current" "$D/" || {\n      guarded_rm "$sc_left"\n      say "error io cannot rename the new link over $D/current"\n      return 1\n    }\n    [ -z "$sc_own" ] || rmdir "$P" 2>/dev/null\n  fi\n  say switched\n  if [ -L "$D/current" ]; then say "current $(readlink "$D/current")"; fi\n}\nfinish_run() {\n  guard_also_keep=$FINISH_KEEP\n  eval "set -- $EVENTS"\n  [ $# -lt 2 ] || [ -n "${log_stamp:-}" ] || log_stamp=$(date -u "$stamp_format")\n  while [ $# -ge 2 ]; do\n    log_event "$1" "$2"\n    shift 2\n  done\n  log_stamp=\'\'\n  spare=\'\' pruning=\'\'\n  if lock_is_ours "$LOCK_TOKEN"; then\n    eval "set -- $PRUNE"\n    for id; do\n      if prune_aside "$id" && guarded_rm ".atomic-deploy/revisions/$id.json" \\\n        ".atomic-deploy/manifests/$id.json.gz" ".atomic-deploy/manifests/$id.links" \\\n        ".atomic-deploy/manifests/$id.listing" ".atomic-deploy/manifests/$id.hook" \\\n        ".atomic-deploy/manifests/$id.ready" ".atomic-deploy/manifests/$id.m2" \\\n        ".atomic-deploy/manifests/$id.digest" ".atomic-deploy/manifests/$id.view.gz" \\\n        ".atomic-deploy/manifests/$id.view"; then\n        say "pruned $id"\n      else\n        say "kept $id: $why"\n      fi\n    done\n    eval "set -- $FORGET"\n    if [ $# -gt 0 ]; then\n      awk -F \'\\t\' \'BEGIN { for (i = 2; i < ARGC; i++) { f[ARGV[i]] = 1; delete ARGV[i] } } !($2 in f)\' "$M/log" "$@" > "$M/log.new.$$" &&\n        mv "$M/log.new.$$" "$M/log"\n      guarded_rm ".atomic-deploy/log.new.$$"\n    fi\n    eval "set -- $SEEDED"\n    for id; do guarded_rm ".atomic-deploy/seeded.$id"; done\n    current_target\n    if [ -n "$SPARE_RELEASE" ] && [ "$ct" = "releases/$SPARE_RELEASE" ]; then\n      avail=$(df -Pk "$M" 2>/dev/null) && set -f && set -- $avail && set +f && avail=${11:-}\n      case $avail in \'\' | *[!0-9]*) avail=0 ;; esac\n      if [ "$avail" -gt "$SPARE_NEED_KB" ]; then\n        drop_base\n        start_copy "$SPARE_RELEASE" "$SPARE_METHOD" low && spare=${B##*/} && say "spare $spare"\n      else\n        say "no-spare $avail"\n      fi\n    fi\n  elif [ -n "$PRUNE$FORGET$SEEDED" ]; then\n    say "warning the lock on $D is no longer this run\'s: nothing was pruned"\n  fi\n  unlock_if_ours "$LOCK_TOKEN"\n  if [ -n "$pruning" ]; then\n    (\n      trap \'\' HUP\n      rm -rf -- "$D"/releases/.pruning.*."$$"\n    ) < /dev/null > /dev/null 2>&1 &\n  fi\n  say finished\n}\nprune_aside() {\n  pa_rel="releases/$1"\n  current_target\n  if ! removable "$pa_rel"; then\n    say "refused-remove $why"\n    return 1\n  fi\n  [ -e "$D/$pa_rel" ] || [ -L "$D/$pa_rel" ] || return 0\n  if mv "$D/$pa_rel" "$D/releases/.pruning.$1.$$" 2>/dev/null; then\n    pruning=1\n  else\n    guarded_rm "$pa_rel"\n  fi\n}\nnl=$(printf \'\\n_\')\nnl=${nl%_}\ndiff_awk=\'function linked(p,   i) { while (1) { if (p in links) return 1; i = match(p, /\\/[^\\/]*$/); if (!i) return 0; p = substr(p, 1, i - 1) } }\'\ndiff_awk="$diff_awk$nl"\'function pathof(line,   p) { p = line; sub(/^(f [0-7]+ [0-9]+|l [0-9]+|d [0-7]+|d) \\.\\//, "", p); return p }\'\ndiff_awk="$diff_awk$nl"\'function enc(s) { gsub(/%/, "%25", s); gsub(/\\n/, "%0A", s); return s }\'\ndiff_awk="$diff_awk$nl"\'function within(p, d1, d2,   i) { while (1) { i = match(p, /\\/[^\\/]*$/); if (!i) return 0; p = substr(p, 1, i - 1); if ((p in d1) && !(p in d2)) return 1 } }\'\ndiff_awk="$diff_awk$nl"\'function fin(   p) { if (!have) return; have = 0; if (src == "r") { e[cur]++; return }; fresh = 0; if (substr(cur, 1, 2) == "N ") { cur = substr(cur, 3); fresh = 1 }; if (!fresh && e[cur] > 0) { e[cur]--; return }; p = pathof(cur); if (linked(p)) return; if (fresh) nw[++nn] = p; if (e[cur] > 0) { e[cur]--; return }; al[++na] = cur; ap[p] = 1; if (cur ~ /^d /) ad[p] = 1 }\'\ndiff_awk="$diff_awk$nl"\'BEGIN { lf = ENVIRON["ADT_LF"]; rf = ENVIRON["ADT_RF"] }\'\ndiff_awk="$diff_awk$nl"\'FNR == 1 { fin(); src = (FILENAME == lf) ? "l" : ((FILENAME == rf) ? "r" : "a") }\'\ndiff_awk="$diff_awk$nl"\'src == "l" { p = $0; gsub(/%0A/, "\\n", p); gsub(/%25/, "%", p); links[p] = 1; next }\'\ndiff_awk="$diff_awk$nl"\'/^(N )?(f [0-7]+ [0-9]+|l [0-9]+|d [0-7]+|d) \\.\\// { fin(); cur = $0; have = 1; next }\'\ndiff_awk="$diff_awk$nl"\'{ if (have) cur = cur "\\n" $0; else { cur = $0; have = 1 } }\'\ndiff_awk="$diff_awk$nl"\'END { fin(); for (x in e) if (e[x] > 0) { p = pathof(x); if (linked(p)) e[x] = 0; else if (x ~ /^d /) md[p] = 1 }\'\ndiff_awk="$diff_awk"\' for (i = 1; i <= na; i++) { if (within(pathof(al[i]), ad, md)) continue; a++; if (a <= max) print "!" k "-added " enc(al[i]) }\'\ndiff_awk="$diff_awk"\' for (x in e) if (e[x] > 0 && !within(pathof(x), md, ad)) { m += e[x]; if (m <= max) print "!" k "-missing " enc(x) }\'\ndiff_awk="$diff_awk"\' for (i = 1; i <= nn; i++) { p = nw[i]; if ((p in ap) || within(p, ad, md)) continue; n++; if (n <= max) print "!" k "-newer " enc(p) }\'\ndiff_awk="$diff_awk"\' print "!" k " " a + 0 " " m + 0 " " n + 0 }\'\nlisting_diff() {\n  ADT_LF=$3 ADT_RF=$4 awk -v k="$1" -v max="$2" "$diff_awk" "$3" "$4" "$5"\n}\ndrift_list() {\n  if find . -maxdepth 0 -printf \'\' 2>/dev/null; then\n    find . ! -name . \\( ! -type d -newer "$1" -printf \'N \' -o -true \\) \\( -type f -printf \'f %m %s %p\\n\' -o -type d -printf \'d %m %p\\n\' -o -type l -printf \'l %s %p\\n\' \\)\n  else\n    dl_ref=$(TZ=UTC0 stat -c \'%y\' "$1") || return 1\n    {\n      TZ=UTC0 find . -type f -exec stat -c \'%y|f %a %s %n\' {} + -o -type l -exec stat -c \'%y|l %s %n\' {} + &&\n        find . ! -name . -type d -exec stat -c \'d %a %n\' {} + || echo //failed\n    } | awk -v ref="$dl_ref" \'$0 == "//failed" { bad = 1; next } /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9][.0-9]* [-+][0-9][0-9][0-9][0-9][|][fl] / { i = index($0, "|"); t = substr($0, 1, i - 1); $0 = substr($0, i + 1); if (t > ref) $0 = "N " $0 } { print } END { exit bad }\'\n  fi\n}\nstrip_newer() {\n  awk \'/^N (f [0-7]+ [0-9]+|l [0-9]+) \\.\\// { $0 = substr($0, 3) } { print }\'\n}\nnewer() {\n  if find . -maxdepth 0 -printf \'\' 2>/dev/null; then\n    [ -n "$(find "$1" -newer "$2" 2>/dev/null)" ]\n  else\n    nw_a=$(TZ=UTC0 stat -c \'%y\' "$1") && nw_b=$(TZ=UTC0 stat -c \'%y\' "$2") &&\n      awk -v a="$nw_a" -v b="$nw_b" \'BEGIN { exit !(a > b) }\'\n  fi\n}\nmark_time() {\n  : > "$1" || return 1\n  mt_i=0\n  while [ $mt_i -lt 200 ]; do\n    : > "$1.probe" || return 1\n    ! newer "$1.probe" "$1" || break\n    sleep 0.01 2>/dev/null || sleep 1\n    mt_i=$((mt_i + 1))\n  done\n  rm -f "$1.probe"\n}\nexists() { [ -e "$1" ] || [ -L "$1" ]; }\ncopy_tree() {\n  if [ "$1" = hardlink ]; then\n    cp -al "$2/." "$3/"\n  elif cp --version >/dev/null 2>&1; then\n    cp -a --reflink=auto "$2/." "$3/"\n  else\n    cp -a "$2/." "$3/"\n  fi\n}\nstart_from_release() {\n  PREV="$D/releases/$BASE_ID"\n  [ ! -L "$PREV" ] || fail copy "releases/$BASE_ID is a symlink; it is not used as the starting point"\n  if [ "$COPY_METHOD" = hardlink ]; then\n    failure="cannot hard-link $PREV into $R (hard links need one filesystem)"\n  else\n    failure="cannot copy $PREV into $R"\n  fi\n  if [ -n "$PREFETCHED" ] && copy_of "$M/$PREFETCHED.from" "$BASE_ID" "$COPY_METHOD"; then\n    B="$M/$PREFETCHED"\n    i=0 n=0\n    if [ ! -f "$B.rc" ]; then\n      if sleep 0.01 2>/dev/null; then w=0.01 n=60000 beat=3000; else w=1 n=600 beat=30; fi\n    fi\n    while [ ! -f "$B.rc" ] && [ $i -lt $n ]; do\n      sleep "$w"\n      i=$((i + 1))\n      [ $((i % beat)) -ne 0 ] || say "waiting for the copy of $BASE_ID"\n    done\n    [ -f "$B.rc" ] || fail copy "$failure: the copy did not end within 10 minutes"\n    brc=\'\'\n    IFS= read -r brc 2>/dev/null < "$B.rc"\n    [ "$brc" = 0 ] || fail copy "$failure"\n    [ ! -L "$B" ] || fail copy "$failure: the copy is a symlink"\n    { rmdir "$R" && mv "$B" "$R"; } || fail copy "cannot move the copy of $PREV to $R"\n    drop_base "$PREFETCHED"\n  else\n    drop_base "$PREFETCHED"\n    copy_tree "$COPY_METHOD" "$PREV" "$R" || fail copy "$failure"\n  fi\n  guarded_rm_list "releases/$ID" copy "$BASE_SHARED_LINKS"\n}\ncheck_copy() {\n  cc_rel=$1 cc_what=$2\n  eval "set -- $WRITE_DIRS"\n  for cc_dir; do\n    if [ -L "$D/$cc_rel/$cc_dir" ]; then\n      fail drift "$cc_dir is a symlink in $cc_what, where the manifest has a directory; nothing was written through it. The live release was changed on the server: deploy once with \'reuse: none\' (or use \'reuse: cache\')"\n    fi\n  done\n  cc_mode=$((0$DIR_MODE))\n  set -- ! -perm "-$DIR_MODE"\n  for cc_bit in 1:1 2:2 4:4 8:10 16:20 32:40 64:100 128:200 256:400; do\n    [ $((cc_mode & ${cc_bit%:*})) -ne 0 ] || set -- "$@" -o -perm "-${cc_bit#*:}"\n  done\n  find "$D/$cc_rel" -type d \\( "$@" \\) -exec chmod "$DIR_CHMOD" {} + >&2 ||\n    fail io "cannot set the mode of the directories in $cc_what"\n}\nprepare_release() {\n  C="$D/cache"\n  cd "$D" || { say "error io cannot enter $D"; exit 1; }\n  with_umask mkdir "$R" 2>/dev/null || { say "error exists cannot create $R (does release $ID exist already?)"; exit 1; }\n  own_release\n  guarded_rm ".atomic-deploy/seeded.$ID" || fail io "cannot remove $M/seeded.$ID: $why"\n  log_event start "$ID" || fail io "cannot write $M/log"\n  eval "set -- $STALE_RELEASES"\n  for s; do\n    if guarded_rm "releases/$s"; then log_event abort "$s"; else say "warning kept release $s: $why"; fi\n  done\n  for s in "$D"/.current.tmp-* "$D"/releases/.aborting.* "$D"/releases/.pruning.* "$M"/tmp/* "$M"/tmp/.[!.]* "$M"/tmp/..?*; do\n    [ -e "$s" ] || [ -L "$s" ] || continue\n    s=${s#"$D"/}\n    guarded_rm "$s" || say "warning $s was not removed: $why"\n  done\n  mkdir -p "$M/manifests" "$M/revisions" "$T" || fail io "cannot create $T"\n  target=$R\n  case $BASE in\n    release) start_from_release ;;\n    cache)\n      target=$C\n      drop_base "$PREFETCHED"\n      if [ -n "$CACHE_EXISTS" ]; then\n        eval "set -- $CACHE_TOUCHED"\n        if [ $# -gt 0 ]; then\n          printf \'%s\\n\' "$@" >> "$M/cache.pending" || fail io "cannot write $M/cache.pending"\n        fi\n      else\n        guarded_rm .atomic-deploy/cache.m2 .atomic-deploy/cache.digest .atomic-deploy/cache.view.gz \\\n          .atomic-deploy/cache.view .atomic-deploy/cache.manifest.json.gz .atomic-deploy/cache.pending ||\n          fail io "cannot remove the cache manifest: $why"\n        { guarded_rm cache && with_umask mkdir "$D/cache"; } || fail io "cannot create $D/cache"\n      fi\n      real_dir "$C" || fail layout "$why"\n      ;;\n    *) drop_base "$PREFETCHED" ;;\n  esac\n  target_rel=${target#"$D"/}\n  if [ "$BASE" = release ]; then\n    check_copy "$target_rel" "the copy of release $BASE_ID"\n  elif [ "$BASE" = cache ]; then\n    check_copy "$target_rel" "cache/"\n  fi\n  guarded_rm_list "$target_rel" io "$REMOVE"\n  case $TRANSFER in\n    tar | tar-gzip)\n      (\n        cd "$D" && umask 000 || exit 1\n        [ "$TRANSFER" = tar ] || exec tar -x -p -o -m -z -f -\n        exec tar -x -p -o -m -f -\n      ) >&2 || fail transfer "tar could not extract the upload (is the disk full?)"\n      ;;\n  esac\n  say prepared\n}\nstart_sums() {\n  n=$(nproc 2>/dev/null) || n=2\n  case $n in \'\' | *[!0-9]*) n=2 ;; esac\n  [ "$n" -le 4 ] || n=4\n  [ "$(wc -l < "$T/sums")" -ge 64 ] || n=1\n  i=0\n  while [ $i -lt "$n" ]; do\n    awk -v n="$n" -v i=$i \'NR % n == i\' "$T/sums" > "$T/sums.$i"\n    sha256sum -c "$T/sums.$i" > "$T/sums.all.$i" 2>&1 < /dev/null &\n    sumjobs="$sumjobs $!"\n    i=$((i + 1))\n  done\n}\nwait_sums() {\n  for j in $sumjobs; do wait_job "$j" || bad=1; done\n  [ -z "$bad" ] || cat "$T"/sums.all.* | grep \': FAILED\' >> "$T/sums.out" || cat "$T"/sums.all.* >> "$T/sums.out"\n}\nrecord_link() {\n  case $1 in\n    *"$nl"* | *%*)\n      printf \'%s\' "$1" | awk \'BEGIN { ORS = "" } { gsub(/%/, "%25"); if (NR > 1) print "%0A"; print } END { print "\\n" }\' >> "$T/$ID.links"\n      ;;\n    *) printf \'%s\\n\' "$1" >> "$T/$ID.links" ;;\n  esac\n}\nconflict() {\n  if [ "$SHARED_CONFLICT" = replace ]; then\n    guarded_rm "releases/$ID/$1" || fail shared "cannot replace $1: $why"\n    say "shared-replaced $1"\n  else\n    fail shared-conflict "$1 is both in shared/ and in the release; remove it from the source, or set shared-conflict: replace"\n  fi\n}\nlink_shared() {\n  for s in "$S/$1"* "$S/$1".[!.]* "$S/$1"..?*; do\n    exists "$s" || continue\n    rel="$1${s##*/}"\n    dst="$R/$rel"\n    if [ -d "$dst" ] && [ ! -L "$dst" ] && [ -d "$s" ] && [ ! -L "$s" ]; then\n      link_shared "$rel/" "$2../"\n      continue\n    fi\n    if exists "$dst"; then conflict "$rel" "$dst"; fi\n    ln -s "$2../../shared/$rel" "$dst" || fail shared "cannot link $rel"\n    record_link "$rel"\n    say "shared $rel"\n  done\n}\nshared_entry() {\n  rel=${1%/}\n  s="$S/$rel"\n  dst="$R/$rel"\n  case $rel in */*) parent=${rel%/*} ;; *) parent=\'\' ;; esac\n  target="../../shared/$rel"\n  x=$rel\n  while :; do\n    case $x in\n      */*)\n        x=${x#*/}\n        target="../$target"\n        ;;\n      *) break ;;\n    esac\n  done\n}\ncreate_parent() {\n  top=\'\' p=\'\' rest="$parent/"\n  while [ -n "$rest" ]; do\n    p=${p:+$p/}${rest%%/*}\n    rest=${rest#*/}\n    if [ -z "$top" ] && ! exists "$R/$p"; then top=$p; fi\n  done\n  with_umask mkdir -p "$R/$parent" || fail shared "cannot create the parent of $rel"\n  [ -z "$top" ] || record_link "$top"\n}\nlink_explicit() {\n  eval "set -- $SHARED_PATHS"\n  for entry; do\n    shared_entry "$entry"\n    if ! parents_real "$R" "$rel"; then\n      why=${why%% is a symlink}\n      fail shared "$rel lies beneath ${why#"releases/$ID/"}, a symlink in the release; list a path that is not beneath a symlink"\n    fi\n    sc_p=$S sc_rest=$rel\n    real_dir "$sc_p" || fail layout "$why"\n    while :; do\n      case $sc_rest in */*) ;; *) break ;; esac\n      sc_p="$sc_p/${sc_rest%%/*}"\n      sc_rest=${sc_rest#*/}\n      real_dir "$sc_p" || fail layout "$why"\n    done\n    if exists "$s"; then\n      if exists "$dst" && [ "$SHARED_CONFLICT" = fail ]; then\n        fail shared-conflict "$rel is both in shared/ and in the release; remove it from the source or exclude it, or set shared-conflict: replace"\n      fi\n    elif ! exists "$dst"; then\n      case $entry in\n        */) ;;\n        *) fail shared-missing "$rel is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory" ;;\n      esac\n    fi\n  done\n  for entry; do\n    shared_entry "$entry"\n    if exists "$s"; then\n      if exists "$dst"; then\n        guarded_rm "releases/$ID/$rel" || fail shared "cannot replace $rel: $why"\n        say "shared-replaced $rel"\n      fi\n    elif exists "$dst"; then\n      if [ -n "$parent" ]; then with_umask mkdir -p "$S/$parent" || fail shared "cannot create the parent of shared/$rel"; fi\n      printf \'seeded %s\\n\' "$rel" >> "$M/seeded.$ID"\n      mv "$dst" "$s" || fail shared "cannot move $rel into shared/"\n      say "shared-seeded $rel"\n    else\n      printf \'created %s\\n\' "$rel" >> "$M/seeded.$ID"\n      with_umask mkdir -p "$s" || fail shared "cannot create shared/$rel"\n      say "shared-created $rel"\n    fi\n    [ -z "$parent" ] || create_parent\n    ln -s "$target" "$dst" || fail shared "cannot link $rel"\n    record_link "$rel"\n    say "shared $rel"\n  done\n}\ncheck_odd_sums() {\n  eval "set -- $1"\n  co_n=0\n  while [ $# -ge 2 ]; do\n    h=$(sha256sum < "./$1")\n    [ "${h%% *}" = "$2" ] || {\n      bad=1\n      say "badodd $co_n"\n    }\n    co_n=$((co_n + 1))\n    shift 2\n  done\n}\ncheck_links() {\n  eval "set -- $1"\n  cl_n=0\n  while [ $# -ge 2 ]; do\n    [ "$(readlink "./$1")" = "$2" ] || {\n      bad=1\n      say "badlink $cl_n"\n    }\n    cl_n=$((cl_n + 1))\n    shift 2\n  done\n}\nDIR_LINE=\'/^d [0-7]+ / { dmode = $2; while (length(dmode) < 3) dmode = "0" dmode; sub(/^d [0-7]+ /, "d "); if (substr(dmode, length(dmode) - 2) != dm) { bad_dir(); next } }\'\nsorted_digest() {\n  sort -o "$1.sorted" "$1" && sd=$(sha256sum < "$1.sorted") && printf \'%s\\n\' "${sd%% *}"\n}\nfinalize_release() {\n  own_release\n  cd "$D" || fail io "cannot enter $D"\n  case $FROM_CACHE in\n    hardlink) copy_tree hardlink "$D/cache" "$R" || fail copy "cannot hard-link cache into $R" ;;\n    copy) copy_tree copy "$D/cache" "$R" || fail copy "cannot copy cache into $R" ;;\n  esac\n  (cd "$R" && list_tree > "$T/$ID.listing" 2> "$T/find.err") < /dev/null &\n  listjob=$!\n  mb=\'\'\n  if [ -n "$MANIFEST_BASE" ]; then\n    mb="$M/$MANIFEST_BASE.m2"\n    [ -f "$mb" ] || fail verify "the manifest $MANIFEST_BASE.m2 the plan started from is gone"\n  fi\n  mf="$T/$ID.m2"\n  if [ -n "$mb" ] && [ ! -s "$T/removed" ] && [ ! -s "$T/delta" ]; then\n    cp "$mb" "$mf" || fail io "cannot write the manifest"\n  else\n    manifest_assemble "$mb" "$T/removed" "$T/delta" > "$mf" || fail io "cannot write the manifest"\n  fi\n  md=$(manifest_digest "$mf") || fail io "cannot read the manifest"\n  [ "$md" = "$MANIFEST_DIGEST" ] || fail verify "the manifest put together on the server is not the source\'s (${MANIFEST_BASE:-none}.m2 was changed since it was read?)"\n  start_view "$mf" "$T/$ID"\n  (expected_listing "$mf" > "$T/expected" && sorted_digest "$T/expected" > "$T/expected.sum") < /dev/null 2> /dev/null &\n  expjob=$!\n  if [ -n "$VERIFY_ALL" ]; then\n    manifest_sums "$mf" > "$T/sums"\n  elif [ -s "$T/delta" ]; then\n    manifest_sums "$T/delta" > "$T/sums"\n  else\n    : > "$T/sums"\n  fi || fail io "cannot write the sums"\n  has_sums=\'\'\n  [ ! -s "$T/sums" ] || has_sums=1\n  cd "$R" || fail io "cannot enter $R"\n  bad=\'\' sumjobs=\'\'\n  : > "$T/sums.out"\n  [ -z "$has_sums" ] || start_sums\n  lrc=0 erc=0\n  wait_job "$listjob" || lrc=$?\n  wait_job "$expjob" || erc=$?\n  same=\'\'\n  if [ $lrc -eq 0 ] && [ $erc -eq 0 ] &&\n    awk -v dm="$DIR_MODE" \'function bad_dir() { exit 1 } \'"$DIR_LINE"\' { print }\' "$T/$ID.listing" > "$T/listed" &&\n    ls_sum=$(sorted_digest "$T/listed") && IFS= read -r ex_sum < "$T/expected.sum" &&\n    [ -n "$ls_sum" ] && [ "$ls_sum" = "$ex_sum" ]; then\n    same=1\n  fi\n  [ -z "$has_sums" ] || wait_sums\n  [ $lrc -eq 0 ] || fail verify "cannot list $R: $(head -c 300 "$T/find.err")"\n  if [ -z "$same" ] && ! awk -v dm="$DIR_MODE" "$MANIFEST_UNESCAPE"\'function want(s,  k, i, part) { k = split(s, part, "\\n"); for (i = 1; i <= k; i++) e[part[i]]++ } function bad_dir() { x++; if (x <= 50) print "!unexpected d " dmode " " substr($0, 3) } FILENAME == ARGV[1] { if ($2 == "f") want("f " $3 " " $4 " ./" unesc($1)); else if ($2 == "d") want("d ./" unesc($1)); else if ($2 == "l") want("l " $4 " ./" unesc($1)); next } \'"$DIR_LINE"\' { if (e[$0] > 0) e[$0]--; else { x++; if (x <= 50) print "!unexpected " $0 } } END { for (k in e) if (e[k] > 0) { m++; if (m <= 50) print "!missing " k }; exit (x + m > 0) }\' "$mf" "$T/$ID.listing"; then\n    fail verify "the release does not match the manifest"\n  fi\n  check_odd_sums "$ODD_SUMS"\n  check_links "$LINKS"\n  if [ -n "$bad" ]; then\n    head -n 50 "$T/sums.out" | while IFS= read -r l; do say "badsum $l"; done\n    fail verify "sha256 mismatch"\n  fi\n  view_made || fail io "cannot write the manifest\'s view"\n  if [ -n "$UPDATES_CACHE" ]; then\n    { install_manifest "$mf" "$md" "$M/cache" "$T/$ID" && guarded_rm .atomic-deploy/cache.manifest.json.gz .atomic-deploy/cache.pending; } || fail io "cannot write the cache manifest"\n  fi\n  S="$D/shared"\n  : > "$T/$ID.links"\n  case $SHARED in\n    explicit) link_explicit ;;\n    *) [ ! -d "$S" ] || link_shared \'\' \'\' ;;\n  esac\n  printf \'%s\\n\' "$md" > "$T/$ID.digest" || fail io "cannot write the manifest"\n  if [ -f "$T/$ID.view.gz" ]; then mv_view="$T/$ID.view.gz"; else mv_view="$T/$ID.view"; fi\n  mv -f "$T/$ID.listing" "$T/$ID.links" "$mv_view" "$mf" "$T/$ID.digest" "$M/manifests" ||\n    fail io "cannot write the manifest"\n  [ "$mv_view" = "$T/$ID.view" ] || guarded_rm ".atomic-deploy/manifests/$ID.view" || fail io "cannot write the manifest: $why"\n  mv "$T/revision.json" "$M/revisions/$ID.json" || fail io "cannot write the revision record"\n  if [ -n "$HOOK_NAME" ]; then\n    mark_time "$T/hook.mark" || fail io "cannot write $T/hook.mark"\n    run_hook "$HOOK_NAME" "$R" "$HOOK_SCRIPT" "$HOOK_ENV" "$UMASK" || fail hook "cannot run $HOOK_NAME: $why"\n    [ $rc -eq 0 ] || fail hook "$HOOK_NAME exited with status $rc"\n    if ! lock_is_ours "$LOCK_TOKEN"; then\n      if mkdir "$M/lock" 2>/dev/null; then\n        printf \'%s\\n\' "$LOCK_OWNER" > "$M/lock/owner"\n        say "warning the lock was cleared while $HOOK_NAME ran; it is held again by this run"\n      else\n        fail lock "the lock on $D is no longer this run\'s (cleared and taken by another run while $HOOK_NAME ran); release $ID was removed"\n      fi\n    fi\n    cd "$R" || fail io "cannot enter $R"\n    drift_list "$T/hook.mark" > "$T/post" 2>/dev/null || fail io "cannot list $R after $HOOK_NAME"\n    listing_diff hook 1000 "$M/manifests/$ID.links" "$M/manifests/$ID.listing" "$T/post" > "$M/manifests/$ID.hook" || fail io "cannot compare $R after $HOOK_NAME"\n    { strip_newer < "$T/post" > "$T/post.listing" && mv "$T/post.listing" "$M/manifests/$ID.listing"; } || fail io "cannot write the listing"\n    hs=$(tail -n 1 "$M/manifests/$ID.hook")\n    if [ "$hs" != \'!hook 0 0 0\' ]; then\n      sed \'$d\' "$M/manifests/$ID.hook" | head -n 20\n      printf \'%s\\n\' "$hs"\n    fi\n  fi\n  [ -n "$SWITCH_AFTER" ] || guarded_rm ".atomic-deploy/tmp/$ID" || fail io "cannot remove $T: $why"\n  : > "$M/manifests/$ID.ready" || fail io "cannot write $M/manifests/$ID.ready"\n  [ -z "$SWITCH_AFTER" ] || log_stamp=$(date -u "$stamp_format")\n  log_event ready "$ID" || fail io "cannot write $M/log"\n  trap \'\' HUP INT TERM\n  say ready\n  if [ -n "$SWITCH_AFTER" ]; then\n    switch_current "$ID" "$T" || exit 1\n    trap \'\' PIPE\n    guarded_rm ".atomic-deploy/tmp/$ID" || say "warning $T was not removed: $why"\n    finish_run\n  fi\n}\n[ -z "$PREPARE" ] || prepare_release\n[ -z "$FINALIZE" ] || finalize_release\n'
};
const SHARED_LISTING_SH = {
    name: 'shared-listing.sh',
    params: { DEPLOY_DIR: 'string', DEPTH: 'string' },
    text: "set -u\nlogin_umask='' my_uid=''\nif [ -r \"/proc/$$/status\" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < \"/proc/$$/status\" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in '' | *[!0-9]*) my_uid='' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl='\n'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf '!%s\\n' \"$*\"; }\ncase $DEPTH in '' | *[!0-9]*) say \"error io bad depth\"; exit 1 ;; esac\nif [ -d \"$DEPLOY_DIR/shared\" ] && cd \"$DEPLOY_DIR/shared\"; then\n  {\n    find . -maxdepth \"$DEPTH\" ! -name . -type d | sed 's/^/d /'\n    find . -maxdepth \"$DEPTH\" -type l | sed 's/^/l /'\n    find . -maxdepth \"$DEPTH\" ! -type d ! -type l | sed 's/^/f /'\n  } 2>/dev/null | head -n 20000 | sed 's/^/!shared-entry /'\nfi\nsay shared-end\n"
};
const SWITCH_SH = {
    name: 'switch.sh',
    params: { DEPLOY_DIR: 'string', RELEASE_ID: 'string', GUARD_KEEP: 'list' },
    text: 'set -u\nlogin_umask=\'\' my_uid=\'\'\nif [ -r "/proc/$$/status" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < "/proc/$$/status" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in \'\' | *[!0-9]*) my_uid=\'\' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl=\'\n\'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf \'!%s\\n\' "$*"; }\nguard_also_keep=\'\'\ncurrent_target() {\n  ct=$(readlink "$D/current" 2>/dev/null) || ct=\'\'\n  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac\n  while :; do\n    case $ct in\n      */) ct=${ct%/} ;;\n      *) break ;;\n    esac\n  done\n}\nparents_real() {\n  pr_p=$1 pr_rest=$2\n  while :; do\n    case $pr_rest in\n      */*) ;;\n      *) return 0 ;;\n    esac\n    pr_p="$pr_p/${pr_rest%%/*}"\n    pr_rest=${pr_rest#*/}\n    if [ -L "$pr_p" ]; then\n      why="${pr_p#"$D"/} is a symlink"\n      return 1\n    fi\n  done\n}\nremovable() {\n  why=\'\'\n  case /$1/ in\n    // | *//* | */./* | */../*) why="\'$1\' is not a plain relative path" ;;\n  esac\n  [ -z "$why" ] || return 1\n  case $1 in\n    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)\n      why="$1 is part of the deploy layout"\n      return 1\n      ;;\n  esac\n  if [ -n "$ct" ]; then\n    case $1 in\n      "$ct" | "$ct"/*)\n        why="$1 is what current points to"\n        return 1\n        ;;\n    esac\n    case $ct in\n      "$1"/*)\n        why="$1 holds what current points to"\n        return 1\n        ;;\n    esac\n  fi\n  eval "set -- \\"\\$1\\" $GUARD_KEEP $guard_also_keep"\n  rm_rel=$1\n  shift\n  for rm_keep; do\n    case $rm_rel in\n      "releases/$rm_keep" | "releases/$rm_keep"/*)\n        why="$rm_rel is release $rm_keep, which is kept"\n        return 1\n        ;;\n    esac\n  done\n  parents_real "$D" "$rm_rel"\n}\nguarded_rm() {\n  gr_n=$#\n  for gr_rel; do\n    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi\n  done\n  if [ $# -gt "$gr_n" ]; then current_target; else ct=\'\'; fi\n  gr_i=0\n  for gr_rel; do\n    [ $gr_i -lt "$gr_n" ] || break\n    gr_i=$((gr_i + 1))\n    if ! removable "$gr_rel"; then\n      say "refused-remove $why"\n      return 1\n    fi\n  done\n  shift "$gr_n"\n  [ $# -eq 0 ] || rm -rf -- "$@"\n}\nswitch_current() {\n  if [ -z "$1" ]; then\n    rm -f "$D/current" || {\n      say "error io cannot remove $D/current"\n      return 1\n    }\n  else\n    if [ $# -gt 1 ] && [ -d "$2" ] && [ ! -L "$2" ]; then\n      P=$2 sc_own=\'\'\n      guarded_rm "${P#"$D"/}/current" || {\n        say "error io cannot remove $P/current: $why"\n        return 1\n      }\n    else\n      P="$M/switch.$$" sc_own=1\n      guarded_rm ".atomic-deploy/${P##*/}" || {\n        say "error io cannot remove $P: $why"\n        return 1\n      }\n      (umask 077 && mkdir "$P") || {\n        say "error io cannot create $P"\n        return 1\n      }\n    fi\n    sc_left="${P#"$D"/}"\n    [ -n "$sc_own" ] || sc_left="$sc_left/current"\n    ln -s "releases/$1" "$P/current" || {\n      guarded_rm "$sc_left"\n      say "error io cannot create a link in $P"\n      return 1\n    }\n    mv -f "$P/current" "$D/" || {\n      guarded_rm "$sc_left"\n      say "error io cannot rename the new link over $D/current"\n      return 1\n    }\n    [ -z "$sc_own" ] || rmdir "$P" 2>/dev/null\n  fi\n  say switched\n  if [ -L "$D/current" ]; then say "current $(readlink "$D/current")"; fi\n}\nD=$DEPLOY_DIR\nM="$D/.atomic-deploy"\nswitch_current "$RELEASE_ID" || exit 1\n'
};
const UNLOCK_SH = {
    name: 'unlock.sh',
    params: { PATH_INPUT: 'string', GUARD_KEEP: 'list' },
    text: 'set -u\nlogin_umask=\'\' my_uid=\'\'\nif [ -r "/proc/$$/status" ]; then\n  cs_i=0\n  while [ $cs_i -lt 20 ] && read -r cs_key cs_value cs_rest; do\n    cs_i=$((cs_i + 1))\n    case $cs_key in\n      Umask:) login_umask=$cs_value ;;\n      Uid:)\n        my_uid=${cs_rest%%[!0-9]*}\n        break\n        ;;\n    esac\n  done < "/proc/$$/status" 2>/dev/null\nfi\ncase $login_umask in [0-7][0-7][0-7][0-7]) ;; *) login_umask=$(umask) ;; esac\ncase $my_uid in \'\' | *[!0-9]*) my_uid=\'\' ;; esac\numask 077\nLC_ALL=C\nexport LC_ALL\nnl=\'\n\'\nstamp_format=+%Y-%m-%dT%H:%M:%SZ\nsay() { printf \'!%s\\n\' "$*"; }\nguard_also_keep=\'\'\ncurrent_target() {\n  ct=$(readlink "$D/current" 2>/dev/null) || ct=\'\'\n  case $ct in "$D"/*) ct=${ct#"$D"/} ;; esac\n  while :; do\n    case $ct in\n      */) ct=${ct%/} ;;\n      *) break ;;\n    esac\n  done\n}\nparents_real() {\n  pr_p=$1 pr_rest=$2\n  while :; do\n    case $pr_rest in\n      */*) ;;\n      *) return 0 ;;\n    esac\n    pr_p="$pr_p/${pr_rest%%/*}"\n    pr_rest=${pr_rest#*/}\n    if [ -L "$pr_p" ]; then\n      why="${pr_p#"$D"/} is a symlink"\n      return 1\n    fi\n  done\n}\nremovable() {\n  why=\'\'\n  case /$1/ in\n    // | *//* | */./* | */../*) why="\'$1\' is not a plain relative path" ;;\n  esac\n  [ -z "$why" ] || return 1\n  case $1 in\n    releases | shared | .atomic-deploy | .atomic-deploy/manifests | .atomic-deploy/revisions | current | current/*)\n      why="$1 is part of the deploy layout"\n      return 1\n      ;;\n  esac\n  if [ -n "$ct" ]; then\n    case $1 in\n      "$ct" | "$ct"/*)\n        why="$1 is what current points to"\n        return 1\n        ;;\n    esac\n    case $ct in\n      "$1"/*)\n        why="$1 holds what current points to"\n        return 1\n        ;;\n    esac\n  fi\n  eval "set -- \\"\\$1\\" $GUARD_KEEP $guard_also_keep"\n  rm_rel=$1\n  shift\n  for rm_keep; do\n    case $rm_rel in\n      "releases/$rm_keep" | "releases/$rm_keep"/*)\n        why="$rm_rel is release $rm_keep, which is kept"\n        return 1\n        ;;\n    esac\n  done\n  parents_real "$D" "$rm_rel"\n}\nguarded_rm() {\n  gr_n=$#\n  for gr_rel; do\n    if [ -e "$D/$gr_rel" ] || [ -L "$D/$gr_rel" ]; then set -- "$@" "$D/$gr_rel"; fi\n  done\n  if [ $# -gt "$gr_n" ]; then current_target; else ct=\'\'; fi\n  gr_i=0\n  for gr_rel; do\n    [ $gr_i -lt "$gr_n" ] || break\n    gr_i=$((gr_i + 1))\n    if ! removable "$gr_rel"; then\n      say "refused-remove $why"\n      return 1\n    fi\n  done\n  shift "$gr_n"\n  [ $# -eq 0 ] || rm -rf -- "$@"\n}\nblob() {\n  [ -f "$2" ] && [ ! -L "$2" ] || return 0\n  if [ ! -s "$2" ]; then\n    printf \'!blob %s 0\\n\' "$1"\n    return 0\n  fi\n  n=$(wc -c < "$2") || return 0\n  n=$((n + 0))\n  if [ "$n" -gt "$3" ]; then\n    say "toolarge $1 $n"\n    return 0\n  fi\n  printf \'!blob %s %s\\n\' "$1" "$n"\n  head -c "$n" "$2"\n}\nblob_text() {\n  case $2 in\n    *[!\\ -~]*) n=$(printf \'%s\' "$2" | wc -c) ;;\n    *) n=${#2} ;;\n  esac\n  printf \'!blob %s %s\\n%s\' "$1" "$((n + 0))" "$2"\n}\ndrop_base() {\n  if [ $# -gt 0 ]; then\n    case $1 in base.[A-Za-z0-9]*) ;; *) return 0 ;; esac\n    case $1 in *[!A-Za-z0-9.]*) return 0 ;; esac\n    set -- "$M/$1"\n  else\n    set -- "$M"/base.*\n    [ -e "$1" ] || [ -L "$1" ] || return 0\n  fi\n  for db_b; do\n    case $db_b in\n      *.rc.tmp) db_b=${db_b%.rc.tmp} ;;\n      *.pid | *.from | *.rc) db_b=${db_b%.*} ;;\n    esac\n    [ "${db_b##*/}" != "${db_keep:-}" ] || continue\n    [ -e "$db_b" ] || [ -L "$db_b" ] || [ -e "$db_b.from" ] || [ -e "$db_b.pid" ] ||\n      [ -e "$db_b.rc" ] || [ -e "$db_b.rc.tmp" ] || continue\n    db_rel=".atomic-deploy/${db_b##*/}"\n    if [ -f "$db_b.rc" ] && [ ! -L "$db_b.rc" ]; then\n      guarded_rm "$db_rel.from" "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n      continue\n    fi\n    guarded_rm "$db_rel.from" >/dev/null\n    p=\'\' comm=\'\'\n    if [ -f "$db_b.pid" ] && [ ! -L "$db_b.pid" ]; then\n      IFS= read -r p 2>/dev/null < "$db_b.pid"\n      case $p in \'\' | *[!0-9]*) ;; *)\n        IFS= read -r comm 2>/dev/null < "/proc/$p/comm"\n        [ "$comm" != cp ] || kill "$p" 2>/dev/null\n        ;;\n      esac\n    fi\n    guarded_rm "$db_rel" "$db_rel.pid" "$db_rel.rc" "$db_rel.rc.tmp" >/dev/null\n  done\n  :\n}\ndrop_bases_but() {\n  db_keep=$1\n  drop_base\n  db_keep=\'\'\n}\nlive_copy() {\n  live=\'\' live_kind=\'\'\n  lc=${1:-}\n  if [ -z "$lc" ]; then\n    lc=$(readlink "$D/current" 2>/dev/null) || return 0\n  fi\n  lc=${lc%/}\n  lc=${lc##*/}\n  [ -n "$lc" ] || return 0\n  for f in "$M"/base.*.from; do\n    b=${f%.from} rc=\'\'\n    copy_of "$f" "$lc" "${2:-}" || continue\n    [ ! -L "$b.rc" ] || continue\n    IFS= read -r rc 2>/dev/null < "$b.rc"\n    if [ "$rc" = 0 ] && [ -d "$b" ] && [ ! -L "$b" ]; then\n      live=${b##*/} live_kind=$ck\n      return 0\n    fi\n  done\n}\ncopy_of() {\n  ck=\'\' co_from=\'\'\n  [ -f "$1" ] && [ ! -L "$1" ] || return 1\n  IFS= read -r co_from 2>/dev/null < "$1"\n  case $co_from in\n    "$2 copy") ck=copy ;;\n    "$2 hardlink") ck=hardlink ;;\n    "$2") ck=unknown ;;\n    *) return 1 ;;\n  esac\n  case ${3:-} in\n    copy) [ "$ck" = copy ] ;;\n    hardlink | \'\') return 0 ;;\n    *) return 1 ;;\n  esac\n}\ncase $PATH_INPUT in /*) D=$PATH_INPUT ;; *) D="$(pwd -P)/$PATH_INPUT" ;; esac\nM="$D/.atomic-deploy"\ncase $D in *"$nl"*) ;; *) say "path $D" ;; esac\nif [ -L "$D/current" ]; then\n  cur=$(readlink "$D/current" && echo _)\n  blob_text current "${cur%?_}"\nfi\nif [ ! -d "$M/lock" ]; then say "not-locked"; exit 0; fi\nif [ -f "$M/lock/owner" ]; then blob_text owner "$(head -c 4000 "$M/lock/owner")"; fi\nlive_copy\ndrop_bases_but "$live"\nguarded_rm .atomic-deploy/lock || {\n  say "error io cannot remove $M/lock: $why"\n  exit 1\n}\nsay unlocked\n'
};

;// CONCATENATED MODULE: ./build/bundle/js/server/remote-scripts.js
/**
 * The shell scripts that run on the servers, one per phase, so each phase costs one round trip
 * however many paths it touches. The scripts themselves are files, src/server/scripts/*.sh,
 * read by ShellCheck and carried into the bundle as text by scripts.generated.ts; they use only
 * POSIX sh and tools that GNU systems and BusyBox both have (find -exec +, stat -c, sha256sum,
 * awk, cp -a, readlink, dd); nothing GNU-only.
 *
 * The functions here turn a phase's parameters into the text sent to the server: a prelude that
 * assigns every value through `quote()` (script-values.ts), then the script's constant text. No
 * value is ever part of a script's text. Results come back on stdout as lines `!key value`;
 * tool errors and hook output go to stderr, which is streamed to the log.
 */



/** inspect.sh's exit status when the lock is held by another run. */
const LOCK_EXIT = 75;
/** inspect.sh's exit status when the deploy path is refused. */
const REFUSED_EXIT = 3;
/**
 * Phase 1-3 on the server: resolve the deploy path, refuse foreign or system directories, create
 * the layout, take the lock, and report what the planner needs (inspect.sh).
 */
function inspectScript(p) {
    return script_values_withValues(INSPECT_SH, {
        PATH_INPUT: p.path,
        LOCK: p.lock,
        LOCK_OWNER: p.lockOwner,
        REUSE: p.reuse,
        SYSTEM_EXACT: p.systemExact,
        SYSTEM_TREES: p.systemTrees,
        LOG_LIMIT: String(p.limits?.log ?? server_data/* SERVER_LIMITS */.L_.logBytes),
        MANIFEST_LIMIT: String(p.limits?.manifest ?? server_data/* SERVER_LIMITS */.L_.manifestBytes),
        LINKS_LIMIT: String(p.limits?.links ?? server_data/* SERVER_LIMITS */.L_.linksBytes),
        REQUIRE_TOOLS: p.require?.tools ?? [],
        REQUIRE_TAR: p.require?.tar ?? false,
        REQUIRE_TAR_OR_SFTP: p.require?.tarOrSftp ?? false,
        PREFETCH: p.prefetch?.copyMethod ?? 'none',
        DRIFT: p.drift ?? false,
        WANT_DIGEST: p.wantDigest ?? false,
        GUARD_KEEP: []
    });
}
/** The permission bits of a release's directories under `umask`, as three octal digits. */
function directoryMode(umask) {
    return (0o777 & ~parseInt(umask, 8)).toString(8).padStart(3, '0');
}
/**
 * `mode` (three octal digits) as chmod's symbolic + and -, e.g. `u+rwx,g+rx,g-w,o+rx,o-w`: the
 * = operator clears a directory's set-group-ID bit on BusyBox, + and - never do.
 */
function symbolicMode(mode) {
    return ['u', 'g', 'o']
        .map((who, i) => {
        const bits = parseInt(mode[i] ?? '0', 8);
        const add = ['r', 'w', 'x'].filter((_, b) => bits & (4 >> b)).join('');
        const remove = ['r', 'w', 'x'].filter((_, b) => !(bits & (4 >> b))).join('');
        return [add && `${who}+${add}`, remove && `${who}-${remove}`].filter(Boolean).join(',');
    })
        .join(',');
}
function releaseCommon(common, prefetched) {
    return {
        DEPLOY_DIR: common.deployDir,
        RELEASE_ID: common.releaseId,
        UMASK: common.umask,
        GUARD_KEEP: common.keep ?? [],
        LOCK_TOKEN: common.lockToken ?? '',
        PREFETCHED: common.prefetched ?? prefetched,
        SHARED_PATHS: common.sharedPaths ?? []
    };
}
/** A variable name the hook may receive: the shell's `export` takes nothing else. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The hook's environment as the `NAME=value` words run_hook exports. */
function hookEnv(env) {
    return Object.entries(env).map(([name, value]) => {
        if (!ENV_NAME.test(name))
            throw new Error(`'${name}' cannot be a hook's variable name`);
        return `${name}=${value}`;
    });
}
/**
 * The hook as it is written to its file on the server, which adds the one final newline:
 * the file then holds the script exactly, ending in a newline.
 */
function hookText(script) {
    return script.endsWith('\n') ? script.slice(0, -1) : script;
}
/**
 * One script for the release phases on a server (release.sh). With a tar transfer, prepare and
 * finalize run in one channel (the tar stream between them on stdin): one round trip for phases
 * 4 to 6.
 */
function releaseScript(common, prepare, finalize) {
    const base = prepare?.base ?? { kind: 'none' };
    const mode = directoryMode(common.umask);
    const values = {
        ...releaseCommon(common, (base.kind === 'release' && base.prefetched) || ''),
        PREPARE: prepare !== undefined,
        STALE_RELEASES: prepare?.staleReleases ?? [],
        BASE: base.kind,
        BASE_ID: base.kind === 'release' ? base.id : '',
        BASE_SHARED_LINKS: base.kind === 'release' ? base.sharedLinks : [],
        CACHE_EXISTS: base.kind === 'cache' && base.exists,
        // One JSON string per line of cache.pending: a name may hold a newline.
        CACHE_TOUCHED: base.kind === 'cache' ? (base.touched ?? []).map(p => JSON.stringify(p)) : [],
        COPY_METHOD: prepare?.copyMethod ?? 'copy',
        REMOVE: prepare?.remove ?? [],
        WRITE_DIRS: prepare?.writeDirs ?? [],
        DIR_MODE: mode,
        DIR_CHMOD: symbolicMode(mode),
        TRANSFER: prepare?.transfer.kind === 'tar' ? (prepare.transfer.gzip ? 'tar-gzip' : 'tar') : 'sftp',
        FINALIZE: finalize !== undefined,
        FROM_CACHE: finalize?.fromCache?.copyMethod ?? 'none',
        MANIFEST_DIGEST: finalize?.manifestDigest ?? '',
        MANIFEST_BASE: finalize?.manifestBase ?? '',
        VERIFY_ALL: finalize?.verifyAll ?? false,
        ODD_SUMS: finalize?.oddSums.flatMap(s => [s.path, s.sha256]) ?? [],
        LINKS: finalize?.links.flatMap(l => [l.path, l.target]) ?? [],
        SHARED: finalize?.shared.kind ?? 'auto',
        SHARED_PATHS: finalize?.shared.kind === 'explicit' ? finalize.shared.paths : (common.sharedPaths ?? []),
        SHARED_CONFLICT: finalize?.sharedConflict ?? 'fail',
        HOOK_NAME: finalize?.hook?.name ?? '',
        HOOK_SCRIPT: hookText(finalize?.hook?.script ?? ''),
        HOOK_ENV: hookEnv(finalize?.hook?.env ?? {}),
        LOCK_OWNER: common.lockOwner ?? '',
        UPDATES_CACHE: finalize?.updatesCache ?? false,
        SWITCH_AFTER: finalize?.switchAfter !== undefined,
        ...finishValues(finalize?.switchAfter)
    };
    return script_values_withValues(RELEASE_SH, values);
}
/** Abort a release that was prepared but will not go live (another server failed, a signal). */
function abortScript(p) {
    return script_values_withValues(ABORT_SH, releaseCommon(p, ''));
}
/** Run after-switch (or before-switch outside a deploy) in a release. */
function hookScript(p) {
    return script_values_withValues(HOOK_SH, {
        DEPLOY_DIR: p.deployDir,
        RELEASE_ID: p.releaseId,
        HOOK_NAME: p.name,
        HOOK_SCRIPT: hookText(p.script),
        HOOK_ENV: hookEnv(p.env),
        UMASK: p.umask ?? '0022',
        GUARD_KEEP: []
    });
}
/** Phase 9: prune, record events, compact the release log, release the lock (finish.sh). */
function finishScript(p) {
    return script_values_withValues(FINISH_SH, {
        DEPLOY_DIR: p.deployDir,
        LOCK_TOKEN: p.lockToken ?? '',
        GUARD_KEEP: [],
        ...finishValues(p)
    });
}
/** The values of lib/finish.sh, which finish.sh and release.sh (switchAfter) both run. */
function finishValues(p) {
    return {
        EVENTS: p?.events.flat() ?? [],
        PRUNE: p?.prune ?? [],
        FORGET: p?.forget ?? [],
        SEEDED: p?.seeded ?? [],
        FINISH_KEEP: p?.keep ?? [],
        SPARE_RELEASE: p?.spare?.release ?? '',
        SPARE_NEED_KB: String(p?.spare ? Math.ceil((p.spare.bytes * 2) / 1024) + 64 * 1024 : 0),
        SPARE_METHOD: p?.spare?.method ?? 'copy'
    };
}
/**
 * For a dry run: what shared/ holds, `depth` levels deep, as `!shared-entry <d|f|l> ./<path>`
 * lines, then `!shared-end` (shared-listing.sh). Reads only.
 */
function sharedListingScript(deployDir, depth) {
    return script_values_withValues(SHARED_LISTING_SH, { DEPLOY_DIR: deployDir, DEPTH: String(depth) });
}
/** mode: unlock. Report who held the lock, then remove it and any copy started under it. */
function unlockScript(path) {
    return script_values_withValues(UNLOCK_SH, { PATH_INPUT: path, GUARD_KEEP: [] });
}
/** The listing the release phase verifies against, of `dir` (see list_tree in lib/listing.sh). */
function listingScript(dir) {
    return withValues(LISTING_SH, { LIST_DIR: dir });
}
/** Phase 7 where there is no SFTP posix-rename: the rename by mv in the shell (switch.sh). */
function switchScript(p) {
    return script_values_withValues(SWITCH_SH, {
        DEPLOY_DIR: p.deployDir,
        RELEASE_ID: p.releaseId ?? '',
        GUARD_KEEP: []
    });
}


/***/ }),

/***/ 4145:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   hg: () => (/* binding */ RemovalRefusedError),
/* harmony export */   oL: () => (/* binding */ removalGuard)
/* harmony export */ });
/* unused harmony exports LAYOUT_PATHS, currentTarget, removalProblem */
/* harmony import */ var _sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(785);
/* harmony import */ var _server_data_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(2959);


/** A removal the guard refused; callers that can go on without it catch this class. */
class RemovalRefusedError extends Error {
    name = 'RemovalRefusedError';
}
/**
 * Paths of the layout (relative to the deploy directory) that are never removed themselves
 * (their content may be): lib/guard.sh's `removable` lists the same.
 */
const LAYOUT_PATHS = [
    'releases',
    'shared',
    '.atomic-deploy',
    '.atomic-deploy/manifests',
    '.atomic-deploy/revisions',
    'current'
];
/**
 * `current`'s target as lib/guard.sh's current_target makes it: relative to the deploy
 * directory when it was absolute, without trailing slashes; undefined when there is none.
 */
function currentTarget(target, deployDir) {
    if (target === undefined)
        return undefined;
    let ct = target.startsWith(`${deployDir}/`) ? target.slice(deployDir.length + 1) : target;
    while (ct.endsWith('/'))
        ct = ct.slice(0, -1);
    return ct === '' ? undefined : ct;
}
/**
 * Why `rel` (relative to the deploy directory) may not be removed, in lib/guard.sh's words
 * (its `removable`, less the symlink check, which needs the server); undefined when it may.
 */
function removalProblem(rel, current, keep) {
    const framed = `/${rel}/`;
    if (framed.includes('//') ||
        framed.includes('/./') ||
        framed.includes('/../') ||
        rel.includes('\0'))
        return `'${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_1__/* .shown */ .SP)(rel)}' is not a plain relative path`;
    if (LAYOUT_PATHS.includes(rel) || rel.startsWith('current/'))
        return `${rel} is part of the deploy layout`;
    if (current !== undefined) {
        if (rel === current || rel.startsWith(`${current}/`))
            return `${rel} is what current points to`;
        if (current.startsWith(`${rel}/`))
            return `${rel} holds what current points to`;
    }
    for (const id of keep) {
        if (rel === `releases/${id}` || rel.startsWith(`releases/${id}/`))
            return `${rel} is release ${id}, which is kept`;
    }
    return undefined;
}
function removalGuard(state) {
    const root = state.deployDir.replace(/\/+$/, '');
    const keep = [...state.protectedReleases].filter((id) => id !== undefined);
    const refuse = (path, why) => {
        throw new RemovalRefusedError(`refusing to remove ${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_1__/* .shown */ .SP)(path)}: ${why}`);
    };
    const relative = (path) => {
        if (root === '' || !root.startsWith('/'))
            refuse(path, 'the deploy directory is not resolved');
        if (!path.startsWith(`${root}/`))
            refuse(path, `'${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_1__/* .shown */ .SP)(path)}' is not a plain relative path inside ${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_1__/* .shown */ .SP)(root)}`);
        return path.slice(root.length + 1);
    };
    const check = (path, current) => {
        const why = removalProblem(relative(path), current, keep);
        if (why !== undefined)
            refuse(path, why);
    };
    return {
        deployDir: root,
        check,
        async confirm(files, paths, signal) {
            for (const p of paths)
                check(p);
            // Every parent of every path, once: lib/guard.sh's parents_real.
            const parents = new Set();
            for (const p of paths) {
                const rel = relative(p);
                for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1))
                    parents.add(rel.slice(0, i));
            }
            const list = [...parents];
            const [target, found] = await Promise.all([
                files.readlink(`${root}/current`, signal).catch((error) => {
                    if ((0,_sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .isMissing */ .b2)(error))
                        return undefined;
                    // Not a symlink, or unreadable: nothing it points to, and the layout refuses it.
                    if (error.code !== undefined)
                        return undefined;
                    throw error;
                }),
                Promise.all(list.map(rel => files.lstat(`${root}/${rel}`, signal)))
            ]);
            const current = currentTarget(target, root);
            const symlinks = new Set(list.filter((_, i) => found[i]?.type === 'symlink'));
            for (const p of paths) {
                check(p, current);
                const rel = relative(p);
                for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) {
                    const parent = rel.slice(0, i);
                    if (symlinks.has(parent))
                        refuse(p, `${parent} is a symlink`);
                }
            }
            return current;
        }
    };
}


/***/ }),

/***/ 2738:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Uq: () => (/* binding */ value),
/* harmony export */   mm: () => (/* binding */ scriptError),
/* harmony export */   uF: () => (/* binding */ parseScriptOutput),
/* harmony export */   zu: () => (/* binding */ values)
/* harmony export */ });
/**
 * What the server scripts print: result lines `!key value` on stdout, and binary sections
 * `!blob <name> <length>` followed by exactly that many bytes (a gzipped manifest, say).
 */
function parseScriptOutput(stdout) {
    const lines = [];
    const blobs = new Map();
    let pos = 0;
    while (pos < stdout.length) {
        let nl = stdout.indexOf(0x0a, pos);
        if (nl < 0)
            nl = stdout.length;
        const line = stdout.subarray(pos, nl).toString('utf8');
        pos = nl + 1;
        const blob = /^!blob (\S+) (\d+)$/.exec(line);
        if (blob) {
            const length = Number(blob[2]);
            blobs.set(blob[1], stdout.subarray(pos, pos + length));
            pos += length;
        }
        else if (line.startsWith('!')) {
            lines.push(line.slice(1));
        }
    }
    return { lines, blobs };
}
/** Values of `!key value` lines for one key. */
function values(output, key) {
    const prefix = `${key} `;
    return output.lines.filter(l => l.startsWith(prefix)).map(l => l.slice(prefix.length));
}
function value(output, key) {
    return values(output, key)[0];
}
/** An `error <kind> <message>` line, if the script printed one. */
function scriptError(output) {
    const line = value(output, 'error');
    if (line === undefined)
        return undefined;
    const space = line.indexOf(' ');
    return space < 0
        ? { kind: line, message: line }
        : { kind: line.slice(0, space), message: line.slice(space + 1) };
}


/***/ }),

/***/ 2959:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   BE: () => (/* binding */ relativePathProblem),
/* harmony export */   DJ: () => (/* binding */ resolvedDeployDir),
/* harmony export */   Dy: () => (/* binding */ parseUmask),
/* harmony export */   KK: () => (/* binding */ parseLinkList),
/* harmony export */   L_: () => (/* binding */ SERVER_LIMITS),
/* harmony export */   RW: () => (/* binding */ releaseDirectories),
/* harmony export */   SP: () => (/* binding */ shown),
/* harmony export */   VV: () => (/* binding */ parsePrefetch),
/* harmony export */   nZ: () => (/* binding */ isSetAsideTree),
/* harmony export */   xC: () => (/* binding */ liveReleaseOf)
/* harmony export */ });
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(6506);
/* harmony import */ var _release_release_id_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(2734);
/* harmony import */ var _ssh_remote_host_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(5951);
/**
 * The trust boundary on the runner's side: every value read back from a server is parsed and
 * checked here before it steers anything. The runner, the inputs and the verified host key are
 * trusted; what a server reports about its files is not (another local account, a damaged
 * directory or a hand edit may have put anything there). A value that fails is either a clear
 * error that names the file and the fix, or it is not used at all, and the log says so.
 */



/**
 * Upper bounds on what the runner accepts from a server, so that no server state can make the
 * runner's memory grow without bound. Documented in the README (Security).
 */
const SERVER_LIMITS = {
    /** .atomic-deploy/log: about 25,000 events; every deploy compacts it to a few dozen. */
    logBytes: 1024 * 1024,
    /** A stored manifest as sent (gzip): a 50,000-file manifest is about 2 MB. */
    manifestBytes: 32 * 1024 * 1024,
    /** A stored manifest once unpacked (JSON): about 400,000 files. Stops a gzip bomb. */
    manifestJsonBytes: 64 * 1024 * 1024,
    /** .atomic-deploy/manifests/<id>.links: the shared links of a release. */
    linksBytes: 1024 * 1024,
    /**
     * .atomic-deploy/manifests/<id>.listing, read back by an SFTP-only deploy's drift check (a
     * shell deploy compares it on the server): about 400,000 paths.
     */
    listingBytes: 64 * 1024 * 1024,
    /** .atomic-deploy/lock/owner: one line of JSON (the shell scripts send its first 4,000 bytes). */
    ownerBytes: 4000,
    /** Everything one script prints on stdout (the blobs above, plus result lines). */
    scriptOutputBytes: _ssh_remote_host_js__WEBPACK_IMPORTED_MODULE_1__/* .SCRIPT_OUTPUT_LIMIT */ .Y,
    /** One line of stderr (hook output); a longer one is cut into pieces of this size. */
    stderrLineBytes: _ssh_remote_host_js__WEBPACK_IMPORTED_MODULE_1__/* .STDERR_LINE_LIMIT */ .A
};
/** A readable rendering of untrusted text for a message: control characters made visible, cut short. */
function shown(text, max = 200) {
    // eslint-disable-next-line no-control-regex
    const visible = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, c => {
        const code = c.charCodeAt(0);
        return code <= 0xff
            ? `\\x${code.toString(16).padStart(2, '0')}`
            : `\\u${code.toString(16).padStart(4, '0')}`;
    });
    return visible.length > max ? `${visible.slice(0, max)}...` : visible;
}
/**
 * The release `current` points to. Only the forms atomic-deploy writes are accepted:
 * `releases/<id>` (relative, as every switch makes it) or `<deployDir>/releases/<id>`, with a
 * valid release id. Anything else is an error: the live site is not where this action put it.
 */
function liveReleaseOf(target, deployDir) {
    const clean = target.length > 1 ? target.replace(/\/+$/, '') : target;
    let id;
    if (clean.startsWith('releases/'))
        id = clean.slice('releases/'.length);
    else if (clean.startsWith(`${deployDir}/releases/`))
        id = clean.slice(`${deployDir}/releases/`.length);
    if (id === undefined || (0,_release_release_id_js__WEBPACK_IMPORTED_MODULE_2__/* .releaseIdProblem */ .co)(id) !== undefined) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ServerDataError */ .Sy(`${deployDir}/current points to '${shown(target)}', which is not a release of this deploy directory (expected releases/<id>). Nothing was changed. If a release is live, point current at it ('ln -sfn releases/<id> ${deployDir}/current'); if none is, remove current.`);
    }
    return id;
}
/**
 * Names of real directories in releases/ as the server listed them. Names that are not release
 * ids are not releases of ours: they are never used, and never touched.
 */
function releaseDirectories(names) {
    return new Set(names.filter(name => (0,_release_release_id_js__WEBPACK_IMPORTED_MODULE_2__/* .releaseIdProblem */ .co)(name) === undefined));
}
/**
 * Whether `name`, an entry of releases/, is a tree a run set aside to remove, by the exact names
 * the shell scripts give them: `.aborting.<release id>.<pid>` (lib/release.sh, cleanup_release)
 * and `.pruning.<release id>.<pid>` (lib/finish.sh, prune_aside). A cut run leaves one behind;
 * any other name is not ours, and is never touched.
 */
function isSetAsideTree(name) {
    const parts = /^\.(?:aborting|pruning)\.(.+)\.[0-9]{1,10}$/.exec(name);
    return parts !== null && (0,_release_release_id_js__WEBPACK_IMPORTED_MODULE_2__/* .releaseIdProblem */ .co)(parts[1]) === undefined;
}
/** A segment that may be empty, '.' or '..' (then relativePathProblem looks closer). */
const MAYBE_BAD_SEGMENT = /(^|\/)\.{0,2}(\/|$)/;
/** Why `rel` is not a safe relative path inside a directory, or undefined when it is. */
function relativePathProblem(rel, options = {}) {
    if (rel === '')
        return 'it is empty';
    if (rel.includes('\0'))
        return 'it contains a NUL byte';
    if (!options.newline && /[\r\n]/.test(rel))
        return 'it contains a line break';
    if (rel.startsWith('/'))
        return 'it is absolute';
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: only a long path needs counting.
    if (rel.length > 1365 && Buffer.byteLength(rel) > 4096)
        return 'it is longer than 4096 bytes';
    // Read back by the 50,000 from a view: most paths have no segment that is empty, '.' or
    // '..', which one test tells, before they are split to name the one that is.
    if (!MAYBE_BAD_SEGMENT.test(rel))
        return undefined;
    for (const segment of rel.split('/')) {
        if (segment === '')
            return 'it has an empty segment';
        if (segment === '.' || segment === '..')
            return `it has a '${segment}' segment`;
    }
    return undefined;
}
/**
 * A release's shared-link list (`.atomic-deploy/manifests/<id>.links`): one relative path a line
 * (a line break or % in a name percent-encoded), each naming a link the release holds into
 * shared/. The next release's copy removes these, so
 * every line must stay inside the release.
 */
function parseLinkList(data, file) {
    // A line break or a % in a name is written percent-encoded (record_link in release.sh).
    const decode = (line) => line.replace(/%(25|0A)/g, (_, code) => (code === '25' ? '%' : '\n'));
    if (data.length > SERVER_LIMITS.linksBytes) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ServerDataError */ .Sy(`${file} is ${data.length} bytes, over the limit of ${SERVER_LIMITS.linksBytes}`);
    }
    const text = data.toString('utf8');
    const links = [];
    text.split('\n').forEach((line, index) => {
        if (line === '')
            return;
        const path = decode(line);
        const problem = relativePathProblem(path, { newline: true });
        if (problem) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ServerDataError */ .Sy(`${file} line ${index + 1} ('${shown(line)}') is not a path inside the release: ${problem}`);
        }
        links.push(path);
    });
    return links;
}
/** The `path` line of the inspect script: the resolved, absolute deploy directory. */
function resolvedDeployDir(line, pathInput) {
    const problem = line === undefined
        ? 'the server did not report it'
        : !line.startsWith('/')
            ? 'it is not absolute'
            : /[\0\r\n]/.test(line)
                ? 'it contains a control character'
                : line !== '/' &&
                    line
                        .split('/')
                        .slice(1)
                        .some(s => s === '' || s === '.' || s === '..')
                    ? 'it is not a plain absolute path'
                    : undefined;
    if (problem) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ServerDataError */ .Sy(`the server resolved path '${shown(pathInput)}' to '${shown(line ?? '')}': ${problem}. Use an absolute path that names the deploy directory directly.`);
    }
    return line;
}
/** The login umask the inspect script reports (`022`, `0002`...). */
function parseUmask(text) {
    if (text === undefined || !/^[0-7]{1,4}$/.test(text)) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ServerDataError */ .Sy(`the server reported umask '${shown(text ?? '')}', which is not octal`);
    }
    return parseInt(text, 8) & 0o777;
}
/**
 * The copy of the live release the new one starts from: `<name> <release id>`, as the inspect
 * script reports the copy it started at lock time, with a third word `spare` for the copy the
 * previous deploy left.
 */
function parsePrefetch(text) {
    if (text === undefined)
        return undefined;
    const [name, from, ...rest] = text.split(' ');
    const spare = rest.length === 1 && rest[0] === 'spare';
    if ((rest.length > 0 && !spare) ||
        name === undefined ||
        from === undefined ||
        !/^base\.[A-Za-z0-9]{1,64}$/.test(name) ||
        (0,_release_release_id_js__WEBPACK_IMPORTED_MODULE_2__/* .releaseIdProblem */ .co)(from) !== undefined) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ServerDataError */ .Sy(`the server reported a base copy '${shown(text)}' of an unknown form`);
    }
    return { name, from, spare };
}


/***/ }),

/***/ 4590:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Dh: () => (/* binding */ readLockOwner),
/* harmony export */   Ru: () => (/* binding */ finishOverSftp),
/* harmony export */   aP: () => (/* binding */ unlockOverSftp),
/* harmony export */   se: () => (/* binding */ abortOverSftp),
/* harmony export */   yR: () => (/* binding */ releaseLockOverSftp)
/* harmony export */ });
/* harmony import */ var _sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(785);
/* harmony import */ var _sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(8547);
/* harmony import */ var _removal_guard_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(4145);
/* harmony import */ var _server_data_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(2959);
/* harmony import */ var _sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(4579);





/** The owner record of the lock, when there is one to read. */
function readLockOwner(files, deployDir) {
    return readOwner(files, (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .layoutOf */ .aH)(deployDir));
}
async function readOwner(files, L) {
    const owner = await (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .readRecord */ .aE)(files, L.owner, _server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .SERVER_LIMITS */ .L_.ownerBytes).catch(() => undefined);
    return owner?.toString('utf8');
}
/** Whether an owner record (as read) is this run's: it holds the run's own random token. */
function holds(owner, token) {
    return token !== undefined && token !== '' && owner !== undefined && owner.includes(token);
}
/**
 * Remove the lock, given its owner record as read: only when the record holds `token`. The
 * lock holds the record (and a temporary file, if its writing was cut): one burst removes
 * both, and whatever else is there is removed as a tree. True when it was ours and is gone.
 */
async function removeOwnLock(files, deployDir, owner, token) {
    if (!holds(owner, token))
        return false;
    const L = (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .layoutOf */ .aH)(deployDir);
    const guard = (0,_removal_guard_js__WEBPACK_IMPORTED_MODULE_2__/* .removalGuard */ .oL)({ deployDir, protectedReleases: [] });
    guard.check(L.owner);
    guard.check(L.lock);
    const [, removed] = await Promise.allSettled([files.unlink(L.owner), files.rmdir(L.lock)]);
    if (removed.status === 'rejected')
        await (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTree */ .dM)(files, L.lock, { guard });
    return true;
}
/** Remove the lock if its owner record holds `token`. True when it was ours and is gone. */
async function releaseLockOverSftp(files, deployDir, token) {
    const owner = await readOwner(files, (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .layoutOf */ .aH)(deployDir));
    return removeOwnLock(files, deployDir, owner, token);
}
/** Append to the release log: through the handle this run holds open, or opening it. */
async function appendLog(files, L, logFile, text) {
    if (logFile)
        await logFile.append(Buffer.from(text));
    else
        await files.appendFile(L.log, Buffer.from(text), _sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .MODES */ .FN.privateFile);
}
/**
 * Remove a release that will not go live (never the one `current` points to), put back the
 * shared paths it seeded or created (only those of this run's shared-paths), and release the
 * lock. What can go at once does.
 */
async function abortOverSftp(o) {
    const { files } = o;
    const L = (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .layoutOf */ .aH)(o.deployDir);
    const id = o.releaseId;
    const [seeded, owner] = await Promise.all([
        id !== undefined
            ? (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .readRecord */ .aE)(files, L.seeded(id), _server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .SERVER_LIMITS */ .L_.linksBytes).catch(error => {
                if (error instanceof _sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .TooLargeError */ .qB)
                    return undefined;
                throw error;
            })
            : undefined,
        o.lockToken !== undefined ? readOwner(files, L) : undefined
    ]);
    let aborted = false;
    if (id !== undefined) {
        const guard = (0,_removal_guard_js__WEBPACK_IMPORTED_MODULE_2__/* .removalGuard */ .oL)({ deployDir: o.deployDir, protectedReleases: o.protectedReleases });
        const listed = new Set((o.sharedPaths ?? []).map(p => p.replace(/\/$/, '')));
        // Shared paths this release seeded or created go back to how they were: absent. The record
        // is read back from the server: only paths of this run's shared-paths are acted on (a
        // record for this id can have been planted: ids are predictable), and each passes the guard.
        const restore = async () => {
            for (const line of seeded?.toString('utf8').split('\n') ?? []) {
                const space = line.indexOf(' ');
                const [kind, rel] = [line.slice(0, space), line.slice(space + 1)];
                if (space < 0 || (kind !== 'seeded' && kind !== 'created'))
                    continue;
                if (!listed.has(rel) || (0,_server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .relativePathProblem */ .BE)(rel) !== undefined) {
                    o.log.warning(`the seed record of ${id} names shared/${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .shown */ .SP)(rel)}, which is not in shared-paths; it was left alone`);
                    continue;
                }
                const shared = `${L.shared}/${rel}`;
                try {
                    if (kind === 'seeded')
                        await (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTree */ .dM)(files, shared, { guard });
                    else {
                        await guard.confirm(files, [shared]);
                        await files.rmdir(shared).catch(() => undefined);
                    }
                }
                catch (error) {
                    if (!(error instanceof _removal_guard_js__WEBPACK_IMPORTED_MODULE_2__/* .RemovalRefusedError */ .hg))
                        throw error;
                    o.log.warning(`shared/${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .shown */ .SP)(rel)} was not removed: ${error.message}`);
                }
            }
            if (seeded)
                await (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTree */ .dM)(files, L.seeded(id), { guard });
        };
        // The release and its records go together, or not at all (as cleanup_release's guarded_rm).
        const removal = (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTrees */ .Ui)(files, [L.release(id), ...L.records(id), L.revision(id)], {
            guard
        }).then(() => true, (error) => {
            if (!(error instanceof _removal_guard_js__WEBPACK_IMPORTED_MODULE_2__/* .RemovalRefusedError */ .hg))
                throw error;
            o.log.warning(`release ${id} was not removed: ${error.message}`);
            return false;
        });
        const [removed] = await Promise.all([removal, (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTree */ .dM)(files, L.tmp, { guard }), restore()]);
        if (removed) {
            aborted = true;
            await appendLog(files, L, o.logFile, (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .logLine */ .BP)('abort', id));
        }
    }
    void o.logFile?.close();
    const unlocked = o.lockToken !== undefined ? await removeOwnLock(files, o.deployDir, owner, o.lockToken) : false;
    return { aborted, unlocked };
}
/** Phase 9: prune, record events, compact the release log, release the lock. */
async function finishOverSftp(o) {
    const { files } = o;
    const L = (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .layoutOf */ .aH)(o.deployDir);
    const owner = await (o.owner ?? (o.lockToken !== undefined ? readOwner(files, L) : undefined));
    // Other releases, the log's history and the seed records are every run's: only while the lock
    // is still this run's.
    const ours = holds(owner, o.lockToken);
    if (!ours && o.prune.length + o.forget.length + o.seedRecords.length > 0)
        o.log.warning(`the lock on ${o.deployDir} is no longer this run's: nothing was pruned`);
    const prune = ours ? o.prune : [];
    const forget = ours ? o.forget : [];
    const oldLog = forget.length > 0
        ? await (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .readRecord */ .aE)(files, L.log, _server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .SERVER_LIMITS */ .L_.logBytes).catch(error => {
            if (!(error instanceof _sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .TooLargeError */ .qB))
                throw error;
            o.log.warning(`${L.log} is over the limit of ${_server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .SERVER_LIMITS */ .L_.logBytes} bytes: it was not compacted`);
            return null;
        })
        : undefined;
    const guard = (0,_removal_guard_js__WEBPACK_IMPORTED_MODULE_2__/* .removalGuard */ .oL)({ deployDir: o.deployDir, protectedReleases: o.protectedReleases });
    const pruned = [];
    // Seed records are done with once a release is live: removed beside the rest.
    const seeds = ours
        ? (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTrees */ .Ui)(files, o.seedRecords
            .filter(name => /^seeded\.[A-Za-z0-9._-]+$/.test(name))
            .map(name => `${L.meta}/${name}`), { guard })
        : Promise.resolve([]);
    seeds.catch(() => undefined);
    await Promise.all(prune.map(async (id) => {
        try {
            // The release and its records by name (as finish.sh): a pattern such as "<id>.*" would
            // also match the records of a release whose id merely starts with this one and a dot.
            await (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTrees */ .Ui)(files, [L.release(id), ...L.records(id), L.revision(id)], {
                guard,
                ...(o.hints ? { hints: o.hints } : {})
            });
        }
        catch (error) {
            if (!(error instanceof _removal_guard_js__WEBPACK_IMPORTED_MODULE_2__/* .RemovalRefusedError */ .hg))
                throw error;
            o.log.warning(`not pruned: release ${id}: ${error.message}`);
            return;
        }
        pruned.push(id);
    }));
    const added = o.events.map(([event, id]) => (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .logLine */ .BP)(event, id)).join('');
    let logged;
    if (forget.length > 0 && oldLog !== null) {
        const gone = new Set(forget);
        const kept = (oldLog?.toString('utf8') ?? '')
            .split('\n')
            .filter(line => line !== '' && !gone.has(line.split('\t')[1] ?? ''))
            .map(line => `${line}\n`)
            .join('');
        // A new file replaces the log: a handle held open on the old one is of no more use.
        await o.logFile?.close();
        await files.writeFile(L.log, Buffer.from(kept + added), {
            mode: _sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .MODES */ .FN.privateFile,
            temporaryDir: L.meta
        });
        logged = Promise.resolve();
    }
    else {
        logged = added === '' ? Promise.resolve() : appendLog(files, L, o.logFile, added);
        logged.catch(() => undefined);
    }
    // The lock goes right behind the log's last line: the server handles them in that order
    // (draft-ietf-secsh-filexfer-02, section 6.1), as the shell script does one after the other.
    const unlocked = o.lockToken !== undefined
        ? removeOwnLock(files, o.deployDir, owner, o.lockToken)
        : Promise.resolve(false);
    unlocked.catch(() => undefined);
    try {
        await Promise.all([logged, seeds]);
    }
    finally {
        // Its answer is not waited for: the handle goes with the session anyway.
        void o.logFile?.close();
    }
    return { pruned, unlocked: await unlocked };
}
/**
 * mode: unlock over SFTP. Reports the owner record of the lock it removed (its first 4,000
 * bytes, as unlock.sh sends it), the resolved deploy directory and current's target, all as
 * read: the caller checks them (server-data.ts) before any reaches an output.
 */
async function unlockOverSftp(files, path) {
    let resolved;
    try {
        resolved = await files.realpath(path);
    }
    catch (error) {
        if (!(0,_sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .isMissing */ .b2)(error))
            throw error;
        return { locked: false };
    }
    // Nothing is removed in a directory whose resolved name is not a plain absolute path.
    const deployDir = (0,_server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .resolvedDeployDir */ .DJ)(resolved, path);
    const L = (0,_sftp_layout_js__WEBPACK_IMPORTED_MODULE_4__/* .layoutOf */ .aH)(deployDir);
    const [lock, current] = await Promise.all([
        files.lstat(L.lock),
        files.readlink(L.current).catch(() => undefined)
    ]);
    const found = { deployDir, ...(current !== undefined ? { current } : {}) };
    if (lock?.type !== 'dir')
        return { locked: false, ...found };
    const owner = await files
        .readFile(L.owner, 64 * 1024)
        .then(data => data.subarray(0, _server_data_js__WEBPACK_IMPORTED_MODULE_3__/* .SERVER_LIMITS */ .L_.ownerBytes).toString('utf8'))
        .catch(() => undefined);
    const guard = (0,_removal_guard_js__WEBPACK_IMPORTED_MODULE_2__/* .removalGuard */ .oL)({ deployDir, protectedReleases: [] });
    await (0,_sftp_sftp_tree_js__WEBPACK_IMPORTED_MODULE_1__/* .removeTree */ .dM)(files, L.lock, { guard });
    return { locked: true, ...(owner !== undefined ? { owner: owner.trim() } : {}), ...found };
}


/***/ }),

/***/ 4579:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   BP: () => (/* binding */ logLine),
/* harmony export */   Bo: () => (/* binding */ layoutDirProblem),
/* harmony export */   FN: () => (/* binding */ MODES),
/* harmony export */   KH: () => (/* binding */ linkListText),
/* harmony export */   aE: () => (/* binding */ readRecord),
/* harmony export */   aH: () => (/* binding */ layoutOf),
/* harmony export */   mH: () => (/* binding */ COMPACT_SUFFIXES)
/* harmony export */ });
/* harmony import */ var _sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(785);
/* harmony import */ var _server_data_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(2959);


function layoutOf(dir) {
    const meta = `${dir}/.atomic-deploy`;
    return {
        dir,
        releases: `${dir}/releases`,
        shared: `${dir}/shared`,
        cache: `${dir}/cache`,
        current: `${dir}/current`,
        meta,
        lock: `${meta}/lock`,
        owner: `${meta}/lock/owner`,
        log: `${meta}/log`,
        manifests: `${meta}/manifests`,
        revisions: `${meta}/revisions`,
        tmp: `${meta}/tmp`,
        cacheManifest: `${meta}/cache.manifest.json.gz`,
        cacheStem: `${meta}/cache`,
        cachePending: `${meta}/cache.pending`,
        release: id => `${dir}/releases/${id}`,
        manifest: id => `${meta}/manifests/${id}.json.gz`,
        manifestStem: id => `${meta}/manifests/${id}`,
        links: id => `${meta}/manifests/${id}.links`,
        listing: id => `${meta}/manifests/${id}.listing`,
        ready: id => `${meta}/manifests/${id}.ready`,
        hook: id => `${meta}/manifests/${id}.hook`,
        revision: id => `${meta}/revisions/${id}.json`,
        seeded: id => `${meta}/seeded.${id}`,
        records: id => [...COMPACT_SUFFIXES, 'json.gz', 'links', 'listing', 'ready', 'hook'].map(s => `${meta}/manifests/${id}.${s}`)
    };
}
/** The suffixes of a compact manifest's records (see Layout.manifestStem). */
const COMPACT_SUFFIXES = ['m2', 'digest', 'view.gz', 'view'];
/** One release-log line, as the shell scripts write it: `event<TAB>id<TAB>time`. */
function logLine(event, id, now = new Date()) {
    return `${event}\t${id}\t${now.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n`;
}
/**
 * A record read back from .atomic-deploy/: its bytes, or undefined when it is missing or is not
 * a regular file (never read through a symlink, as the shell scripts' `blob`). A record over
 * `limit` throws TooLargeError, unread.
 */
async function readRecord(files, path, limit, signal, 
/** Opened at once, read only if this resolves true (RemoteFiles.readFile). */
when) {
    try {
        return await files.readFile(path, limit, signal, when);
    }
    catch (error) {
        if ((0,_sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .isMissing */ .b2)(error) || error instanceof _sftp_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .NotRegularFileError */ .iZ)
            return undefined;
        throw error;
    }
}
/**
 * Modes over SFTP, as the shell scripts leave them (they run under umask 077 and create what
 * users read under the login's umask plus o-w): the metadata directory, the lock and every
 * record are private; releases/ and shared/ are the server's umask's, less o-w.
 */
const MODES = {
    /** .atomic-deploy/, its lock, manifests/, revisions/ and tmp/. */
    privateDir: 0o700,
    /** Every record in .atomic-deploy/ (the log, manifests, listings, owner, seed records). */
    privateFile: 0o600,
    /** releases/, shared/, cache/, asked of mkdir: the server's umask applies. */
    layoutDir: 0o775
};
/**
 * Why a layout directory may not be written into, as lib/guard.sh's real_dir says it (the same
 * words): a symlink, not a directory, another user's, or writable by every user. `attrs` are
 * its lstat (or its entry in its parent's listing: sftp-server takes those with lstat); `uid`
 * the deploy user's, when known (learned from the lock this run made); `owner` the owner's name
 * as the listing shows it. Undefined when it may be written into, or is missing.
 */
function layoutDirProblem(name, attrs, who, extra = {}) {
    if (!attrs)
        return undefined;
    if (attrs.type === 'symlink')
        return `${name} is a symlink${extra.target !== undefined ? ` (to ${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_1__/* .shown */ .SP)(extra.target)})` : ''}; atomic-deploy writes only into real directories. Replace it with the directory itself`;
    if (attrs.type !== 'dir')
        return `${name} exists and is not a directory`;
    if (who.uid !== undefined && who.uid >= 0 && attrs.uid >= 0 && attrs.uid !== who.uid) {
        // In a chroot, sftp-server cannot name users: its listing then shows the number alone.
        const owner = extra.owner !== undefined && !/^\d*$/.test(extra.owner)
            ? `${(0,_server_data_js__WEBPACK_IMPORTED_MODULE_1__/* .shown */ .SP)(extra.owner, 64)} (user id ${attrs.uid})`
            : `user id ${attrs.uid}`;
        return `${name} is owned by ${owner}, not by ${who.user} (user id ${who.uid}); atomic-deploy writes only into directories of the deploy user. Give it to that user (chown)`;
    }
    if (attrs.mode & 0o002)
        return `${name} is writable by every user (mode ${attrs.mode.toString(8)}), so anybody could swap what is in it. Remove that (chmod o-w)`;
    return undefined;
}
/**
 * A release's shared-link list as the shell scripts write it (record_link in release.sh): one
 * path a line, a line break or a % in a name percent-encoded; parseLinkList reads it back.
 */
function linkListText(links) {
    return links
        .map(l => `${/[\n%]/.test(l) ? l.replace(/%/g, '%25').replace(/\n/g, '%0A') : l}\n`)
        .join('');
}


/***/ }),

/***/ 8094:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   k: () => (/* binding */ systemDirectoryProblem),
/* harmony export */   u: () => (/* binding */ SYSTEM_DIRECTORIES)
/* harmony export */ });
/**
 * Directories a deploy must never take over. The runner checks an absolute `path` against them
 * before connecting; the server's inspect script checks the resolved path again, since a
 * relative path or a symlink is only known there.
 */
// Directories whose replacement by a deploy would break the machine, refused exactly...
const SYSTEM_EXACT = new Set([
    '/',
    '/bin',
    '/boot',
    '/dev',
    '/etc',
    '/home',
    '/lib',
    '/lib32',
    '/lib64',
    '/libx32',
    '/media',
    '/mnt',
    '/opt',
    '/proc',
    '/root',
    '/run',
    '/sbin',
    '/srv',
    '/sys',
    '/tmp',
    '/usr',
    '/usr/bin',
    '/usr/lib',
    '/usr/lib32',
    '/usr/lib64',
    '/usr/libexec',
    '/usr/local',
    '/usr/local/bin',
    '/usr/local/lib',
    '/usr/local/sbin',
    '/usr/sbin',
    '/usr/share',
    '/usr/src',
    '/usr/include',
    '/var',
    '/var/cache',
    '/var/lib',
    '/var/log',
    '/var/mail',
    '/var/spool',
    '/var/tmp',
    '/var/run'
]);
// ...and these trees, refused with everything below them.
const SYSTEM_TREES = [
    '/bin/',
    '/boot/',
    '/dev/',
    '/etc/',
    '/lib/',
    '/lib32/',
    '/lib64/',
    '/proc/',
    '/run/',
    '/sbin/',
    '/sys/',
    '/usr/bin/',
    '/usr/sbin/',
    '/usr/lib/'
];
/** The reason a normalised absolute path is a system directory, or undefined. */
function systemDirectoryProblem(absolute) {
    const p = absolute.length > 1 ? absolute.replace(/\/+$/, '') : absolute;
    if (SYSTEM_EXACT.has(p))
        return `'${p}' is a system directory`;
    const tree = SYSTEM_TREES.find(t => (p + '/').startsWith(t));
    if (tree)
        return `'${p}' is inside the system directory ${tree.slice(0, -1)}`;
    return undefined;
}
const SYSTEM_DIRECTORIES = { exact: [...SYSTEM_EXACT], trees: SYSTEM_TREES };


/***/ }),

/***/ 785:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   CB: () => (/* binding */ SftpEngine),
/* harmony export */   G3: () => (/* binding */ SftpError),
/* harmony export */   YQ: () => (/* binding */ SftpStatus),
/* harmony export */   aA: () => (/* binding */ MAX_REQUESTS),
/* harmony export */   b2: () => (/* binding */ isMissing),
/* harmony export */   iZ: () => (/* binding */ NotRegularFileError),
/* harmony export */   qB: () => (/* binding */ TooLargeError),
/* harmony export */   x7: () => (/* binding */ LISTING_LIMIT)
/* harmony export */ });
/* unused harmony exports limitsFor, attributesOf, checkEntryName */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7598);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3024);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6506);
/**
 * A pipelined SFTP client. Per-file SFTP is slow only when it is done one request at a time
 * (ssh2-sftp-client's uploadDir: 4 or more round trips a file, 248 s for 3,344 files at 40 ms):
 * SFTP lets a client keep many requests in flight on one channel, and then the round-trip time
 * stops mattering. Here every operation is a request queued in order; requests leave at once
 * while three bounds allow: requests in flight, bytes in flight (about the server's channel
 * window, so ssh2 never has to buffer much more), and open handles (below the server's
 * limits@openssh.com). Many files are open at once, each written with all its chunks in flight.
 *
 * Requests leave in the order they were made, and OpenSSH's sftp-server answers them in order
 * (one loop, one request at a time), which the switch relies on; everything else waits for the
 * answers it depends on.
 */



/** SFTP status codes (draft-ietf-secsh-filexfer-02, section 7) the engine tells apart. */
const SftpStatus = {
    EOF: 1,
    NO_SUCH_FILE: 2,
    PERMISSION_DENIED: 3,
    FAILURE: 4,
    OP_UNSUPPORTED: 8
};
/**
 * A failed SFTP request. `code` is the server's status; undefined when no answer came (the
 * connection was lost), so whether the request took effect is unknown.
 */
class SftpError extends Error {
    code;
    path;
    name = 'SftpError';
    constructor(message, code, path) {
        super(message);
        this.code = code;
        this.path = path;
    }
}
function isMissing(error) {
    return error instanceof SftpError && error.code === SftpStatus.NO_SUCH_FILE;
}
/** A file read back that is larger than the caller accepts: it was not read past the limit. */
class TooLargeError extends Error {
    path;
    size;
    limit;
    name = 'TooLargeError';
    constructor(path, 
    /** Bytes, as far as they are known (the file's size, or what was read when it grew). */
    size, limit) {
        super(`${path} is ${size} bytes, over the limit of ${limit}`);
        this.path = path;
        this.size = size;
        this.limit = limit;
    }
}
/**
 * A file read back as a record that is not a regular file (a symlink, a FIFO, a directory):
 * never read through, as the shell scripts' `blob` never reads one.
 */
class NotRegularFileError extends Error {
    path;
    type;
    name = 'NotRegularFileError';
    constructor(path, type) {
        super(`${path} is a ${type === 'other' ? 'special file' : type}, not a regular file`);
        this.path = path;
        this.type = type;
    }
}
/** Names in one directory listing, and entries in one walk, accepted from a server. */
const LISTING_LIMIT = 1_000_000;
/** Bounds from what the server said, never more than is useful or than memory should hold. */
/** Requests the engine lets be in flight at once on one session (EngineLimits.requests). */
const MAX_REQUESTS = 8192;
function limitsFor(facts) {
    // What the server allows, less a few (OpenSSH's sftp-server announces its descriptor limit
    // less the five it uses itself), and no more than a few thousand. A server-side copy holds
    // two handles for one round trip (its slots are given back once its closes are queued): on a
    // host with the usual limit of 1,024 descriptors, about 500 copies are under way at once.
    const handles = facts.maxOpenHandles === undefined
        ? 64
        : Math.max(4, Math.min(4096, Math.floor(facts.maxOpenHandles) - 16));
    return {
        requests: MAX_REQUESTS,
        // OpenSSH grants a session channel 2 MB; bytes beyond the window wait in ssh2's memory.
        bytes: Math.min(Math.max(facts.windowBytes ?? 2 * 1024 * 1024, 256 * 1024), 8 * 1024 * 1024),
        handles,
        writeChunk: Math.min(facts.maxWriteLength, 256 * 1024),
        readChunk: Math.min(facts.maxReadLength, 256 * 1024)
    };
}
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
function attributesOf(stats) {
    const format = stats.mode & S_IFMT;
    return {
        type: format === S_IFREG
            ? 'file'
            : format === S_IFDIR
                ? 'dir'
                : format === S_IFLNK
                    ? 'symlink'
                    : 'other',
        mode: stats.mode & 0o7777,
        size: stats.size,
        mtime: stats.mtime,
        // sftp-server always sends the owner (SSH_FILEXFER_ATTR_UIDGID); a server that does not
        // leaves it unknown, and the layout check then refuses (see sftp-layout.ts).
        uid: typeof stats.uid === 'number' ? stats.uid : -1
    };
}
/**
 * A name from a directory listing is server data: it becomes part of paths the deploy removes,
 * so anything that is not one plain path segment is refused.
 */
function checkEntryName(dir, name) {
    if (typeof name !== 'string' ||
        name === '' ||
        name === '.' ||
        name === '..' ||
        name.includes('/') ||
        name.includes('\0')) {
        throw new Error(`the server listed an invalid name in ${dir}: ${JSON.stringify(name)}`);
    }
    return name;
}
function bufferSource(data) {
    return {
        size: data.length,
        fill: (into, offset, length) => void data.copy(into, 0, offset, offset + length),
        finish: () => undefined,
        close: () => undefined
    };
}
function localSource(file) {
    const fd = (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.openSync)(file.local, 'r');
    const hash = file.sha256 ? (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256') : undefined;
    let read = 0;
    const changed = () => new Error(`${file.local} changed while it was being sent (the manifest says ${file.size} bytes${file.sha256 ? ` with sha256 ${file.sha256.slice(0, 12)}…` : ''}); is a build still writing to the source?`);
    return {
        size: file.size,
        fill: (into, offset, length) => {
            let got = 0;
            while (got < length) {
                const n = (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.readSync)(fd, into, got, length - got, offset + got);
                if (n === 0)
                    throw changed();
                got += n;
            }
            hash?.update(into.subarray(0, length));
            read += length;
        },
        finish: () => {
            // The file must end where the manifest says it does, with the content it hashed.
            const probe = Buffer.allocUnsafe(1);
            if (read !== file.size || (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.readSync)(fd, probe, 0, 1, file.size) !== 0)
                throw changed();
            if (hash && hash.digest('hex') !== file.sha256)
                throw changed();
        },
        close: () => (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.closeSync)(fd)
    };
}
const SCRATCH = { buffer: Buffer.alloc(0) };
/** One buffer that every WRITE is filled from: ssh2 copies the data into its packet at once. */
function scratch(size) {
    if (SCRATCH.buffer.length < size)
        SCRATCH.buffer = Buffer.allocUnsafe(size);
    return SCRATCH.buffer;
}
class SftpEngine {
    sftp;
    label;
    beforeSend;
    idle;
    limits;
    abilities;
    inFlight = 0;
    bytesInFlight = 0;
    queue = [];
    head = 0;
    freeHandles;
    handleWaiters = [];
    lost;
    /** What every request fails with once the session is given up (a lost channel, a stall). */
    lostError;
    /** What waits on each abort signal (see onAbort). */
    watched = new WeakMap();
    /**
     * Requests in flight, oldest first, each with what it is: to fail when the channel closes
     * under them, and to name the oldest when the server stops answering.
     */
    pending = new Map();
    /** When the server last answered a request (or the first of a burst left, after a pause). */
    lastProgress = 0;
    watchdog;
    constructor(sftp, label, facts, limits = {}, 
    /**
     * Called before each request leaves: the connection gathers the requests that leave in one
     * turn of the event loop into one write (many small SSH packets, one system call).
     */
    beforeSend = () => undefined, 
    /**
     * command-timeout: requests outstanding with no answer to any of them for this long end
     * the session with the error it makes, never a wait for ever.
     */
    idle) {
        this.sftp = sftp;
        this.label = label;
        this.beforeSend = beforeSend;
        this.idle = idle;
        this.limits = { ...limitsFor(facts), ...limits };
        this.freeHandles = this.limits.handles;
        const has = (name, version) => 
        // Unknown extensions: assume OpenSSH's; ssh2 refuses to send one the server did not list.
        facts.extensions === undefined || facts.extensions.get(name) === version;
        this.abilities = {
            hardlink: has('hardlink@openssh.com', '1'),
            copyData: has('copy-data', '1'),
            posixRename: has('posix-rename@openssh.com', '1'),
            statvfs: has('statvfs@openssh.com', '2')
        };
        sftp.once('close', () => this.fail('the SFTP session closed'));
    }
    /** The channel closed: nothing more can be sent, and nothing in flight will be answered. */
    fail(reason, cause) {
        if (this.lost !== undefined)
            return;
        this.lost = reason;
        clearTimeout(this.watchdog);
        const error = cause ?? new SftpError(`${this.label}: connection lost (${reason})`, undefined, '');
        this.lostError = cause;
        for (const reject of [...this.pending.keys()])
            reject(error);
        const waiting = this.queue.slice(this.head);
        this.queue = [];
        this.head = 0;
        for (const w of waiting)
            if (!w.cancelled)
                w.start();
    }
    /**
     * The watchdog of command-timeout: one timer for the whole session, however many requests are
     * in flight. With thousands pipelined, a request may wait long behind the others while the
     * server answers steadily; what is bounded is a server that answers none of them. A stalled
     * session is given up: its requests fail, and the channel is closed (the session starts
     * again when it is next needed).
     */
    watch() {
        const idle = this.idle;
        if (!idle || this.watchdog !== undefined || this.lost !== undefined)
            return;
        const check = () => {
            this.watchdog = undefined;
            if (this.pending.size === 0 || this.lost !== undefined)
                return;
            const quiet = Date.now() - this.lastProgress;
            if (quiet < idle.ms) {
                this.watchdog = setTimeout(check, idle.ms - quiet);
                return;
            }
            const [oldest = 'an SFTP request'] = this.pending.values();
            this.fail('no answer', idle.stalled(oldest));
            try {
                this.sftp.end();
            }
            catch {
                // Already closing.
            }
        };
        this.watchdog = setTimeout(check, idle.ms);
    }
    pump() {
        while (this.head < this.queue.length) {
            const next = this.queue[this.head];
            if (next.cancelled) {
                this.head++;
                continue;
            }
            if (this.inFlight >= this.limits.requests)
                break;
            if (this.bytesInFlight > 0 && this.bytesInFlight + next.bytes > this.limits.bytes)
                break;
            this.head++;
            next.start();
        }
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
            this.queue = this.queue.slice(this.head);
            this.head = 0;
        }
    }
    /**
     * Queue one request. `send` is called when the request may leave, and must make exactly one
     * ssh2 call with the callback it is given. A request still queued when `signal` aborts is
     * never sent.
     */
    request(what, path, bytes, send, signal) {
        return new Promise((resolve, reject) => {
            if (signal?.aborted) {
                reject(abortedError(signal));
                return;
            }
            const entry = {
                bytes,
                cancelled: false,
                start: () => {
                    forget();
                    if (this.lost !== undefined) {
                        reject(this.lostError ??
                            new SftpError(`${this.label}: connection lost (${this.lost})`, undefined, path));
                        return;
                    }
                    // The first request after a pause starts the clock; every answer restarts it.
                    if (this.pending.size === 0)
                        this.lastProgress = Date.now();
                    this.inFlight++;
                    this.bytesInFlight += bytes;
                    let settled = false;
                    const settle = (error, value) => {
                        if (settled)
                            return;
                        settled = true;
                        this.pending.delete(lose);
                        this.lastProgress = Date.now();
                        if (this.pending.size === 0) {
                            clearTimeout(this.watchdog);
                            this.watchdog = undefined;
                        }
                        this.inFlight--;
                        this.bytesInFlight -= bytes;
                        if (error)
                            reject(wrapError(error, `${what} ${path}`, path));
                        else
                            resolve(value);
                        this.pump();
                    };
                    const lose = (error) => settle(error);
                    this.pending.set(lose, `${what} ${path}`);
                    this.watch();
                    this.beforeSend();
                    try {
                        send(settle);
                    }
                    catch (error) {
                        // ssh2 refuses synchronously: an extension the server did not offer, a bad argument.
                        settle(error instanceof Error ? error : new Error(String(error)));
                    }
                }
            };
            const forget = this.onAbort(signal, () => {
                entry.cancelled = true;
                reject(abortedError(signal));
            });
            this.queue.push(entry);
            this.pump();
        });
    }
    /** Take `count` handle slots (first come, first served). */
    async acquireHandles(count, signal) {
        if (count > this.limits.handles)
            throw new Error(`${count} handles requested`);
        if (signal?.aborted)
            throw abortedError(signal);
        if (this.handleWaiters.length === 0 && this.freeHandles >= count) {
            this.freeHandles -= count;
            return;
        }
        // Queued in order; a release hands its slots to the waiters at the head, exactly as many as
        // fit, so thousands of waiting files cost nothing while they wait.
        await new Promise((resolve, reject) => {
            const waiter = {
                count,
                cancelled: false,
                grant: () => {
                    forget();
                    resolve();
                }
            };
            const forget = this.onAbort(signal, () => {
                waiter.cancelled = true;
                reject(abortedError(signal));
            });
            this.handleWaiters.push(waiter);
        });
    }
    /**
     * Call `cancel` when `signal` aborts, until the returned function is called. One listener per
     * signal, however many requests wait on it: an AbortSignal's listeners are a list that every
     * addEventListener searches, and thousands of queued requests share one signal.
     */
    onAbort(signal, cancel) {
        if (!signal)
            return () => undefined;
        let cancels = this.watched.get(signal);
        if (!cancels) {
            const set = new Set();
            cancels = set;
            this.watched.set(signal, set);
            signal.addEventListener('abort', () => {
                const all = [...set];
                set.clear();
                for (const c of all)
                    c();
            }, { once: true });
        }
        const set = cancels;
        set.add(cancel);
        return () => void set.delete(cancel);
    }
    releaseHandles(count) {
        this.freeHandles += count;
        this.grantHandles();
    }
    /** Run `work` holding `count` handle slots. */
    async withHandles(count, signal, work) {
        await this.acquireHandles(count, signal);
        try {
            return await work();
        }
        finally {
            this.releaseHandles(count);
        }
    }
    /**
     * Run `work` holding one handle slot, given back when the close `work` started is answered:
     * the caller has its answer a round trip before the server confirms the close.
     */
    async withHandleUntilClosed(signal, work) {
        await this.acquireHandles(1, signal);
        let result;
        try {
            result = await work();
        }
        catch (error) {
            this.releaseHandles(1);
            throw error;
        }
        void result.closed.then(() => this.releaseHandles(1), () => this.releaseHandles(1));
        return result.value;
    }
    grantHandles() {
        while (this.handleWaiters.length > 0) {
            const next = this.handleWaiters[0];
            if (next.cancelled) {
                this.handleWaiters.shift();
                continue;
            }
            if (this.freeHandles < next.count)
                return;
            this.handleWaiters.shift();
            this.freeHandles -= next.count;
            next.grant();
        }
    }
    // -------------------------------------------------------------------------------------------
    // Single requests
    async lstat(path, signal) {
        try {
            const stats = await this.request('lstat', path, 64, cb => this.sftp.lstat(path, cb), signal);
            return attributesOf(stats);
        }
        catch (error) {
            if (isMissing(error))
                return undefined;
            throw error;
        }
    }
    readlink(path, signal) {
        return this.request('readlink', path, 64, cb => this.sftp.readlink(path, cb), signal);
    }
    realpath(path, signal) {
        return this.request('realpath', path, 64, cb => this.sftp.realpath(path, cb), signal);
    }
    async mkdir(dir, mode, signal) {
        await this.request('mkdir', dir, 64, cb => this.sftp.mkdir(dir, { mode }, cb), signal);
    }
    async mkdirExact(dir, mode, signal) {
        // The server's umask applies to mkdir's mode (sftp-server's, not the login's): the mode is
        // set again right behind it, in the same round trip; sftp-server handles them in order.
        await Promise.all([this.mkdir(dir, mode, signal), this.setMode(dir, mode, signal)]);
    }
    async setMode(path, mode, signal) {
        await this.request('set mode of', path, 64, cb => this.sftp.setstat(path, { mode }, cb), signal);
    }
    async rmdir(dir, signal) {
        await this.request('rmdir', dir, 64, cb => this.sftp.rmdir(dir, cb), signal);
    }
    async unlink(file, signal) {
        await this.request('remove', file, 64, cb => this.sftp.unlink(file, cb), signal);
    }
    async symlink(target, link, signal) {
        // ssh2 swaps the SSH_FXP_SYMLINK arguments for OpenSSH and Dropbear servers, whose
        // sftp-server takes them in the reverse order of the draft (OpenSSH PROTOCOL, section 4.1).
        await this.request('symlink', link, 64, cb => this.sftp.symlink(target, link, cb), signal);
    }
    async rename(from, to, signal) {
        // Plain SFTP rename never replaces an existing target on OpenSSH (OpenSSH PROTOCOL, section
        // 4.3); posix-rename@openssh.com is rename(2), which does, atomically.
        await this.request('rename', `${from} to ${to}`, 64, cb => this.sftp.ext_openssh_rename(from, to, cb), signal);
    }
    async hardlink(existing, link, signal) {
        await this.request('hard-link', link, 64, cb => this.sftp.ext_openssh_hardlink(existing, link, cb), signal);
    }
    async freeBytes(path, signal) {
        if (!this.abilities.statvfs)
            return undefined;
        const info = await this.request('statvfs', path, 64, cb => this.sftp.ext_openssh_statvfs(path, cb), signal);
        // statvfs@openssh.com (OpenSSH PROTOCOL, section 4.4): blocks available to unprivileged
        // users, in units of the fundamental block size. ssh2 gives numbers, or bigints.
        const count = (v) => typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined;
        const available = count(info?.f_bavail);
        const size = count(info?.f_frsize);
        return available !== undefined && size !== undefined ? available * size : undefined;
    }
    open(path, flags, attrs, signal) {
        return this.request('open', path, 96, cb => attrs === undefined
            ? this.sftp.open(path, flags, cb)
            : this.sftp.open(path, flags, attrs, cb), signal);
    }
    /** Closing never takes the caller's signal: a handle is always given back. */
    close(handle, path) {
        return this.request('close', path, 32, cb => this.sftp.close(handle, cb));
    }
    // -------------------------------------------------------------------------------------------
    // Files
    async list(dir, signal) {
        return this.withHandleUntilClosed(signal, async () => {
            const handle = await this.request('open directory', dir, 64, cb => this.sftp.opendir(dir, cb), signal);
            const entries = [];
            const close = () => this.close(handle, dir).catch(() => undefined);
            try {
                // OpenSSH answers a READDIR with at most 100 names: two in flight read most
                // directories in one round trip (the second answers EOF), larger ones in a few.
                for (let rounds = 0; rounds < 100_000; rounds++) {
                    const batch = await Promise.all([0, 1].map(() => this.request('list', dir, 32, cb => this.sftp.readdir(handle, (error, list) => {
                        if (error && error.code === SftpStatus.EOF)
                            cb(undefined, false);
                        else
                            cb(error, list);
                    }), signal)));
                    for (const list of batch) {
                        if (!list)
                            continue;
                        if (entries.length + list.length > LISTING_LIMIT)
                            throw new Error(`${dir} holds more than ${LISTING_LIMIT} names`);
                        for (const item of list) {
                            if (item.filename === '.' || item.filename === '..')
                                continue;
                            const owner = typeof item.longname === 'string' ? item.longname.split(/\s+/)[2] : undefined;
                            entries.push({
                                name: checkEntryName(dir, item.filename),
                                attrs: attributesOf(item.attrs),
                                ...(owner ? { owner } : {})
                            });
                        }
                    }
                    if (batch.some(list => list === false || list.length === 0))
                        return { value: entries, closed: close() };
                }
                throw new Error(`${dir}: the listing does not end`);
            }
            catch (error) {
                await close();
                throw error;
            }
        });
    }
    /**
     * Read a file in order, chunk by chunk, all chunks in flight at once; the engine's byte bound
     * counts the answers too, so memory stays bounded however large the file.
     */
    async readChunks(path, maxBytes, signal, consume, 
    /** Refuse anything but a regular file: the lstat goes out beside the open. */
    regular = false, 
    /** Read only once this resolves true (false: closed unread). */
    when) {
        // Awaited only once the file is open: a `when` that fails while the open is refused (or
        // never answered) is no unhandled rejection.
        when?.catch(() => undefined);
        return this.withHandleUntilClosed(signal, async () => {
            const kind = regular ? this.lstat(path, signal) : undefined;
            kind?.catch(() => undefined);
            const handle = await this.open(path, 'r', undefined, signal);
            const close = () => this.close(handle, path).catch(() => undefined);
            try {
                const attrs = await kind;
                // Opened through a symlink, or a special file: never read (see readFile).
                if (regular && attrs?.type !== 'file')
                    throw new NotRegularFileError(path, attrs?.type ?? 'other');
                if (when && !(await when))
                    return { value: 0, closed: close() };
                const chunk = this.limits.readChunk;
                const read = (offset, length) => this.request('read', path, length + 32, cb => this.sftp.read(handle, Buffer.allocUnsafe(length), 0, length, offset, (e, n, data) => cb(e, e ? undefined : data.subarray(0, n))), signal);
                // The size and the first chunk in one round trip; the rest all at once.
                const [stats, first] = await Promise.all([
                    this.request('stat', path, 32, cb => this.sftp.fstat(handle, cb), signal),
                    read(0, chunk)
                ]);
                const size = Math.max(stats.size, first.length);
                if (size > maxBytes)
                    throw new TooLargeError(path, size, maxBytes);
                const chunks = [
                    { offset: 0, length: Math.min(chunk, size), data: Promise.resolve(first) }
                ];
                for (let offset = chunk; offset < size; offset += chunk) {
                    const length = Math.min(chunk, size - offset);
                    const data = read(offset, length);
                    data.catch(() => undefined);
                    chunks.push({ offset, length, data });
                }
                let total = 0;
                for (const c of chunks) {
                    let data = await c.data;
                    // A server may answer a READ with fewer bytes than asked (the draft allows it): read
                    // the rest of that chunk before going on. An empty answer is the end of the file.
                    for (let got = data.length; got < c.length && data.length > 0; got += data.length) {
                        consume(data);
                        total += data.length;
                        data = await read(c.offset + got, c.length - got);
                    }
                    if (data.length === 0)
                        return { value: total, closed: close() };
                    consume(data);
                    total += data.length;
                    if (total > maxBytes)
                        throw new TooLargeError(path, total, maxBytes);
                }
                return { value: total, closed: close() };
            }
            catch (error) {
                await close();
                throw error;
            }
        });
    }
    async readFile(path, maxBytes, signal, when) {
        const chunks = [];
        await this.readChunks(path, maxBytes, signal, chunk => chunks.push(chunk), true, when);
        return Buffer.concat(chunks);
    }
    async sha256(path, maxBytes, signal) {
        const hash = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256');
        const size = await this.readChunks(path, maxBytes, signal, chunk => hash.update(chunk));
        return { sha256: hash.digest('hex'), size };
    }
    /** A temporary name beside `path` (or in `dir`), never one in use. */
    temporaryFor(path, dir) {
        const base = dir ?? path.slice(0, path.lastIndexOf('/'));
        return `${base}/.atomic-deploy-${(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomBytes)(8).toString('hex')}.tmp`;
    }
    async writeFile(path, data, options) {
        const { signal } = options;
        await this.withHandles(1, signal, async () => {
            const source = Buffer.isBuffer(data) ? bufferSource(data) : localSource(data);
            try {
                const temporary = this.temporaryFor(path, options.temporaryDir);
                // Created with our mode (never ssh2's default 0666), which the server's umask may
                // narrow at open; set again explicitly below.
                const handle = await this.open(temporary, 'wx', { mode: options.mode }, signal);
                await this.finishFile(handle, temporary, path, options, step => this.writeSource(step, handle, source));
            }
            finally {
                source.close();
            }
        });
    }
    /** The WRITE requests of a file's content, in chunks read (and hashed) as each one leaves. */
    writeSource(step, handle, source) {
        const chunk = this.limits.writeChunk;
        // Chunks no larger than ssh2's own limit: a larger WRITE would be split by ssh2, which sends
        // the rest later from the caller's buffer, and the buffer here is shared.
        for (let offset = 0; offset < source.size; offset += chunk) {
            const length = Math.min(chunk, source.size - offset);
            const last = offset + length >= source.size;
            step('write', length + 64, cb => {
                const into = scratch(length);
                source.fill(into, offset, length);
                if (last)
                    source.finish();
                this.sftp.write(handle, into, 0, length, offset, e => cb(e));
            });
        }
        if (source.size === 0)
            source.finish();
    }
    async openForWrite(path, options) {
        const { signal } = options;
        await this.acquireHandles(1, signal);
        const temporary = this.temporaryFor(path, options.temporaryDir);
        let handle;
        try {
            handle = await this.open(temporary, 'wx', { mode: options.mode }, signal);
        }
        catch (error) {
            this.releaseHandles(1);
            throw error;
        }
        let done = false;
        const once = () => {
            if (done)
                throw new Error(`${path}: written or given up already`);
            done = true;
        };
        return {
            commit: async (data) => {
                once();
                try {
                    await this.finishFile(handle, temporary, path, options, step => this.writeSource(step, handle, bufferSource(data)));
                }
                finally {
                    this.releaseHandles(1);
                }
            },
            discard: async () => {
                if (done)
                    return;
                done = true;
                await this.close(handle, temporary).catch(() => undefined);
                this.releaseHandles(1);
                await this.unlink(temporary).catch(() => undefined);
            }
        };
    }
    /**
     * Copy a file on the server with copy-data, straight to its final name: the file is created
     * there exclusively (O_EXCL: a new inode, never one another release shares), and a copy that
     * fails fails the deploy, which removes the release it was being made in.
     */
    async copyFile(from, to, options) {
        const { signal } = options;
        await this.acquireHandles(2, signal);
        // The two slots are given back as soon as both closes are queued, not when they are
        // answered: requests leave in the order they were queued and sftp-server handles them in
        // that order (see the top of this file), so an open queued after the closes reaches the
        // server after its handles are closed. A copy then holds its slots for one round trip, not
        // two, and twice as many copies are under way within the server's handle limit.
        let held = true;
        const giveBack = () => {
            if (!held)
                return;
            held = false;
            this.releaseHandles(2);
        };
        try {
            const [input, output] = await Promise.allSettled([
                this.open(from, 'r', undefined, signal),
                this.open(to, 'wx', { mode: options.mode }, signal)
            ]);
            if (input.status === 'rejected' || output.status === 'rejected') {
                const closing = Promise.all([
                    input.status === 'fulfilled' ? this.close(input.value, from).catch(() => 0) : 0,
                    output.status === 'fulfilled' ? this.close(output.value, to).catch(() => 0) : 0
                ]);
                giveBack();
                await closing;
                throw input.status === 'rejected' ? input.reason : output.reason;
            }
            // The mode only: file times are the server's own, as tar -m leaves them on a shell
            // deploy, so a file changed after the release was ready shows as newer (drift).
            const attrs = { mode: options.mode };
            // One burst: the copy (a length of 0 copies to the end of the file, OpenSSH PROTOCOL,
            // copy-data), the explicit mode (unless the open gave it), both closes.
            const burst = Promise.allSettled([
                this.request('copy', `${from} to ${to}`, 96, cb => this.sftp.ext_copy_data(input.value, 0, 0, output.value, 0, cb), signal),
                ...(options.modeAtOpen
                    ? []
                    : [
                        this.request('set mode of', to, 96, cb => this.sftp.fsetstat(output.value, attrs, cb), signal)
                    ]),
                this.close(output.value, to),
                this.close(input.value, from)
            ]);
            giveBack();
            const results = await burst;
            const failed = results.find(r => r.status === 'rejected');
            if (failed)
                throw failed.reason;
        }
        finally {
            giveBack();
        }
    }
    /**
     * The end of every file written: its data requests, the explicit mode, the close,
     * and the rename of the temporary name over the final one, all sent back to back (one round
     * trip). The rename is held back when anything before it failed or was aborted before it
     * left; a failure the server reports for a request already on its way fails the deploy,
     * which removes the release, so a partial file never goes live.
     */
    async finishFile(handle, temporary, path, options, data) {
        const { signal } = options;
        const steps = [];
        let failure;
        // A failure is known at once, not a microtask later: the rename checks it when it leaves,
        // which can be in the same turn as a failing request before it. (The error reported is the
        // one the request rejects with, which names it.)
        let broken = false;
        const failed = () => broken || failure !== undefined || signal?.aborted === true;
        const step = (what, bytes, send) => {
            const sent = this.request(what, path, bytes, cb => {
                if (failed())
                    throw new Error('not sent: an earlier request for this file failed');
                try {
                    send(error => {
                        if (error)
                            broken = true;
                        cb(error);
                    });
                }
                catch (error) {
                    broken = true;
                    throw error;
                }
            }, signal);
            steps.push(sent.catch(error => {
                failure ??= error;
            }));
        };
        try {
            data(step);
            // The mode only: file times are the server's own, as tar -m leaves them on a shell
            // deploy, so a file changed after the release was ready shows as newer (drift).
            const attrs = { mode: options.mode };
            if (!options.modeAtOpen)
                step('set mode of', 96, cb => this.sftp.fsetstat(handle, attrs, cb));
        }
        catch (error) {
            failure ??= error;
        }
        const closed = this.close(handle, temporary);
        const renamed = this.request('rename', `${temporary} to ${path}`, 64, cb => {
            if (failed())
                throw new Error('not renamed: the file is incomplete');
            this.sftp.ext_openssh_rename(temporary, path, cb);
        });
        // Looked at below, once the data requests have settled; never an unhandled rejection.
        closed.catch(() => undefined);
        renamed.catch(() => undefined);
        await Promise.all(steps);
        const [closeResult, renameResult] = await Promise.allSettled([closed, renamed]);
        if (failure === undefined && closeResult.status === 'rejected')
            failure = closeResult.reason;
        if (failure === undefined && renameResult.status === 'rejected')
            failure = renameResult.reason;
        if (failure !== undefined) {
            if (renameResult.status === 'rejected')
                await this.unlink(temporary).catch(() => undefined);
            throw failure;
        }
    }
    async appendFile(path, data, mode, signal) {
        await this.withHandleUntilClosed(signal, async () => {
            // O_APPEND: every write lands at the end, whatever offset it names.
            const handle = await this.open(path, 'a', { mode }, signal);
            // The write and the close leave together; the write's answer is the one waited for.
            const written = this.request('write', path, data.length + 64, cb => this.sftp.write(handle, data, 0, data.length, 0, e => cb(e)), signal);
            const closed = this.close(handle, path);
            closed.catch(() => undefined);
            try {
                await written;
            }
            catch (error) {
                await closed.catch(() => undefined);
                throw error;
            }
            return { value: undefined, closed };
        });
    }
    async appender(path, mode, signal) {
        await this.acquireHandles(1, signal);
        let handle;
        try {
            // O_APPEND: every write lands at the end, whatever offset it names.
            handle = await this.open(path, 'a', { mode }, signal);
        }
        catch (error) {
            this.releaseHandles(1);
            throw error;
        }
        let closed;
        return {
            append: async (data, writeSignal) => {
                if (closed)
                    throw new Error(`${path}: appended to after it was closed`);
                await this.request('write', path, data.length + 64, cb => this.sftp.write(handle, data, 0, data.length, 0, e => cb(e)), writeSignal);
            },
            close: () => {
                closed ??= this.close(handle, path)
                    .catch(() => undefined)
                    .finally(() => this.releaseHandles(1));
                return closed;
            }
        };
    }
    async swapSymlink(link, target, temporaryName) {
        const dir = link.slice(0, link.lastIndexOf('/'));
        const temporary = `${dir}/${temporaryName}`;
        // Three requests sent back to back: one round trip. sftp-server handles them in order, so
        // if the symlink fails the rename fails too and `link` keeps its old target.
        const made = this.symlink(target, temporary);
        const renamed = this.rename(temporary, link);
        const readBack = this.readlink(link);
        const results = await Promise.allSettled([made, renamed, readBack]);
        for (const result of results.slice(0, 2)) {
            if (result.status === 'rejected') {
                const message = `${this.label}: switch failed: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .messageOf */ .bD)(result.reason)}`;
                // An answer from the server means the rename did not happen. Without one (the
                // connection dropped), it may have: the caller must find out and put it back.
                const answered = result.reason instanceof SftpError && result.reason.code !== undefined;
                throw answered ? new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .SwitchRefusedError */ .FL(message) : new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .ConnectionError */ .Rc(message);
            }
        }
        if (results[2].status === 'rejected')
            throw new Error(`${this.label}: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .messageOf */ .bD)(results[2].reason)}`);
        return results[2].value;
    }
}
function abortedError(signal) {
    return new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .AbortedError */ .oM('cancelled', { cause: signal?.reason });
}
function wrapError(error, what, path) {
    if (error instanceof SftpError ||
        error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .AbortedError */ .oM ||
        error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .CommandTimeoutError */ .$9)
        return error;
    // ssh2 gives the server's status a numeric code; a request that never got an answer (a lost
    // connection) has none.
    const code = error.code;
    // sftp-server reports ENOSPC and EDQUOT as a bare FAILURE (SFTP version 3 has no code for it).
    const hint = code === SftpStatus.FAILURE && /^(write|copy|set mode of|rename)\b/.test(what)
        ? ' (is the disk full, or a quota reached?)'
        : '';
    return new SftpError(`${what}: ${error.message}${hint}`, typeof code === 'number' ? code : undefined, path);
}


/***/ }),

/***/ 8547:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Ir: () => (/* binding */ walkTree),
/* harmony export */   Ui: () => (/* binding */ removeTrees),
/* harmony export */   dM: () => (/* binding */ removeTree)
/* harmony export */ });
/* harmony import */ var _sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(785);

/** Bound on a tree's depth (PATH_MAX allows about 2,000 levels of one-letter names). */
const MAX_DEPTH = 4096;
/**
 * Every entry below `root` (a directory), parents before children. `hints` are directories,
 * relative to `root`, that are probably there.
 */
async function walkTree(files, root, options = {}) {
    const { signal } = options;
    const listings = new Map();
    const listing = (relative) => {
        let promise = listings.get(relative);
        if (!promise) {
            promise = files.list(relative === '' ? root : `${root}/${relative}`, signal);
            // A hint that is not a directory fails here, and is never asked for.
            promise.catch(() => undefined);
            listings.set(relative, promise);
        }
        return promise;
    };
    listing('');
    for (const hint of options.hints ?? [])
        listing(hint);
    let walking = true;
    for (const later of options.laterHints ?? [])
        later.then(hints => {
            if (walking)
                for (const hint of hints ?? [])
                    listing(hint);
        }, () => undefined);
    try {
        return await walkLevels(root, listing, options.maxDepth ?? Infinity);
    }
    finally {
        walking = false;
    }
}
async function walkLevels(root, listing, maxDepth) {
    const entries = [];
    let level = [''];
    for (let depth = 0; level.length > 0; depth++) {
        if (depth > MAX_DEPTH)
            throw new Error(`${root} is more than ${MAX_DEPTH} levels deep`);
        const next = [];
        const listed = await Promise.all(level.map(async (relative) => ({ relative, children: await listing(relative) })));
        for (const { relative, children } of listed) {
            for (const child of children) {
                const path = relative === '' ? child.name : `${relative}/${child.name}`;
                entries.push({ path, attrs: child.attrs });
                if (entries.length > _sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .LISTING_LIMIT */ .x7)
                    throw new Error(`${root} holds more than ${_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .LISTING_LIMIT */ .x7} entries`);
                if (child.attrs.type === 'dir' && depth + 1 < maxDepth)
                    next.push(path);
            }
        }
        level = next;
    }
    return entries;
}
/**
 * Remove `root` and everything below it. The guard sees every path before anything is removed
 * and throws to refuse. Returns false when `root` did not exist.
 */
async function removeTree(files, root, options) {
    const [removed] = await removeTrees(files, [root], options);
    return removed;
}
/**
 * Remove each of `roots` with everything below it, once the guard has let every one of them go:
 * when it refuses one, nothing is removed (as lib/guard.sh's guarded_rm). The guard's reads (the
 * target of `current`, the parents of each root) leave beside each root's lstat and listing, so
 * this costs no round trip more than the removal itself. Returns, for each root, whether it
 * existed.
 */
async function removeTrees(files, roots, options) {
    const { guard, signal } = options;
    for (const root of roots)
        guard.check(root);
    const confirmed = guard.confirm(files, roots, signal);
    confirmed.catch(() => undefined);
    // The lstat decides; the listing goes out beside it (reading is harmless) and is used only
    // when the root is a real directory: opendir follows a symlink, a removal must not.
    const reads = roots.map(root => {
        const walked = walkTree(files, root, options);
        walked.catch(() => undefined);
        const top = files.lstat(root, signal);
        top.catch(() => undefined);
        return { root, walked, top };
    });
    const current = await confirmed;
    return Promise.all(reads.map(async ({ root, walked, top }) => {
        const attrs = await top;
        if (!attrs)
            return false;
        if (attrs.type !== 'dir') {
            await files.unlink(root, signal).catch(error => {
                if (!(0,_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .isMissing */ .b2)(error))
                    throw error;
            });
            return true;
        }
        await removeListed(files, root, await walked, current, options);
        return true;
    }));
}
async function removeListed(files, root, entries, current, options) {
    const { guard, signal } = options;
    const full = (relative) => `${root}/${relative}`;
    for (const e of entries)
        guard.check(full(e.path), current);
    const dirs = entries.filter(e => e.attrs.type === 'dir').map(e => e.path);
    dirs.push('');
    const depth = (p) => (p === '' ? 0 : p.split('/').length);
    dirs.sort((a, b) => depth(b) - depth(a));
    // Everything at once: files and links, then directories deepest first. sftp-server handles
    // requests in order, so each directory is empty when its rmdir arrives; a server that does
    // not keep the order gets the directories it refused again, one level at a time.
    const unlinks = entries
        .filter(e => e.attrs.type !== 'dir')
        .map(e => files.unlink(full(e.path), signal).catch(error => {
        if (!(0,_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .isMissing */ .b2)(error))
            throw error;
    }));
    const rmdir = (p) => files.rmdir(p === '' ? root : full(p), signal).catch(error => {
        if (!(0,_sftp_engine_js__WEBPACK_IMPORTED_MODULE_0__/* .isMissing */ .b2)(error))
            throw error;
    });
    const first = dirs.map(p => rmdir(p).then(() => undefined, (error) => ({ p, error })));
    await Promise.all(unlinks);
    let refused = (await Promise.all(first)).filter(r => r !== undefined);
    for (let pass = 0; refused.length > 0 && pass <= MAX_DEPTH; pass++) {
        const deepest = depth(refused[0].p);
        const now = refused.filter(r => depth(r.p) === deepest);
        refused = refused.filter(r => depth(r.p) !== deepest);
        await Promise.all(now.map(r => rmdir(r.p)));
    }
}


/***/ }),

/***/ 1538:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   h: () => (/* binding */ quote)
/* harmony export */ });
/* unused harmony export command */
/**
 * POSIX shell quoting. Every remote command is built from argv through `command()`, so no user
 * value is ever spliced into a shell line unquoted (the approach of node-ssh's `exec(cmd, params)`).
 */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;
/**
 * Quote one word for a POSIX shell. Inside single quotes nothing is special except the quote
 * itself, which is closed, escaped and reopened: `it's` becomes `'it'\''s'`. Newlines are legal
 * inside single quotes (file names may hold them); NUL cannot be passed through any shell.
 */
function quote(word) {
    if (word.includes('\0'))
        throw new Error('a NUL byte cannot be passed to a remote shell');
    if (word !== '' && SAFE.test(word))
        return word;
    return `'${word.replace(/'/g, `'\\''`)}'`;
}
/**
 * Build one shell command line from argv, quoting every word. The program name is always quoted:
 * unquoted in command position, `FOO=bar` would be an assignment and `if` a reserved word.
 */
function command(...argv) {
    return argv
        .map((word, i) => (i === 0 ? `'${quote(word).replace(/^'|'$/g, '')}'` : quote(word)))
        .join(' ');
}


/***/ }),

/***/ 2134:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   A: () => (/* binding */ UNREADABLE_SCRIPT),
/* harmony export */   n: () => (/* binding */ BOOTSTRAP)
/* harmony export */ });
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
const BOOTSTRAP = `sh -c 'IFS= read -r n || exit 0; z=\${n%%[0-9]*}; n=\${n#z}; if dd bs=1 count=0 iflag=fullblock </dev/null 2>/dev/null; then b=$n c=1 f=iflag=fullblock; else b=1 c=$n f=; fi; if [ -n "$z" ]; then s=$(dd bs="$b" count="$c" $f 2>/dev/null | gzip -dc 2>/dev/null) || exit 96; else s=$(dd bs="$b" count="$c" $f 2>/dev/null) || exit 97; fi; eval "$s"'`;
/** The exit status of the bootstrap when it could not read a gzipped script: nothing ran. */
const UNREADABLE_SCRIPT = 96;


/***/ }),

/***/ 8075:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Bw: () => (/* binding */ closedChannels),
/* harmony export */   bS: () => (/* binding */ watchChannel),
/* harmony export */   co: () => (/* binding */ exits)
/* harmony export */ });
/** Exit status of each channel, recorded from the moment it is open. */
const exits = new WeakMap();
/** Channels already closed, for the same reason. */
const closedChannels = new WeakSet();
/** Record `channel`'s exit status and close from now on. */
function watchChannel(channel) {
    channel.on('exit', (code, signalName) => {
        exits.set(channel, { code: typeof code === 'number' ? code : null, signal: signalName });
    });
    channel.once('close', () => closedChannels.add(channel));
    // A channel error (the connection dropped) is reported through the run's result.
    channel.on('error', () => undefined);
}


/***/ }),

/***/ 6348:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   i: () => (/* binding */ JumpChain)
/* harmony export */ });
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(6506);
/* harmony import */ var _ssh_connect_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3233);


class JumpChain {
    hops;
    options;
    connecting;
    opened = [];
    constructor(hops, options) {
        this.hops = hops;
        this.options = options;
        if (hops.length === 0)
            throw new Error('a jump chain needs at least one hop');
    }
    /** How a server is reached through the chain: ConnectOptions.tunnel. */
    tunnel = async (host, port) => {
        const connecting = (this.connecting ??= this.connect());
        // A failed chain is tried afresh by the next tunnel (a reconnect to switch a server back).
        connecting.catch(() => {
            if (this.connecting === connecting)
                this.connecting = undefined;
        });
        const last = await connecting;
        return this.forward(last, this.hops[this.hops.length - 1].server, host, port);
    };
    async connect() {
        let previous;
        for (const hop of this.hops) {
            const through = previous;
            const connection = await (0,_ssh_connect_js__WEBPACK_IMPORTED_MODULE_1__/* .openConnection */ .JY)({
                server: hop.server,
                hostKeys: this.options.hostKeys,
                ...(hop.privateKey !== undefined ? { privateKey: hop.privateKey } : {}),
                ...(hop.passphrase !== undefined ? { passphrase: hop.passphrase } : {}),
                ...(hop.password !== undefined ? { password: hop.password } : {}),
                timeoutSeconds: this.options.timeoutSeconds,
                role: 'jump host',
                // A jump host only forwards: the channels a deploy target starts with would be wasted.
                channelsBehindAuth: false,
                ...(through
                    ? {
                        tunnel: (host, port) => this.forward(through.connection, through.server, host, port)
                    }
                    : {}),
                ...(this.options.warn ? { warn: this.options.warn } : {}),
                ...(this.options.debug ? { debug: this.options.debug } : {})
            });
            // Errors after the connection is up surface on the tunnels through it; once it is gone,
            // the next tunnel connects the chain again.
            connection.client.on('error', () => undefined);
            connection.client.once('close', () => {
                this.connecting = undefined;
            });
            this.opened.push(connection);
            previous = { connection, server: hop.server };
        }
        return previous.connection;
    }
    /** A direct-tcpip channel from `via` to host:port, bounded by the timeout. */
    forward(via, hop, host, port) {
        const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
        return new Promise((resolve, reject) => {
            let settled = false;
            const timer = setTimeout(() => {
                settled = true;
                reject(new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ConnectionError */ .Rc(`jump host ${hop.label} did not open a tunnel to ${target} within ${this.options.timeoutSeconds}s (connect-timeout).`));
            }, this.options.timeoutSeconds * 1000);
            try {
                // The originator address is only informational (RFC 4254 section 7.2).
                via.client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => {
                    if (settled) {
                        channel?.close();
                        return;
                    }
                    settled = true;
                    clearTimeout(timer);
                    if (error || !channel) {
                        reject(new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ConnectionError */ .Rc(`jump host ${hop.label} refused to open a tunnel to ${target} (${(0,_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .messageOf */ .bD)(error)}). Check that it can reach that address, and that its sshd allows it (AllowTcpForwarding, PermitOpen).`));
                        return;
                    }
                    resolve(channel);
                });
            }
            catch (error) {
                settled = true;
                clearTimeout(timer);
                reject(new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ConnectionError */ .Rc(`jump host ${hop.label}: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .messageOf */ .bD)(error)}`));
            }
        });
    }
    /** Close every hop, the last first. */
    close() {
        for (const { client, socket } of this.opened.reverse()) {
            client.end();
            socket.destroy();
        }
        this.opened.length = 0;
    }
}


/***/ }),

/***/ 977:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   RS: () => (/* binding */ fingerprintApplies),
/* harmony export */   Tr: () => (/* binding */ parseFingerprints),
/* harmony export */   W1: () => (/* binding */ keyTypeOfBlob),
/* harmony export */   kj: () => (/* binding */ hostVerifierFor),
/* harmony export */   uJ: () => (/* binding */ parseKnownHosts)
/* harmony export */ });
/* unused harmony exports matchKnownHosts, fingerprintSha256, parseFingerprint, hostKeyAlgorithmsFor */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7598);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(6506);
/**
 * Host-key verification material from the `known-hosts` and `host-fingerprint` inputs.
 *
 * Two facts about ssh2 (v1.x) shape this module:
 *
 * - ssh2 calls `hostVerifier(key)` with the raw K_S blob from the server's KEX reply (RFC 4253
 *   section 8: `string key-type, ...key data`) when `hostHash` is not set (lib/client.js wraps
 *   the callback, lib/protocol/kex.js passes `hostPubKey` unchanged). The base64 field of a
 *   known_hosts line decodes to exactly that blob, so verification is a byte comparison of the
 *   two and a fingerprint is SHA-256 over the same bytes.
 * - The server picks its host key from the client's `algorithms.serverHostKey` list, and ssh2's
 *   default list starts with ssh-ed25519. A server holding ed25519 and RSA keys, checked against
 *   a known_hosts that only has its RSA line, would present the ed25519 key and fail although
 *   it is the right server. Pinning the list to the types held makes the server present a key
 *   we can check. Both facts are exercised against a real ssh2 handshake in the tests.
 */


const INPUT_KNOWN_HOSTS = 'known-hosts';
const INPUT_FINGERPRINT = 'host-fingerprint';
const LINE_SHAPE = `expected '<hosts> <key-type> <base64-key>'`;
/** Key types ssh2 can verify a server with, and the algorithm names it negotiates for each. */
const ALGORITHMS_BY_KEY_TYPE = new Map([
    ['ssh-ed25519', ['ssh-ed25519']],
    ['ecdsa-sha2-nistp256', ['ecdsa-sha2-nistp256']],
    ['ecdsa-sha2-nistp384', ['ecdsa-sha2-nistp384']],
    ['ecdsa-sha2-nistp521', ['ecdsa-sha2-nistp521']],
    // An RSA host key is negotiated under any of these names but the blob still says `ssh-rsa`
    // (RFC 8332); ssh2 accepts that exception. SHA-2 first so SHA-1 signatures are a last resort.
    ['ssh-rsa', ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']]
]);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|^PuTTY-User-Key-File-/;
// ---------------------------------------------------------------------------------------------
// Parsing
/**
 * Parse known_hosts text. Blank lines and `#` comments are skipped; text after the key is a
 * comment. Lines with unknown key types are kept (keyType as written) so that a file from a
 * newer OpenSSH still loads; they are simply never usable for verification.
 */
function parseKnownHosts(text) {
    const lines = text.split(/\r?\n/);
    // Checked over the whole text first so a pasted private key gets this error rather than a
    // field-count error about its first line, and so no line of it is echoed anywhere.
    lines.forEach((raw, index) => {
        if (PRIVATE_KEY.test(raw.trim())) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .dz(INPUT_KNOWN_HOSTS, `known-hosts line ${index + 1} looks like a private key. known-hosts must hold the ` +
                `server's public host keys (lines as printed by \`ssh-keyscan\`), never a private key; ` +
                `if a private key was stored in this input, treat it as exposed and rotate it.`);
        }
    });
    const entries = [];
    lines.forEach((raw, index) => {
        const entry = parseLine(raw, index + 1);
        if (entry)
            entries.push(entry);
    });
    return entries;
}
function parseLine(raw, line) {
    const bad = (detail) => new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .dz(INPUT_KNOWN_HOSTS, `known-hosts line ${line}: ${LINE_SHAPE}, ${detail}`);
    if (raw.includes('\0'))
        throw bad('but the line contains a NUL byte');
    // eslint-disable-next-line no-control-regex
    const control = /[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]/.exec(raw);
    if (control) {
        const code = control[0].charCodeAt(0).toString(16).padStart(2, '0');
        throw bad(`but the line contains the control character 0x${code}`);
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#'))
        return undefined;
    const fields = trimmed.split(/[ \t]+/);
    let marker;
    if (fields[0].startsWith('@')) {
        const word = fields.shift();
        if (word !== '@revoked' && word !== '@cert-authority') {
            // Refused rather than skipped: a mistyped `@revoked` would otherwise drop a revocation.
            throw bad(`but '${word}' is not a known marker (only @revoked and @cert-authority exist)`);
        }
        marker = word;
    }
    if (fields.length >= 2 && ALGORITHMS_BY_KEY_TYPE.has(fields[0]) && /^AAAA/.test(fields[1])) {
        throw bad('but the line looks like a bare public key with no host names; prefix it with the ' +
            'host, as `ssh-keyscan` prints it');
    }
    if (fields.length < 3) {
        throw bad(`found ${fields.length} field${fields.length === 1 ? '' : 's'}`);
    }
    const [hosts, keyType, base64] = fields;
    const patterns = hosts.split(',').filter(pattern => pattern !== '');
    if (patterns.length === 0)
        throw bad('but the host list is empty');
    for (const pattern of patterns) {
        if (pattern.startsWith('|') && !decodeHashedPattern(pattern)) {
            throw bad(`but a hashed host is malformed (expected |1|<base64 salt>|<base64 HMAC-SHA1>)`);
        }
    }
    if (base64.length % 4 !== 0 || !BASE64.test(base64)) {
        throw bad('but the key is not valid base64');
    }
    const key = Buffer.from(base64, 'base64');
    // Only checkable for types we know; an unknown type's blob layout is not ours to judge.
    if (ALGORITHMS_BY_KEY_TYPE.has(keyType)) {
        const embedded = tryKeyTypeOfBlob(key);
        if (embedded === undefined) {
            throw bad(`but the base64 key is not an SSH public key`);
        }
        if (embedded !== keyType) {
            throw bad(`but the key-type field says ${keyType} while the base64 key is ${embedded}`);
        }
    }
    return { ...(marker ? { marker } : {}), patterns, keyType, key, line };
}
// ---------------------------------------------------------------------------------------------
// Matching
/**
 * Entries that apply to host:port, following OpenSSH's `match_hostname` rules.
 *
 * @cert-authority entries are ignored: ssh2 has no support for OpenSSH host certificates, so a
 * CA line can never vouch for a server here. They are neither keys nor revocations.
 */
function matchKnownHosts(entries, host, port) {
    const names = hostNames(host, port);
    const keys = [];
    const revoked = [];
    for (const entry of entries) {
        if (entry.marker === '@cert-authority')
            continue;
        if (!patternsMatch(entry.patterns, names))
            continue;
        if (entry.marker === '@revoked')
            revoked.push(entry);
        else
            keys.push(entry);
    }
    return { keys, revoked };
}
/**
 * The strings OpenSSH looks a host up under. ssh lowercases the host before lookup and
 * `ssh-keygen -H` lowercases before hashing, so everything is compared lowercased. Port 22 is
 * written as the bare host; `[host]:22` is never written by OpenSSH but is accepted.
 */
function hostNames(host, port) {
    let name = host.trim().toLowerCase();
    if (name.startsWith('[') && name.endsWith(']'))
        name = name.slice(1, -1);
    const bracketed = `[${name}]:${port}`;
    return port === 22 ? [name, bracketed] : [bracketed];
}
/** OpenSSH `match_pattern_list`: any negated match vetoes the line, else any positive match. */
function patternsMatch(patterns, names) {
    let positive = false;
    for (const pattern of patterns) {
        if (pattern.startsWith('|')) {
            if (names.some(name => hashedPatternMatches(pattern, name)))
                positive = true;
            continue;
        }
        const negated = pattern.startsWith('!');
        const glob = (negated ? pattern.slice(1) : pattern).toLowerCase();
        if (names.some(name => globMatch(glob, name))) {
            if (negated)
                return false;
            positive = true;
        }
    }
    return positive;
}
/** `*` matches any run of characters (also empty), `?` exactly one; nothing else is special. */
function globMatch(pattern, text) {
    let p = 0;
    let t = 0;
    let star = -1;
    let resume = 0;
    while (t < text.length) {
        if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
            p++;
            t++;
        }
        else if (p < pattern.length && pattern[p] === '*') {
            star = p++;
            resume = t;
        }
        else if (star !== -1) {
            p = star + 1;
            t = ++resume;
        }
        else {
            return false;
        }
    }
    while (p < pattern.length && pattern[p] === '*')
        p++;
    return p === pattern.length;
}
function decodeHashedPattern(pattern) {
    const parts = pattern.split('|');
    if (parts.length !== 4 || parts[0] !== '' || parts[1] !== '1')
        return undefined;
    const [, , salt64, hash64] = parts;
    for (const part of [salt64, hash64]) {
        if (part.length % 4 !== 0 || !BASE64.test(part))
            return undefined;
    }
    const salt = Buffer.from(salt64, 'base64');
    const hash = Buffer.from(hash64, 'base64');
    // OpenSSH writes a SHA-1-sized salt; the HMAC-SHA1 output is 20 bytes by definition.
    if (salt.length === 0 || hash.length !== 20)
        return undefined;
    return { salt, hash };
}
/** `|1|salt|hash` is HMAC-SHA1 keyed with the salt over the host string (OpenSSH host_hash). */
function hashedPatternMatches(pattern, name) {
    const decoded = decodeHashedPattern(pattern);
    if (!decoded)
        return false;
    const mac = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHmac)('sha1', decoded.salt).update(name).digest();
    return (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.timingSafeEqual)(mac, decoded.hash);
}
// ---------------------------------------------------------------------------------------------
// Fingerprints and key blobs
/** 'SHA256:' + unpadded base64 of sha256(blob), exactly like `ssh-keygen -lf`. */
function fingerprintSha256(blob) {
    return 'SHA256:' + (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256').update(blob).digest('base64').replace(/=+$/, '');
}
/**
 * Normalise a user-supplied fingerprint to the unpadded `SHA256:...` form. Only SHA-256 is
 * accepted: an MD5 fingerprint is too weak to pin a host key against a chosen-prefix attacker.
 */
function parseFingerprint(text) {
    const trimmed = text.trim();
    const match = /^SHA256:([A-Za-z0-9+/]{43})=?$/i.exec(trimmed);
    if (match && Buffer.from(match[1], 'base64').length === 32) {
        // Only the prefix is case-insensitive; base64 is not.
        return 'SHA256:' + match[1];
    }
    const shown = trimmed.length <= 100 && !/[\r\n]/.test(trimmed) && !PRIVATE_KEY.test(trimmed)
        ? `'${trimmed}'`
        : `(${trimmed.length} characters, not shown)`;
    const md5 = /^(MD5:)?([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(trimmed)
        ? ' MD5 fingerprints are not accepted; print the SHA256 one with `ssh-keygen -lf <file>`.'
        : '';
    throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .dz(INPUT_FINGERPRINT, `Invalid host-fingerprint ${shown}. Expected the SHA256 form printed by \`ssh-keygen -lf\`, ` +
        `e.g. SHA256:abc... (43 base64 characters after the colon).${md5}`);
}
/**
 * Several fingerprints in one input (one per host key type, or across a key rotation),
 * separated by whitespace or commas. Each is a bare `SHA256:...`, or bound to one server as
 * `host=SHA256:...`, `host:port=SHA256:...` or `[2001:db8::1]:port=SHA256:...`, so that with
 * several servers each is checked against its own key only.
 */
function parseFingerprints(text) {
    return text
        .split(/[\s,]+/)
        .filter(part => part !== '')
        .map(part => {
        const equals = part.indexOf('=');
        // A bare fingerprint may end in '=' (base64 padding), never start with one.
        if (equals <= 0 || /^SHA256:/i.test(part))
            return parseFingerprint(part);
        const where = part.slice(0, equals);
        const fingerprint = parseFingerprint(part.slice(equals + 1));
        const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(where);
        const plain = /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(where);
        const match = bracketed ?? plain;
        const port = match?.[2] === undefined ? undefined : Number(match[2]);
        if (!match || (port !== undefined && (port < 1 || port > 65535))) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .dz(INPUT_FINGERPRINT, `Invalid host-fingerprint '${where.slice(0, 100)}=...': expected host=SHA256:..., host:port=SHA256:... or [IPv6]:port=SHA256:...`);
        }
        return port === undefined
            ? { host: match[1].toLowerCase(), fingerprint }
            : { host: match[1].toLowerCase(), port, fingerprint };
    });
}
/** Whether a `host-fingerprint` item applies to the server at host:port. */
function fingerprintApplies(item, host, port) {
    if (typeof item === 'string')
        return true;
    return item.host === host.toLowerCase() && (item.port === undefined || item.port === port);
}
/** The key type string encoded at the start of an SSH public key blob (uint32 length + string). */
function keyTypeOfBlob(blob) {
    const type = tryKeyTypeOfBlob(blob);
    if (type === undefined) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .HostKeyError */ .oZ(`Malformed SSH public key blob (${blob.length} bytes): no key type at its start`);
    }
    return type;
}
function tryKeyTypeOfBlob(blob) {
    if (blob.length < 4)
        return undefined;
    const length = blob.readUInt32BE(0);
    // Key type names are short printable ASCII (RFC 4251 section 6); anything else is not a key.
    if (length === 0 || length > 64 || 4 + length > blob.length)
        return undefined;
    const type = blob.subarray(4, 4 + length).toString('latin1');
    return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}
/**
 * Host key algorithms to offer ssh2 in `algorithms.serverHostKey` for the key types held, so
 * the server cannot pick a type we cannot check. Unknown types are dropped. Order: ed25519,
 * ecdsa, rsa.
 */
function hostKeyAlgorithmsFor(keyTypes) {
    const held = new Set(keyTypes);
    const algorithms = [];
    for (const [type, names] of ALGORITHMS_BY_KEY_TYPE) {
        if (held.has(type))
            algorithms.push(...names);
    }
    return algorithms;
}
// ---------------------------------------------------------------------------------------------
// Verification
/** Length check first: timingSafeEqual throws on unequal lengths, and length is not secret. */
function sameBytes(a, b) {
    return a.length === b.length && (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.timingSafeEqual)(a, b);
}
function describeEntries(entries) {
    return entries
        .map(entry => `${entry.keyType} ${fingerprintSha256(entry.key)} (line ${entry.line})`)
        .join(', ');
}
/** Build the verifier for one server: the algorithms to pin and a check of the offered blob. */
function hostVerifierFor(policy, host, port) {
    const target = `${host}:${port}`;
    switch (policy.kind) {
        case 'insecure':
            return { verify: () => ({ ok: true }) };
        case 'fingerprint': {
            // Only the fingerprints given for this server (and bare ones, one-server deploys only):
            // one server's key is never accepted for another.
            const expected = policy.fingerprints
                .filter(item => fingerprintApplies(item, host, port))
                .map(item => parseFingerprint(typeof item === 'string' ? item : item.fingerprint));
            if (expected.length === 0) {
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .HostKeyError */ .oZ(`No host fingerprint given for ${target}: refusing to connect.`);
            }
            const digests = expected.map(fp => Buffer.from(fp.slice('SHA256:'.length), 'base64'));
            // No algorithm pinning: the fingerprint covers the whole blob, key type included, so any
            // type the server picks is checked.
            return {
                verify(blob) {
                    const offered = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256').update(blob).digest();
                    if (digests.some(digest => sameBytes(offered, digest)))
                        return { ok: true };
                    return {
                        ok: false,
                        reason: `Host key mismatch for ${target}: the server offered ${describeBlob(blob)}, ` +
                            `but host-fingerprint expects ${expected.join(' or ')}.`
                    };
                }
            };
        }
        case 'known-hosts':
            return knownHostsVerifier(policy.entries, host, port);
    }
}
function describeBlob(blob) {
    const type = tryKeyTypeOfBlob(blob) ?? 'a malformed';
    return `${type} key ${fingerprintSha256(blob)}`;
}
function knownHostsVerifier(entries, host, port) {
    const target = `${host}:${port}`;
    const { keys, revoked } = matchKnownHosts(entries, host, port);
    const isRevoked = (blob) => revoked.some(entry => sameBytes(entry.key, blob));
    // Revoked keys are left out of the offer so a server that also has a good key of another type
    // is asked for that one instead.
    const usable = keys.filter(entry => ALGORITHMS_BY_KEY_TYPE.has(entry.keyType));
    const trusted = usable.filter(entry => !isRevoked(entry.key));
    if (trusted.length === 0) {
        const scan = `ssh-keyscan -p ${port} ${host}`;
        let why = `known-hosts has no usable host key for ${target}`;
        if (usable.length > 0) {
            why = `every known-hosts key for ${target} is marked @revoked`;
        }
        else if (keys.length > 0) {
            const types = [...new Set(keys.map(entry => entry.keyType))].join(', ');
            why += ` (only key types that cannot be verified here: ${types})`;
        }
        else if (hasCertAuthorityFor(entries, host, port)) {
            why += ' (@cert-authority lines are not supported: host certificates cannot be checked)';
        }
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .HostKeyError */ .oZ(`${why}. Add a line for it from \`${scan}\`, and check that key's fingerprint ` +
            `(\`ssh-keygen -lf\`) against the server out-of-band before trusting it.`);
    }
    return {
        algorithms: hostKeyAlgorithmsFor(trusted.map(entry => entry.keyType)),
        verify(blob) {
            if (isRevoked(blob)) {
                return {
                    ok: false,
                    reason: `Host key for ${target} is revoked: the server offered ${describeBlob(blob)}, which known-hosts marks @revoked.`
                };
            }
            if (trusted.some(entry => sameBytes(entry.key, blob)))
                return { ok: true };
            const type = tryKeyTypeOfBlob(blob);
            const sameType = trusted.filter(entry => entry.keyType === type);
            const expected = sameType.length > 0 ? sameType : trusted;
            return {
                ok: false,
                reason: `Host key mismatch for ${target}: the server offered ${describeBlob(blob)}, ` +
                    `but known-hosts expects ${describeEntries(expected)}. ` +
                    `If the server's key was changed on purpose, update known-hosts from a fingerprint ` +
                    `checked out-of-band; otherwise this may be a man-in-the-middle.`
            };
        }
    };
}
function hasCertAuthorityFor(entries, host, port) {
    const names = hostNames(host, port);
    return entries.some(entry => entry.marker === '@cert-authority' && patternsMatch(entry.patterns, names));
}


/***/ }),

/***/ 5951:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   A: () => (/* binding */ STDERR_LINE_LIMIT),
/* harmony export */   Y: () => (/* binding */ SCRIPT_OUTPUT_LIMIT)
/* harmony export */ });
/** Bytes of stdout one script may send: our scripts print small results and bounded blobs. */
const SCRIPT_OUTPUT_LIMIT = 48 * 1024 * 1024;
/** A line of stderr longer than this is passed on in pieces. */
const STDERR_LINE_LIMIT = 64 * 1024;


/***/ }),

/***/ 7061:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Q: () => (/* binding */ framed)
/* harmony export */ });
/* unused harmony export scriptText */
/* harmony import */ var node_zlib__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8522);
/**
 * A script as the bootstrap reads it from stdin (see BOOTSTRAP), gzipped where the server has
 * gzip. Most scripts are a short prelude of values and a long constant text (a server script's
 * body), given apart (ScriptParts): the constant text is compressed once per process, not once
 * per server and script.
 */

/** The whole text of a script. */
function scriptText(script) {
    return typeof script === 'string' ? script : script.head + script.tail;
}
/**
 * Raw deflate data made so far, by text: the tails (the server scripts are a dozen), and the
 * heads, which are the same on every server of a group whose plans are the same. Each
 * deflateRawSync call sets up a fresh zlib state of about 270 kB, which cost a tenth of a
 * millisecond to half of one per script here. Bounded: past MAX_TAILS or MAX_HEADS the oldest
 * goes, and a head over MAX_HEAD_TEXT characters (a plan of many paths) is not kept.
 */
const tails = new Map();
const MAX_TAILS = 64;
const heads = new Map();
const MAX_HEADS = 16;
const MAX_HEAD_TEXT = 256 * 1024;
function remembered(made, max, text, make) {
    let data = made.get(text);
    if (!data) {
        data = make();
        if (made.size >= max)
            made.delete(made.keys().next().value);
        made.set(text, data);
    }
    return data;
}
/** Level 6: as small as 9 for these texts (within 0.2%), in three quarters of the time. */
const LEVEL = 6;
/**
 * A script as the bootstrap reads it from stdin: its length in bytes, a newline, the script; or,
 * gzipped, `z`, the length of the gzip data, a newline, the data.
 *
 * The gzip data is one member (RFC 1952) whatever the script: a script with a constant tail is
 * deflated in two parts, the head ending in a full flush (byte-aligned, no reference to it
 * after), then the tail's deflate data made once, whose references stay within itself. Any
 * inflater reads the two as one stream (as pigz writes its blocks); the CRC-32 and length in the
 * trailer are the whole script's.
 */
function framed(script, compress) {
    const text = scriptText(script);
    if (!compress)
        return Buffer.from(`${Buffer.byteLength(text)}\n${text}`);
    const data = typeof script === 'string' || script.tail === ''
        ? (0,node_zlib__WEBPACK_IMPORTED_MODULE_0__.gzipSync)(text, { level: LEVEL })
        : twoPartGzip(script, text);
    return Buffer.concat([Buffer.from(`z${data.length}\n`), data]);
}
function twoPartGzip({ head, tail }, text) {
    const tailData = remembered(tails, MAX_TAILS, tail, () => (0,node_zlib__WEBPACK_IMPORTED_MODULE_0__.deflateRawSync)(tail, { level: LEVEL }));
    const deflateHead = () => (0,node_zlib__WEBPACK_IMPORTED_MODULE_0__.deflateRawSync)(head, { level: LEVEL, finishFlush: node_zlib__WEBPACK_IMPORTED_MODULE_0__.constants.Z_FULL_FLUSH });
    const headData = head.length > MAX_HEAD_TEXT ? deflateHead() : remembered(heads, MAX_HEADS, head, deflateHead);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE((0,node_zlib__WEBPACK_IMPORTED_MODULE_0__.crc32)(text) >>> 0, 0);
    trailer.writeUInt32LE(Buffer.byteLength(text) % 2 ** 32, 4);
    return Buffer.concat([GZIP_HEADER, headData, tailData, trailer]);
}
/** ID1 ID2, CM deflate, no flags, no mtime, no extra flags, OS unknown. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);


/***/ }),

/***/ 3233:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   JY: () => (/* binding */ openConnection)
/* harmony export */ });
/* unused harmony exports privateKeyOf, gatherWrites, describeConnectError */
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7030);
/* harmony import */ var ssh2_lib_client_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(6297);
/* harmony import */ var ssh2_lib_protocol_keyParser_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(1789);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(6506);
/* harmony import */ var _early_connect_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(1160);
/* harmony import */ var _known_hosts_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(977);
/* harmony import */ var _ssh2_internals_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(7593);
/**
 * Opening one SSH connection: the socket (or a tunnel through jump hosts), the host key check
 * before authentication, authentication, and an error that says what to do for each way it
 * fails.
 */







// Host key algorithm families, tried one by one when only a fingerprint is known: the server
// offers its preferred type first, and a fingerprint does not say which type it is of.
const KEY_FAMILIES = [
    ['ssh-ed25519'],
    ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'],
    ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
];
/** Open one authenticated connection, verifying the host key before authentication. */
async function openConnection(options) {
    const { server } = options;
    const what = `${server.label}${options.role ? ` (${options.role})` : ''}`;
    let verifier;
    try {
        verifier = (0,_known_hosts_js__WEBPACK_IMPORTED_MODULE_5__/* .hostVerifierFor */ .kj)(options.hostKeys, server.host, server.port);
    }
    catch (error) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .HostKeyError */ .oZ(`${what}: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .messageOf */ .bD)(error)}`);
    }
    if (options.hostKeys.kind === 'insecure') {
        options.warn?.(`${what}: host key NOT verified (insecure-ignore-host-key: true). Anyone on the network path could impersonate this server.`);
    }
    const started = Date.now();
    let first = await attempt(options, what, verifier, verifier.algorithms, true);
    // A connection opened while the action loaded that ended before the key exchange (a server
    // that closed it, or dropped it as one unauthenticated connection too many): once more, on a
    // connection of its own, as it would have been without. Only within what is left of
    // connect-timeout, which bounds the two together as it bounds one connection without them;
    // out of that time, the first one's failure is the one reported.
    const left = options.timeoutSeconds * 1000 - (Date.now() - started);
    if (first.earlyLost && left > 0) {
        const again = await attempt(options, what, verifier, verifier.algorithms, false, left);
        if (!again.timedOut)
            first = again;
    }
    if (first.connection)
        return first.connection;
    if (options.hostKeys.kind !== 'fingerprint' || first.offeredType === undefined)
        throw first.error;
    // The server's preferred key is not the one fingerprinted: ask for each other type in turn.
    const reasons = [first.reason];
    for (const family of KEY_FAMILIES) {
        if (family.includes(first.offeredType) ||
            (first.offeredType === 'ssh-rsa' && family.includes('rsa-sha2-512')))
            continue;
        const next = await attempt(options, what, verifier, family);
        if (next.connection)
            return next.connection;
        if (next.reason)
            reasons.push(next.reason);
        else if (!(next.error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc &&
            /no matching|handshake failed/i.test(next.error.message)))
            throw next.error;
    }
    throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .HostKeyError */ .oZ(`${what}: host key verification failed: none of the server's host keys matches host-fingerprint. ${reasons.join(' ')}`);
}
/**
 * The authentication methods in order: the key (again, for the next RSA signature algorithm,
 * while one is worth trying), then the password by both methods. Only methods we have
 * credentials for: ssh2 would otherwise start with 'none', a round trip that only learns what
 * the server allows.
 */
function authSequence(options, username, internals) {
    let keyTried = false;
    const rest = options.password !== undefined ? ['password', 'keyboard-interactive'] : [];
    return methodsLeft => {
        const allowed = (method) => methodsLeft === null || methodsLeft.includes(method);
        if (options.privateKey !== undefined &&
            (!keyTried || internals()?.retryPublicKey()) &&
            allowed('publickey')) {
            keyTried = true;
            // Parsed before the connection began (attempt), so this does not throw.
            return { type: 'publickey', username, key: privateKeyOf(options) };
        }
        keyTried = true;
        while (rest.length > 0) {
            const method = rest.shift();
            if (allowed(method))
                return method;
        }
        return false;
    };
}
/**
 * The private key as ssh2 uses it, parsed once per key and passphrase for the whole run, or the
 * error its parsing threw. ssh2 parses the key text on every connect, and an encrypted OpenSSH
 * key then runs bcrypt_pbkdf in JavaScript: measured on Node 24, 155 ms of CPU per connection
 * for an ed25519 key with a passphrase (0.05 ms without), during which no other connection's
 * handshake moves: ten connections at once to one sshd took 1.85 s of CPU, and 0.28 s with the
 * key parsed once.
 */
const parsedKeys = new Map();
function privateKeyOf(credentials) {
    const text = credentials.privateKey ?? '';
    const id = JSON.stringify([credentials.passphrase ?? null, text]);
    let parsed = parsedKeys.get(id);
    if (!parsed) {
        parsed = parseOnce(text, credentials.passphrase);
        parsedKeys.set(id, parsed);
    }
    if (parsed instanceof Error)
        throw parsed;
    return parsed;
}
/** ssh2's own checks of a key given as text (Client.connect), with its messages. */
function parseOnce(text, passphrase) {
    let parsed = (0,ssh2_lib_protocol_keyParser_js__WEBPACK_IMPORTED_MODULE_2__.parseKey)(text, passphrase);
    if (parsed instanceof Error)
        return new Error(`Cannot parse privateKey: ${parsed.message}`);
    // OpenSSH's format holds one key.
    if (Array.isArray(parsed))
        parsed = parsed[0];
    if (!parsed.isPrivateKey() || parsed.getPrivatePEM() === null)
        return new Error('privateKey value does not contain a (valid) private key');
    return parsed;
}
async function attempt(options, what, verifier, algorithms, useEarly = false, readyMs = options.timeoutSeconds * 1000) {
    const { server } = options;
    const client = new ssh2_lib_client_js__WEBPACK_IMPORTED_MODULE_1__();
    let internals;
    let hostKeyFailure;
    let offeredType;
    const config = {
        host: server.host,
        port: server.port,
        username: server.user,
        // The same identification string an early connection sent.
        ident: _early_connect_js__WEBPACK_IMPORTED_MODULE_4__/* .CLIENT_SOFTWARE */ .e3,
        readyTimeout: readyMs,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        // ssh2 passes the raw host key blob; the base64 field of a known_hosts line decodes to
        // exactly that blob, so the comparison is byte for byte. This runs before authentication.
        hostVerifier: (key) => {
            const result = verifier.verify(key);
            if (!result.ok) {
                hostKeyFailure = result.reason;
                try {
                    offeredType = (0,_known_hosts_js__WEBPACK_IMPORTED_MODULE_5__/* .keyTypeOfBlob */ .W1)(key);
                }
                catch {
                    offeredType = undefined;
                }
            }
            return result.ok;
        },
        tryKeyboard: options.password !== undefined,
        authHandler: authSequence(options, server.user, () => internals)
    };
    // Pin the host key algorithms to the types we hold: otherwise the server may offer a type we
    // have no key for, and a valid server would be refused.
    if (algorithms)
        config.algorithms = { serverHostKey: algorithms };
    if (options.password !== undefined)
        config.password = options.password;
    let socket;
    let wasEarly = false;
    let reached = false;
    try {
        // Our own socket, so that close() can drop it without waiting for the server's FIN. Every
        // phase is a small request followed by a small reply. With Nagle's algorithm on, each small
        // write waits for the ACK of the previous one, which Linux delays by up to 40 ms: measured
        // here, an exec round trip on loopback fell from 88 ms to 9 ms.
        // The connection opened while the action loaded, if it is still good (early-connect.ts).
        const early = options.tunnel || !useEarly ? undefined : (0,_early_connect_js__WEBPACK_IMPORTED_MODULE_4__/* .takeEarlyConnection */ .ZG)(server.host, server.port);
        wasEarly = early !== undefined;
        // Whether it reached the server: one refused, unreachable or of a name that does not
        // resolve fails as a connection of its own would, and is not tried again.
        reached = early !== undefined && !early.connecting;
        early?.once('connect', () => (reached = true));
        socket = options.tunnel
            ? await options.tunnel(server.host, server.port)
            : (early ?? (0,node_net__WEBPACK_IMPORTED_MODULE_0__.connect)({ host: server.host, port: server.port, noDelay: true }));
    }
    catch (error) {
        // A jump host's own failure (its host key, its login) keeps its kind.
        const Kind = error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .HostKeyError */ .oZ ? _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .HostKeyError */ .oZ : _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc;
        return { error: new Kind(`${what}: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .messageOf */ .bD)(error)}`) };
    }
    // ssh2 reports socket errors as its own 'error' events; this one only keeps a late error on
    // a socket ssh2 has let go of from ending the process.
    socket.on('error', () => undefined);
    gatherWrites(socket);
    return new Promise(resolve => {
        let settled = false;
        let authenticating = false;
        const settle = (result) => {
            if (settled)
                return;
            settled = true;
            // Lost once the first script had gone behind the authentication request: the server may
            // have run it (a deploy's lock and inspect), which no answer will tell.
            const lost = result.error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc && internals?.firstScriptWent === true;
            resolve(lost ? { ...result, error: mayHaveRun(result.error) } : result);
        };
        // An early connection lost before the key exchange finished, once it had reached the server,
        // for no reason of its own (not the host key, not a timeout): openConnection tries once more
        // on a new one.
        const lostEarly = (error) => wasEarly &&
            reached &&
            !authenticating &&
            hostKeyFailure === undefined &&
            error?.level !== 'client-timeout';
        // A listener for the client's whole life, not once: ssh2 can emit several errors on one
        // connection (a refused key, then the reset of the connection the server closed), and an
        // 'error' event with no listener ends the process. Once connected, the host adds its own.
        client.once('handshake', () => (authenticating = true));
        client.on('error', (error) => {
            if (settled)
                return;
            client.end();
            socket.destroy();
            if (authenticating && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) {
                settle({
                    error: new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc(`${what}: the server closed the connection while authenticating user '${server.user}' (${error.code}). Some servers do so on a refused key or an unknown user: check that the user exists and the public key is in ~${server.user}/.ssh/authorized_keys (or the password is right).`)
                });
                return;
            }
            if (hostKeyFailure !== undefined) {
                settle({
                    error: new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .HostKeyError */ .oZ(`${what}: host key verification failed: ${hostKeyFailure}`),
                    reason: hostKeyFailure,
                    offeredType
                });
                return;
            }
            settle({
                error: new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc(`${what}: ${describeConnectError(error, options)}`),
                ...(lostEarly(error) ? { earlyLost: true } : {}),
                ...(error.level === 'client-timeout' ? { timedOut: true } : {})
            });
        });
        client.once('ready', () => {
            // Nothing changes on the wire: ssh2's AES-GCM stops turning its key into a key object
            // for every packet (runner CPU, per packet of every connection).
            (0,_ssh2_internals_js__WEBPACK_IMPORTED_MODULE_6__/* .keyObjectsForGcm */ .Ub)(client);
            if (internals)
                settle({ connection: { client, socket, internals } });
        });
        client.once('close', () => settle({
            error: new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc(`${what}: ${describeConnectError(new Error('Connection lost before handshake'), options)}`),
            ...(lostEarly() ? { earlyLost: true } : {})
        }));
        if (options.password !== undefined) {
            client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
                finish(prompts.map(() => options.password ?? ''));
            });
        }
        try {
            // A key ssh2 cannot use throws here, before anything is sent (see keyProblem).
            if (options.privateKey !== undefined)
                privateKeyOf(options);
            client.connect({
                ...config,
                sock: socket,
                ...(options.debug ? { debug: options.debug } : {})
            });
            // With a key as the only credential, a refused key ends the attempt, so a channel opened
            // behind the signed request is lost only when the deploy is too. With a password to fall
            // back on, it is not worth the exchange that a server closing on it would cost.
            internals = new _ssh2_internals_js__WEBPACK_IMPORTED_MODULE_6__/* .ConnectionInternals */ .dU(client, {
                openEarly: options.password === undefined && options.channelsBehindAuth !== false,
                execChannels: options.exec !== false,
                allowed: options.allowPipelining !== false,
                ...(options.firstScript ? { firstScript: options.firstScript } : {}),
                ...(options.firstServerChannel !== undefined
                    ? { firstServerChannel: options.firstServerChannel }
                    : {})
            });
        }
        catch (error) {
            socket.destroy();
            // privateKeyOf throws for a key that cannot be parsed (a wrong passphrase included), and
            // ssh2's connect for a configuration it refuses.
            settle({ error: new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc(`${what}: ${keyProblem((0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .messageOf */ .bD)(error))}`) });
        }
    });
}
/**
 * Every write of one tick leaves in one system call. ssh2 writes each packet in three pieces
 * (with AES-GCM: the length, the ciphertext, the tag), and with Nagle's algorithm off each
 * write is a send of its own: measured, 165 sends a server for 50 packets on a ten-server
 * deploy, runner CPU that grows with the servers. Corked until the tick ends, the pieces of
 * every packet written in it go out together (a writev): the same bytes in the same order, a
 * few microseconds later. end() uncorks at once, so the disconnect is never held back.
 */
function gatherWrites(socket) {
    const write = socket.write;
    let corked = false;
    const uncork = () => {
        corked = false;
        socket.uncork();
    };
    socket.write = function (...args) {
        if (!corked && !this.writableEnded && !this.destroyed) {
            corked = true;
            this.cork();
            process.nextTick(uncork);
        }
        return write.apply(this, args);
    };
}
/** `error`, saying that the first script may have run before the connection was lost. */
function mayHaveRun(error) {
    const marked = new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .ConnectionError */ .Rc(`${error.message} The lock-and-inspect script had gone with the authentication request and may have run: if the next deploy finds the lock held by this run, run the action with mode: unlock.`);
    marked.scriptMayHaveRun = true;
    return marked;
}
function keyProblem(message) {
    if (/passphrase|decrypt|bad decrypt|integrity/i.test(message)) {
        return `cannot decrypt private-key: check 'passphrase'. (${message})`;
    }
    return `cannot use private-key: ${message}. Pass the whole private key text, including its BEGIN and END lines.`;
}
/** What went wrong while connecting, and what to do about it, in one sentence or two. */
function describeConnectError(error, options) {
    const { server } = options;
    if (error.level === 'client-authentication') {
        const methods = [options.privateKey ? 'private-key' : '', options.password ? 'password' : '']
            .filter(Boolean)
            .join(' and ');
        const inputs = options.role === 'jump host' ? ' (jump-private-key / jump-password)' : '';
        return `authentication failed for user '${server.user}' with ${methods}${inputs}. Check that the user exists and the public key is in ~${server.user}/.ssh/authorized_keys on the server (or the password is right).`;
    }
    if (error.level === 'client-timeout' || /Timed out/i.test(error.message)) {
        return `no SSH handshake within ${options.timeoutSeconds}s (connect-timeout). Is the host reachable and the port right?`;
    }
    if (/lost before handshake/i.test(error.message)) {
        // OpenSSH 9.8 added PerSourcePenalties: after refused logins (or connections dropped before
        // authenticating) from one address, sshd closes new connections from it at once, for 30 s
        // and more. MaxStartups does the same when too many connections are unauthenticated.
        return `the server closed the connection before the SSH handshake. sshd does this to an address it is throttling: OpenSSH 9.8 and later refuse an address for a while after repeated refused logins (PerSourcePenalties), and MaxStartups drops connections when too many are unauthenticated. Fix the credentials if earlier attempts were refused, and try again in a minute.`;
    }
    if (error.code === 'ECONNREFUSED')
        return `connection refused on port ${server.port}. Is sshd running, and is the port right?`;
    if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN')
        return `cannot resolve host name '${server.host}'.`;
    if (error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH')
        return `host unreachable (${error.code}).`;
    if (/Cannot parse privateKey|private key/i.test(error.message))
        return keyProblem(error.message);
    if (/identification string|protocol version|bad packet/i.test(error.message))
        return `the server on port ${server.port} does not speak SSH-2 (${error.message}). Is the port right?`;
    return `connection failed: ${error.message}`;
}


/***/ }),

/***/ 1714:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  As: () => (/* binding */ DEFAULT_COMMAND_TIMEOUT_SECONDS),
  LZ: () => (/* binding */ connectSsh)
});

// UNUSED EXPORTS: SshRemoteHost

// EXTERNAL MODULE: ./build/bundle/js/errors.js
var errors = __webpack_require__(6506);
// EXTERNAL MODULE: ./build/bundle/js/ssh/bootstrap.js
var bootstrap = __webpack_require__(2134);
;// CONCATENATED MODULE: ./build/bundle/js/ssh/live-connection.js

class LiveConnection {
    label;
    client;
    socket;
    internals;
    timeoutMs;
    idleMs;
    closed = false;
    lostReason;
    /** Session channels (exec and SFTP) open on this connection. */
    open = 0;
    closeWaiters = [];
    constructor(label, client, socket, internals, 
    /** Bound on each channel open and each SFTP start. */
    timeoutMs, 
    /** command-timeout: how long a script or SFTP request may go without progress. */
    idleMs = 600_000) {
        this.label = label;
        this.client = client;
        this.socket = socket;
        this.internals = internals;
        this.timeoutMs = timeoutMs;
        this.idleMs = idleMs;
        client.on('error', error => {
            this.lostReason = error.message;
        });
        client.on('close', () => {
            this.closed = true;
            this.lostReason ??= 'connection closed';
            this.wake();
        });
    }
    get openChannels() {
        return this.open;
    }
    /** What a script or SFTP request that made no progress for idleMs fails with. */
    stalled(what) {
        return new errors/* CommandTimeoutError */.$9(`${this.label}: no answer from the server for ${Math.round(this.idleMs / 1000)}s while ${what} (command-timeout); it was stopped. If a hook runs longer than that without printing anything, raise command-timeout.`);
    }
    /** The error for anything attempted after the connection was lost. */
    lost() {
        return new errors/* ConnectionError */.Rc(`${this.label}: connection lost (${this.lostReason ?? 'closed'})`);
    }
    /** Count a session channel as open until it closes. */
    track(channel) {
        this.open++;
        let counted = true;
        channel.once('close', () => {
            if (!counted)
                return;
            counted = false;
            this.open--;
            this.wake();
        });
    }
    wake() {
        const waiters = this.closeWaiters;
        this.closeWaiters = [];
        for (const wake of waiters)
            wake();
    }
    /** Resolve when one of this connection's channels closes, or after `ms`. */
    waitForClose(ms) {
        return new Promise(resolve => {
            const timer = setTimeout(done, ms);
            function done() {
                clearTimeout(timer);
                resolve();
            }
            this.closeWaiters.push(done);
        });
    }
    /**
     * Start something that answers through a callback (a channel open, an exec request, an SFTP
     * start), bounded by the connection's timeout. ssh2 waits for the server's answer forever; a
     * server that never answers (a channel it dropped, a wedged sftp-server) would hold the deploy
     * until the job's own timeout. What arrives after the timeout is handed to `late` to close.
     */
    bounded(what, start, late = () => undefined) {
        return new Promise((resolve, reject) => {
            let settled = false;
            const timer = setTimeout(() => {
                settled = true;
                reject(new errors/* ConnectionError */.Rc(`${this.label}: no answer to ${what} within ${Math.round(this.timeoutMs / 1000)}s (connect-timeout).`));
            }, this.timeoutMs);
            try {
                start((error, value) => {
                    if (settled) {
                        if (!error && value !== undefined)
                            late(value);
                        return;
                    }
                    settled = true;
                    clearTimeout(timer);
                    if (error || value === undefined)
                        reject(error ?? new Error(`no answer to ${what}`));
                    else
                        resolve(value);
                });
            }
            catch (error) {
                settled = true;
                clearTimeout(timer);
                reject(error);
            }
        });
    }
}
/** Whether an error is the server refusing a channel open (sshd's MaxSessions, for one). */
function isOpenRefused(error) {
    return error instanceof Error && /Channel open failure/i.test(error.message);
}

// EXTERNAL MODULE: ./build/bundle/js/ssh/remote-host.js
var remote_host = __webpack_require__(5951);
// EXTERNAL MODULE: ./build/bundle/js/ssh/script-frame.js
var script_frame = __webpack_require__(7061);
// EXTERNAL MODULE: ./build/bundle/js/ssh/channel-exits.js
var channel_exits = __webpack_require__(8075);
// EXTERNAL MODULE: ./build/bundle/js/ssh/ssh2-internals.js
var ssh2_internals = __webpack_require__(7593);
;// CONCATENATED MODULE: ./build/bundle/js/ssh/stream-ahead.js
class StreamAhead {
    stream;
    send;
    /** Sent behind the request, kept for a channel of its own should the server refuse it. */
    sent = [];
    /** Read but not sent (there was no room), in order; they go once the channel is answered. */
    held = [];
    ended = false;
    failed = false;
    stopped = false;
    // Both run only until stop(), which removes them: the first chunk without room stops them.
    onData = (chunk) => {
        if (this.send.data(chunk)) {
            this.sent.push(chunk);
            return;
        }
        this.held.push(chunk);
        this.stop();
    };
    onEnd = () => {
        this.ended = true;
        this.send.end();
        this.stop();
    };
    onError = () => {
        this.failed = true;
        this.stop();
    };
    constructor(stream, send) {
        this.stream = stream;
        this.send = send;
        stream.on('data', this.onData);
        stream.once('end', this.onEnd);
        stream.once('error', this.onError);
    }
    /**
     * Send nothing more behind the request; the stream waits, paused, for `into` (a failure in
     * the meantime is still noted, so that `into` ends the channel).
     */
    stop() {
        if (this.stopped)
            return;
        this.stopped = true;
        this.stream.pause();
        this.stream.off('data', this.onData);
        this.stream.off('end', this.onEnd);
    }
    /**
     * The rest of the stream into the channel the server answered: what was held, then what is
     * still to come, then its end. `again`: the server refused the request the data went behind,
     * so nothing of it arrived, and this channel gets it all.
     */
    into(channel, again = false) {
        this.stop();
        this.stream.off('error', this.onError);
        if (again)
            for (const chunk of this.sent)
                channel.write(chunk);
        for (const chunk of this.held)
            channel.write(chunk);
        // A stream that failed or ended is not piped: pipe() would never end the channel.
        // Ending it once its end went behind the request sends nothing more (ssh2 sends one EOF).
        if (this.failed || this.ended) {
            channel.end();
            return;
        }
        this.stream.pipe(channel);
    }
}

;// CONCATENATED MODULE: ./build/bundle/js/ssh/exec-channels.js








const STDERR_TAIL = 8192;
/**
 * Whether a channel's failure means the script it was to run never ran there: the server
 * refused the open or the exec request (or the channel was never open). Not a timeout, after
 * which a script sent behind the request may still run.
 */
function refusedUnrun(error) {
    return (error instanceof errors/* ExecRefusedError */.EC ||
        isOpenRefused(error) ||
        (error instanceof Error &&
            (error.message === 'Unable to exec' || error.message === 'Channel is not open')));
}
/**
 * Let go of a channel nothing reads: its streams are drained, or ssh2 never emits its 'close'
 * (a readable stream ends only once read), and the slot it held would never be counted free.
 */
function release(channel, how) {
    channel.resume();
    channel.stderr.resume();
    if (how === 'end')
        channel.end();
    else
        channel.close();
}
class ExecChannels {
    connection;
    dropIdleSftp;
    /**
     * The spare: `answered` once the server answered its exec request; `requested` as soon as that
     * request went out on a channel opened during authentication (undefined otherwise), so that
     * a script can go right behind it without waiting for the answer.
     */
    spare;
    sparesEnabled = true;
    constructor(connection, 
    /** Close the idle SFTP session, to make room for an exec channel. */
    dropIdleSftp) {
        this.connection = connection;
        this.dropIdleSftp = dropIdleSftp;
    }
    get label() {
        return this.connection.label;
    }
    /**
     * Run `commandLine` on a new exec channel (or on `opened`, a channel opened during
     * authentication). `payload` is written right behind the exec request, before its answer: the
     * server hands it to the command's stdin, and the script is under way one round trip sooner.
     * That needs the channel opened during authentication, so it is done only where the internals
     * switch is on; elsewhere the payload is written by the caller once the channel is ready.
     */
    async openChannel(opened, payload, follow, 
    /** Called once the exec request went out on a channel opened during authentication. */
    onRequested) {
        const { connection } = this;
        // ssh2 answers a request still pending when the connection ends as if the server had refused
        // it ('Unable to exec'). The script sent behind it may have run, and may have switched: that
        // is a lost connection (what session-prepare.ts checks the server for), not a refusal.
        const unanswered = (error) => error && connection.closed ? connection.lost() : error;
        // The server confirms a channel opened during authentication right behind its success; one
        // that never comes (or a refusal) leaves it to a channel of its own.
        const early = opened
            ? await connection
                .bounded('a channel open', done => void opened.then(c => done(undefined, c), (e) => done(e)), c => release(c, 'close'))
                .catch(() => undefined)
            : undefined;
        if (connection.closed)
            throw connection.lost();
        let sent = false;
        const channel = await connection.bounded(early ? 'an exec request' : 'a channel open', done => {
            if (early) {
                connection.track(early);
                // The exit status can arrive in the same read as the exec reply (a short script), and
                // ssh2 emits it at once: listen now, not after the promise resolves, or it is lost.
                (0,channel_exits/* watchChannel */.bS)(early);
                let answered = false;
                sent = connection.internals.execOn(early, bootstrap/* BOOTSTRAP */.n, payload, error => {
                    answered = true;
                    if (error)
                        release(early, 'close');
                    done(unanswered(error), early);
                });
                if (!answered)
                    onRequested?.(early);
                // What follows the script goes behind it as soon as it is known, not a round trip
                // later when the server's answer (and the window it opens) comes back.
                if (sent && follow)
                    follow.bytes.then(bytes => {
                        if (!answered && !follow.sent && !connection.closed)
                            follow.sent = connection.internals.sendBehind(early, bytes);
                    }, () => undefined);
                return;
            }
            connection.client.exec(bootstrap/* BOOTSTRAP */.n, (error, channel) => {
                if (channel) {
                    connection.track(channel);
                    (0,channel_exits/* watchChannel */.bS)(channel);
                }
                // ssh2's words when the channel opened but the server refused its exec request: the
                // account may be SFTP-only.
                const why = unanswered(error);
                done(why?.message === 'Unable to exec'
                    ? new errors/* ExecRefusedError */.EC(`${this.label}: the server refused to run a command`)
                    : why, channel);
            });
        }, channel => release(channel, 'close'));
        return { channel, sent };
    }
    /**
     * Start opening the exec channel the next script will need, so its round trip overlaps with
     * the work in progress. sshd's MaxSessions (10 by default, 2 or 1 on some hosts) bounds the
     * channels per connection; when a spare cannot be opened, spares are given up and channels
     * are opened on demand.
     */
    ensureSpare() {
        if (!this.sparesEnabled || this.spare || this.connection.closed)
            return;
        let requested = () => undefined;
        const early = new Promise(resolve => (requested = resolve));
        const answered = this.openChannel(this.connection.internals.takeEarly('spare'), undefined, undefined, requested).then(opened => opened.channel);
        answered.then(() => requested(undefined), () => requested(undefined));
        const spare = { answered, requested: early };
        answered.catch(() => {
            this.sparesEnabled = false;
            if (this.spare === spare)
                this.spare = undefined;
        });
        this.spare = spare;
    }
    /**
     * The channel whose exec request and script went out right behind its open, during
     * authentication (ssh2-internals.ts, ConnectionInternals.execBehindOpen), once the server
     * answered the request; undefined when it refused the open or the exec, and nothing ran (the
     * script then goes on a channel of its own). `scriptBytes` is the first script as this
     * connection frames it: the one sent ahead must be it, byte for byte, or the run fails.
     */
    async takeAhead(ahead, scriptBytes) {
        const { connection } = this;
        if (!ahead.payload.equals(scriptBytes)) {
            ahead.channel.then(c => release(c, 'close')).catch(() => undefined);
            throw new Error(`${this.label}: the script sent during authentication is not the first script run; the run stops (a fault of atomic-deploy)`);
        }
        let channel;
        try {
            channel = await connection.bounded('a channel open', done => void ahead.channel.then(c => done(undefined, c), (e) => done(e)), c => release(c, 'close'));
        }
        catch (error) {
            // The server numbered the channel otherwise than the request sent ahead assumed.
            if (error instanceof ssh2_internals/* ChannelNumberError */.hk)
                throw new errors/* ConnectionError */.Rc(`${this.label}: ${error.message}`);
            if (connection.closed)
                throw connection.lost();
            // A refused open ran nothing; after a timeout the script may still run there, so it is
            // not sent again elsewhere.
            if (!refusedUnrun(error))
                throw error;
            return undefined;
        }
        if (!channel_exits/* closedChannels */.Bw.has(channel))
            connection.track(channel);
        const refused = await connection.bounded('an exec request', done => void ahead.answer.then(error => done(undefined, error ?? false)), () => release(channel, 'close'));
        if (refused) {
            release(channel, 'close');
            if (connection.closed)
                throw connection.lost();
            return undefined;
        }
        return channel;
    }
    /**
     * A channel running the bootstrap, with `payload` already sent on it when `sent` says so.
     * `last`: no script follows on success, so no spare is opened for one (RunOptions.last).
     */
    async takeChannel(payload, follow, last = false, stdin) {
        const next = () => {
            if (!last)
                this.ensureSpare();
        };
        // The first script of a connection: the channel opened during authentication carries its
        // exec request and the script right behind it, in one flight.
        const command = this.connection.internals.takeEarly('command');
        if (command) {
            try {
                const opened = await this.openChannel(command, payload, follow);
                next();
                return opened;
            }
            catch (error) {
                // Refused: fall through to a spare or a channel of its own, which gets all of it. Not
                // after a timeout: the script may have gone and may still run there.
                if (this.connection.closed || !refusedUnrun(error))
                    throw error;
                if (follow)
                    follow.sent = false;
            }
        }
        const spare = this.spare;
        this.spare = undefined;
        // The script's stdin begun behind the spare's exec request (see below), if it was.
        let ahead;
        if (spare) {
            // The script goes right behind the spare's exec request where that went out on a channel
            // opened during authentication, as on the first channel; then the answer is waited for.
            const requested = await spare.requested;
            let usable = true;
            const sent = requested !== undefined && this.connection.internals.sendBehind(requested, payload);
            if (sent && follow)
                follow.bytes.then(bytes => {
                    if (usable && !follow.sent && !this.connection.closed)
                        follow.sent = this.connection.internals.sendBehind(requested, bytes);
                }, () => undefined);
            // So does the script's stdin, as far as it is ready and the room behind the request
            // goes; the rest once the answer came.
            const internals = this.connection.internals;
            if (sent && stdin)
                ahead = new StreamAhead(stdin, {
                    data: chunk => !this.connection.closed && internals.sendBehind(requested, chunk),
                    end: () => !this.connection.closed && internals.eofBehind(requested)
                });
            const channel = await spare.answered
                .finally(() => ahead?.stop())
                .catch((error) => {
                // The script went behind the request: only a refusal means it never ran.
                if (sent && (this.connection.closed || !refusedUnrun(error)))
                    throw error;
                return undefined;
            });
            if (channel) {
                next();
                return { channel, sent, ...(ahead ? { ahead } : {}) };
            }
            // Fall through to an on-demand channel, which gets all of it.
            usable = false;
            if (follow)
                follow.sent = false;
        }
        const opened = await this.withRoom(() => this.openChannel());
        next();
        return { ...opened, ...(ahead ? { ahead } : {}) };
    }
    /**
     * Open a channel; when the server refuses (sshd's MaxSessions: 10 by default, 2 or even 1 on
     * some hosts), give up spares, close the idle SFTP session, wait until one of our channels has
     * closed (the server frees its slot only once it has our close), and try again. The phases
     * never use SFTP and a script at the same time, so an idle session can always go. Bounded:
     * a few attempts, each wait at most the connection's timeout.
     */
    async withRoom(open) {
        let lastError;
        for (let attempt = 0; attempt < 6; attempt++) {
            try {
                return await open();
            }
            catch (error) {
                lastError = error;
                if (this.connection.closed || !isOpenRefused(error))
                    break;
                const busy = this.connection.openChannels;
                this.makeRoom();
                // With channels of ours open, one of them closing frees a slot; with none, the refusal
                // is the server's own business, and a short pause is all a retry can hope for.
                if (busy > 0)
                    await this.connection.waitForClose(this.connection.timeoutMs);
                await new Promise(r => setTimeout(r, 20 * (attempt + 1)));
            }
        }
        if (isOpenRefused(lastError))
            throw new errors/* ConnectionError */.Rc(`${this.label}: the server refused to open a channel (${lastError.message}); sshd's MaxSessions may be too low for the channels in use (1 is enough when nothing else holds one).`);
        throw lastError;
    }
    /** Give up spares and the channels opened during authentication, and close idle SFTP. */
    makeRoom() {
        this.sparesEnabled = false;
        this.connection.internals.dropEarly();
        const spare = this.spare;
        this.spare = undefined;
        spare?.answered.then(c => release(c, 'end')).catch(() => undefined);
        this.dropIdleSftp();
    }
    /**
     * Scripts go gzipped (a third of their bytes) where the server has gzip: tried on the first
     * script, and known from its result on (see BOOTSTRAP).
     */
    compress;
    async run(script, options = {}) {
        const compress = this.compress !== false;
        const result = await this.runOnce(script, options, compress);
        if (compress && this.compress === undefined) {
            if (result.code === bootstrap/* UNREADABLE_SCRIPT */.A && result.stdout.length === 0) {
                this.compress = false;
                // Nothing of it ran: the script again, as it is.
                if (options.stdin)
                    throw new errors/* ScriptUnreadError */.hy(`${this.label}: the server could not read a gzipped script (no gzip?)`);
                return this.runOnce(script, options, false);
            }
            this.compress = true;
        }
        return result;
    }
    async runOnce(script, options, compress) {
        const scriptBytes = (0,script_frame/* framed */.Q)(script, compress);
        let payload = scriptBytes;
        // What follows the script: in the same flight when it is known already, else sent when it
        // is. Known already includes a promise derived from settled ones, which settles in the
        // microtasks that run before the next turn of the event loop (setImmediate).
        const known = options.follow
            ? await Promise.race([
                options.follow,
                new Promise(resolve => setImmediate(resolve, undefined))
            ]).catch(() => undefined)
            : undefined;
        let follow;
        let taken;
        const first = this.connection.internals.takeAhead();
        if (first) {
            // A spare for the next script, if none was started yet (warmUp starts one).
            if (options.last !== true)
                this.ensureSpare();
            const channel = await this.takeAhead(first, scriptBytes);
            if (channel) {
                taken = { channel, sent: true };
                // What follows the script went behind it, or goes now, through ssh2's window.
                const bytes = known ? Promise.resolve(known) : options.follow;
                if (bytes)
                    follow = { bytes, sent: first.followSent() };
            }
        }
        if (!taken) {
            if (known)
                payload = Buffer.concat([payload, known]);
            follow = options.follow && !known ? { bytes: options.follow, sent: false } : undefined;
            taken = await this.takeChannel(payload, follow, options.last === true, options.stdin);
        }
        const { channel, sent, ahead } = taken;
        return new Promise((resolve, reject) => {
            const stdout = [];
            let stdoutBytes = 0;
            let stderrTail = '';
            let partial = '';
            let code = null;
            let settled = false;
            let failure;
            const stop = () => {
                try {
                    channel.signal('TERM');
                }
                catch {
                    /* older servers do not take signals; closing stdin is enough */
                }
                options.stdin?.unpipe(channel);
                channel.end();
                channel.close();
            };
            const onAbort = () => stop();
            // The server is untrusted: a script that stops answering (no byte either way for
            // command-timeout), or one that sends more than any script of ours prints, is stopped
            // rather than waited for or buffered.
            // Progress is a time stamp, checked when the timer fires: a timer reset on every chunk of
            // a long upload cost more CPU than anything else per chunk.
            let last = Date.now();
            let idle;
            const watch = (delay) => {
                idle = setTimeout(() => {
                    if (settled)
                        return;
                    const quiet = Date.now() - last;
                    if (quiet < this.connection.idleMs) {
                        watch(this.connection.idleMs - quiet);
                        return;
                    }
                    failure ??= this.connection.stalled('running a script');
                    stop();
                    // The channel's close may never come from a server that answers nothing.
                    setTimeout(finish, 2000).unref();
                }, delay);
            };
            const progress = () => {
                last = Date.now();
            };
            watch(this.connection.idleMs);
            const finish = () => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(idle);
                const exit = channel_exits/* exits */.co.get(channel);
                code = exit?.code ?? null;
                if (code === null && exit?.signal)
                    stderrTail += `\n(killed by SIG${exit.signal})`;
                options.signal?.removeEventListener('abort', onAbort);
                if (partial !== '')
                    options.onStderrLine?.(partial);
                if (failure) {
                    reject(failure);
                    return;
                }
                if (code === null && this.connection.closed) {
                    reject(this.connection.lost());
                    return;
                }
                resolve({ code, stdout: Buffer.concat(stdout), stderrTail });
            };
            channel.on('data', (chunk) => {
                progress();
                stdoutBytes += chunk.length;
                if (stdoutBytes > remote_host/* SCRIPT_OUTPUT_LIMIT */.Y) {
                    if (!failure) {
                        failure = new errors/* ServerDataError */.Sy(`${this.label}: the server sent more than ${remote_host/* SCRIPT_OUTPUT_LIMIT */.Y} bytes of results for one script; the script was stopped`);
                        stop();
                    }
                    return;
                }
                stdout.push(chunk);
            });
            channel.stderr.on('data', (chunk) => {
                progress();
                const text = chunk.toString('utf8');
                stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
                partial += text;
                const lines = partial.split('\n');
                partial = lines.pop() ?? '';
                for (const line of lines)
                    options.onStderrLine?.(line);
                // A line that never ends is shown in pieces, never held whole.
                while (partial.length > remote_host/* STDERR_LINE_LIMIT */.A) {
                    options.onStderrLine?.(partial.slice(0, remote_host/* STDERR_LINE_LIMIT */.A));
                    partial = partial.slice(remote_host/* STDERR_LINE_LIMIT */.A);
                }
            });
            channel.on('close', finish);
            // Closed before this listener existed (a script with no output): finish once the buffered
            // stderr, if any, has been read.
            if (channel_exits/* closedChannels */.Bw.has(channel))
                setImmediate(finish);
            if (options.signal) {
                if (options.signal.aborted)
                    onAbort();
                else
                    options.signal.addEventListener('abort', onAbort, { once: true });
            }
            if (options.onStdinMeter) {
                // Counted from the channel's first byte: the script, then stdin.
                const taken = (0,ssh2_internals/* takenMeter */.hM)(channel);
                options.onStdinMeter(() => (taken ? Math.max(0, taken() - payload.length) : undefined));
            }
            if (!sent)
                channel.write(payload);
            if (options.stdin) {
                options.stdin.on('error', () => {
                    // The script sees a truncated stream and fails; its own error is the one reported.
                    channel.end();
                });
                // Bytes the server takes from us are progress too (a long upload, silent on its side).
                options.stdin.on('data', progress);
                // Nothing of it went on this channel when the script did not: all of it goes again.
                if (ahead)
                    ahead.into(channel, !sent);
                else
                    options.stdin.pipe(channel);
            }
            else if (follow) {
                const end = (bytes) => {
                    if (settled)
                        return;
                    if (bytes && !follow.sent)
                        channel.write(bytes);
                    follow.sent = true;
                    channel.end();
                };
                follow.bytes.then(end, () => end());
            }
            else {
                channel.end();
            }
        });
    }
    close() {
        this.spare?.answered.then(c => release(c, 'end')).catch(() => undefined);
        this.spare = undefined;
        this.sparesEnabled = false;
    }
}

// EXTERNAL MODULE: ./build/bundle/js/sftp/sftp-engine.js
var sftp_engine = __webpack_require__(785);
;// CONCATENATED MODULE: ./build/bundle/js/ssh/sftp-files.js




class SftpSession {
    connection;
    withRoom;
    session;
    /** The session once started: only a started one is idle, and can be closed to make room. */
    started;
    probed;
    engine;
    gathering = false;
    constructor(connection, 
    /** Open with room made for it when sshd's MaxSessions refuses (the exec side's retry). */
    withRoom) {
        this.connection = connection;
        this.withRoom = withRoom;
    }
    /** One attempt at a session: on the channel opened during authentication, or a new one. */
    startOnce() {
        const { connection } = this;
        const early = connection.internals.takeEarly('sftp');
        const started = (async () => {
            const opened = early
                ? await connection
                    .bounded('a channel open', done => void early.then(c => done(undefined, c), (e) => done(e)), sftp => sftp.end())
                    .catch(() => undefined)
                : undefined;
            if (connection.closed)
                throw connection.lost();
            return connection.bounded('the start of SFTP', done => {
                if (opened) {
                    connection.track(opened);
                    connection.internals.startSftpOn(opened, error => {
                        if (error)
                            opened.end();
                        done(error, opened);
                    });
                    return;
                }
                connection.client.sftp((error, sftp) => {
                    if (sftp)
                        connection.track(sftp);
                    done(error, sftp);
                });
            }, sftp => sftp.end());
        })();
        started.then(sftp => {
            // A malformed packet from the server ends the session with an 'error' event; the
            // requests in flight fail with it, and an event with no listener would end the process.
            sftp.on('error', () => undefined);
            this.started = sftp;
            sftp.once('close', () => {
                if (this.started === sftp)
                    this.started = undefined;
            });
        }, () => undefined);
        return started;
    }
    /**
     * Whether the server has SFTP, and its extensions, from the first start. A refused channel open
     * (sshd's MaxSessions, with the first script's channel open) says nothing about SFTP: that is
     * 'unknown', and nothing is waited for; the session is started again when it is needed.
     */
    probe() {
        this.probed ??= (async () => {
            const started = this.startOnce();
            this.session ??= started;
            try {
                const sftp = await started;
                return { state: 'available', extensions: (0,ssh2_internals/* sftpExtensions */.Sh)(sftp) };
            }
            catch (error) {
                if (this.session === started)
                    this.session = undefined;
                if (this.connection.closed)
                    throw this.connection.lost();
                if (isOpenRefused(error))
                    return { state: 'unknown', reason: `a channel open was refused (${(0,errors/* messageOf */.bD)(error)})` };
                if (error instanceof errors/* ConnectionError */.Rc)
                    return { state: 'unknown', reason: (0,errors/* messageOf */.bD)(error) };
                return { state: 'missing', reason: (0,errors/* messageOf */.bD)(error) };
            }
        })();
        return this.probed;
    }
    /** The session, started (with room made for it) if it is not running. */
    async files() {
        const probe = await this.probe();
        if (probe.state === 'missing')
            throw new errors/* ConnectionError */.Rc(`${this.connection.label}: the server has no SFTP: ${probe.reason}`);
        const session = (this.session ??= this.withRoom(() => this.startOnce()).catch(error => {
            throw new errors/* ConnectionError */.Rc(`${this.connection.label}: cannot start SFTP: ${(0,errors/* messageOf */.bD)(error)}`);
        }));
        session.then(sftp => {
            // Started after all (the probe's open was refused for room): what it found.
            if (probe.state === 'unknown')
                this.probed = Promise.resolve({ state: 'available', extensions: (0,ssh2_internals/* sftpExtensions */.Sh)(sftp) });
        }, () => {
            if (this.session === session)
                this.session = undefined;
        });
        return session.then(sftp => this.engineOf(sftp));
    }
    /** The engine of a session: one per session, so its bounds hold across callers. */
    engineOf(sftp) {
        if (this.engine?.sftp !== sftp) {
            (0,ssh2_internals/* gatherSftpPackets */.eO)(sftp);
            const { connection } = this;
            const engine = new sftp_engine/* SftpEngine */.CB(sftp, connection.label, (0,ssh2_internals/* sftpFacts */.J$)(sftp), {}, () => this.gather(), 
            // command-timeout bounds every SFTP request, as it bounds every script. A session given
            // up is forgotten at once (a server that answers nothing may never confirm the channel's
            // close): the next caller starts a new one.
            {
                ms: connection.idleMs,
                stalled: what => {
                    this.forget(sftp);
                    return connection.stalled(what);
                }
            });
            this.engine = { sftp, engine };
        }
        return this.engine.engine;
    }
    /**
     * Hold the socket's writes until the end of this turn of the event loop. ssh2 writes each
     * packet on its own, and the pipelined SFTP engine sends many requests in one turn: gathered,
     * they leave in one system call and a few TCP segments.
     */
    gather() {
        const { socket } = this.connection;
        if (this.gathering || typeof socket.cork !== 'function')
            return;
        this.gathering = true;
        socket.cork();
        process.nextTick(() => {
            this.gathering = false;
            socket.uncork();
        });
    }
    /** Let go of a session given up: the next caller starts another. */
    forget(sftp) {
        if (this.engine?.sftp !== sftp)
            return;
        this.engine = undefined;
        this.session = undefined;
        if (this.started === sftp)
            this.started = undefined;
    }
    /** Start the session now, so its round trips overlap with the work in progress. */
    warmUp() {
        void this.probe().catch(() => undefined);
    }
    /** Close the session while it is idle, to free its channel; it starts again when needed. */
    dropIdle() {
        const sftp = this.started;
        if (!sftp)
            return;
        this.started = undefined;
        this.session = undefined;
        sftp.end();
    }
}

// EXTERNAL MODULE: ./build/bundle/js/ssh/ssh-connect.js
var ssh_connect = __webpack_require__(3233);
;// CONCATENATED MODULE: ./build/bundle/js/ssh/ssh-remote-host.js




/** command-timeout's default: a hook may run silently for up to 10 minutes. */
const DEFAULT_COMMAND_TIMEOUT_SECONDS = 600;
/** Open one SSH connection to a server, verifying its host key before authentication. */
async function connectSsh(options) {
    const opened = await (0,ssh_connect/* openConnection */.JY)(options);
    return new SshRemoteHost(options.server.label, opened, options.timeoutSeconds * 1000, (options.commandTimeoutSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS) * 1000, options.exec ?? true);
}
/** A RemoteHost over one ssh2 connection: one SFTP session and few exec channels. */
class SshRemoteHost {
    label;
    exec;
    connection;
    channels;
    sftp;
    constructor(label, opened, 
    /** Bound on each channel open and SFTP start. */
    timeoutMs, 
    /** command-timeout: how long a script or SFTP request may go without progress. */
    idleMs = DEFAULT_COMMAND_TIMEOUT_SECONDS * 1000, 
    /** Whether commands may run (false with `shell: none`: the connection carries SFTP alone). */
    exec = true) {
        this.label = label;
        this.exec = exec;
        this.connection = new LiveConnection(label, opened.client, opened.socket, opened.internals, timeoutMs, idleMs);
        this.channels = new ExecChannels(this.connection, () => this.sftp.dropIdle());
        this.sftp = new SftpSession(this.connection, open => this.channels.withRoom(open));
    }
    get software() {
        return this.connection.internals.software;
    }
    get pipelined() {
        return this.connection.internals.pipelined;
    }
    firstScriptSent() {
        return this.connection.internals.firstScriptSent();
    }
    /**
     * Start opening what the next steps will need (one spare exec channel and the SFTP session), so
     * their round trips overlap with the work in progress.
     */
    warmUp() {
        if (this.exec)
            this.channels.ensureSpare();
        this.sftp.warmUp();
    }
    run(script, options) {
        if (!this.exec)
            return Promise.reject(new Error(`${this.label}: no command may run on this connection (shell: none)`));
        return this.channels.run(script, options);
    }
    probeSftp() {
        return this.sftp.probe();
    }
    files() {
        return this.sftp.files();
    }
    get connected() {
        return !this.connection.closed;
    }
    close() {
        this.channels.close();
        this.connection.internals.dropEarly();
        this.connection.client.end();
        // DISCONNECT is written (the kernel still delivers it after the socket is closed); waiting
        // for the server's FIN would only keep the process alive one more round trip.
        const { socket } = this.connection;
        if (socket.writableLength === 0)
            socket.destroy();
        else
            socket.once('finish', () => socket.destroy());
    }
}


/***/ }),

/***/ 7593:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   J$: () => (/* binding */ sftpFacts),
/* harmony export */   Sh: () => (/* binding */ sftpExtensions),
/* harmony export */   Ub: () => (/* binding */ keyObjectsForGcm),
/* harmony export */   dU: () => (/* binding */ ConnectionInternals),
/* harmony export */   eO: () => (/* binding */ gatherSftpPackets),
/* harmony export */   hM: () => (/* binding */ takenMeter),
/* harmony export */   hk: () => (/* binding */ ChannelNumberError)
/* harmony export */ });
/* unused harmony exports PIPELINED_SOFTWARE, shapeProblems, clientShapeProblems, FIRST_SERVER_CHANNEL, aheadMismatch */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7598);
/* harmony import */ var ssh2_lib_Channel_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(5683);
/* harmony import */ var ssh2_lib_protocol_Protocol_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(7841);
/* harmony import */ var ssh2_lib_protocol_SFTP_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(4996);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(6506);
/* harmony import */ var _bootstrap_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(2134);
/* harmony import */ var _channel_exits_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(8075);
/**
 * Every use of ssh2's private fields, in one place, behind one switch.
 *
 * ssh2's public API waits for the server's answer at each step of a connection: the auth service,
 * a "would you accept this key?" query, then each channel open and each channel request. The
 * savings here send the next step right behind the previous one, which saves three round trips
 * on every deploy, but they reach into ssh2's internals (its protocol object, channel manager,
 * SFTP start) and they rely on how a server orders its answers. So:
 *
 * - the switch (`pipelined`) turns on only for servers whose identification string is one these
 *   savings were tested against (PIPELINED_SOFTWARE); every other server gets ssh2's public
 *   behaviour, one step after another;
 * - the switch stays off when the installed ssh2 lacks any field used here (shapeProblems), and
 *   a test fails loudly when that happens.
 *
 * Reading the SFTP extensions the server announced changes nothing on the wire, so it needs only
 * ssh2's shape, not the switch; nor does gathering SFTP requests into fewer SSH packets, which
 * changes only where packets begin and end in a channel's byte stream (RFC 4254, section 5.2),
 * which no server can tell.
 */







/**
 * The server software (the version field of its identification string, e.g. `OpenSSH_9.2p1`)
 * the savings were tested with: OpenSSH 9.2 as Debian 12 ships it, against which the test suite
 * runs. Dropbear is left out on purpose: it closes the connection when channel opens arrive
 * behind a refused key ("Received message 90 before userauth"), and closes opened but unused
 * session channels when any command of the connection exits.
 */
const PIPELINED_SOFTWARE = [/^OpenSSH_9\.2p1$/];
const PROTOCOL_METHODS = [
    'authPK',
    'service',
    'session',
    'exec',
    'subsystem',
    'channelData'
];
const HANDLERS = ['SERVICE_ACCEPT', 'EXT_INFO', 'USERAUTH_FAILURE'];
/**
 * What the installed ssh2 lacks of the shape the savings rely on, before any connection: the
 * protocol's methods, SFTP's start, the channel constants. Empty when all is there.
 */
function shapeProblems() {
    const problems = [];
    const proto = ssh2_lib_protocol_Protocol_js__WEBPACK_IMPORTED_MODULE_2__.prototype;
    for (const name of PROTOCOL_METHODS)
        if (typeof proto?.[name] !== 'function')
            problems.push(`Protocol.prototype.${name}`);
    const sftp = ssh2_lib_protocol_SFTP_js__WEBPACK_IMPORTED_MODULE_3__.SFTP?.prototype;
    if (typeof sftp?.['_init'] !== 'function')
        problems.push('SFTP.prototype._init');
    if (typeof ssh2_lib_Channel_js__WEBPACK_IMPORTED_MODULE_1__.MAX_WINDOW !== 'number' || typeof ssh2_lib_Channel_js__WEBPACK_IMPORTED_MODULE_1__.PACKET_SIZE !== 'number')
        problems.push('Channel MAX_WINDOW / PACKET_SIZE');
    return problems;
}
/** The same, for one connected client: its protocol object, handlers and channel manager. */
function clientShapeProblems(client) {
    const raw = client;
    const problems = shapeProblems();
    const proto = raw._protocol;
    if (!proto)
        return [...problems, 'client._protocol'];
    for (const name of PROTOCOL_METHODS)
        if (typeof proto[name] !== 'function')
            problems.push(`client._protocol.${name}`);
    for (const name of HANDLERS)
        if (typeof proto._handlers?.[name] !== 'function')
            problems.push(`handler ${name}`);
    if (typeof raw._chanMgr?.add !== 'function' || typeof raw._chanMgr.remove !== 'function')
        problems.push('client._chanMgr');
    return problems;
}
/**
 * How many bytes of a channel's data the server has taken: the sum of its window adjustments
 * (RFC 4254, section 5.2), which OpenSSH and Dropbear send as the command reads what arrived.
 * ssh2 keeps the send window in `channel.outgoing.window`, lowers it as it sends and raises it
 * only on an adjustment; the property is replaced by one that counts the raises. It changes
 * nothing on the wire, so it needs ssh2's shape only, not the switch. Undefined when the channel
 * has no such field (test/ssh/stdin-meter.test.ts fails then).
 */
function takenMeter(channel) {
    const outgoing = channel.outgoing;
    if (!outgoing || typeof outgoing.window !== 'number')
        return undefined;
    let window = outgoing.window;
    let taken = 0;
    Object.defineProperty(outgoing, 'window', {
        configurable: true,
        enumerable: true,
        get: () => window,
        set: (value) => {
            if (value > window)
                taken += value - window;
            window = value;
        }
    });
    return () => taken;
}
/** The savings for one connection, and what they learn on the way. */
class ConnectionInternals {
    client;
    options;
    /** What the installed ssh2 lacks; the savings are off when this is not empty. */
    problems;
    /** server-sig-algs from the server's EXT_INFO (RFC 8308), once it came. */
    serverSigAlgs;
    early;
    /** The first script, sent behind its channel's open and not taken yet. */
    ahead;
    /** Whether the first script went (behind the request that succeeded), taken or not. */
    aheadSent = false;
    /** Set once the caller asked (firstScriptSent) and it had not gone: it never goes then. */
    aheadClosed = false;
    /** The opens sent behind the request in flight, given up if the server refuses it. */
    pendingEarly;
    /** RSA signature algorithms tried so far, and worth trying, with the key. */
    rsaTried = 0;
    rsaCount = 0;
    constructor(client, options) {
        this.client = client;
        this.options = options;
        this.problems = clientShapeProblems(client);
        if (this.problems.length > 0)
            return;
        this.authWithoutWaiting();
        this.signFirst();
        this.dropEarlyOnFailure();
    }
    /** The server's software version from its identification string, once it came. */
    get software() {
        const version = this.client._remoteVer;
        return typeof version === 'string' ? version : undefined;
    }
    /**
     * The switch: true when ssh2 has the shape the savings rely on and the server is one they
     * were tested with. Read at each step, so nothing changes before the server identified itself.
     */
    get pipelined() {
        const software = this.software;
        return (this.options.allowed !== false &&
            this.problems.length === 0 &&
            software !== undefined &&
            PIPELINED_SOFTWARE.some(re => re.test(software)));
    }
    get proto() {
        return this.client._protocol;
    }
    /**
     * Whether to make another publickey request with the same key after a refusal: yes while an
     * RSA signature algorithm worth trying is left (rsa-sha2-512, then rsa-sha2-256, as OpenSSH's
     * client orders them, of those the server's server-sig-algs lists). Without the switch, ssh2
     * picks the algorithm itself (rsa-sha2-256 first) and makes one request.
     */
    retryPublicKey() {
        return this.pipelined && this.rsaTried < this.rsaCount;
    }
    rsaAlgorithms(key) {
        if (key?.type !== 'ssh-rsa')
            return [];
        const offered = this.serverSigAlgs;
        if (!offered)
            return [];
        return ['rsa-sha2-512', 'rsa-sha2-256'].filter(algo => offered.includes(algo));
    }
    /**
     * Send the first authentication request right behind the request for the auth service,
     * instead of a round trip later when the server accepts it. The server handles messages in
     * order: it accepts the service, then reads the request (OpenSSH installs its userauth handler
     * while accepting). ssh2 starts authenticating on SERVICE_ACCEPT; here it starts once the
     * service was requested and the server's EXT_INFO has arrived (it comes with the server's
     * NEWKEYS, before the accept, and says which RSA signatures the server takes), and the accept
     * itself is then ignored. A server that sends no EXT_INFO is waited for, as before.
     */
    authWithoutWaiting() {
        const proto = this.proto;
        const handlers = proto._handlers;
        const service = proto.service;
        const accept = handlers.SERVICE_ACCEPT;
        const extInfo = handlers.EXT_INFO;
        let requested = false;
        let informed = false;
        let started = false;
        const start = () => {
            if (started || !requested || !informed || !this.pipelined)
                return;
            started = true;
            accept(proto, 'ssh-userauth');
        };
        proto.service = (name) => {
            service.call(proto, name);
            if (name === 'ssh-userauth') {
                requested = true;
                start();
            }
        };
        handlers.EXT_INFO = (p, ...args) => {
            const exts = args[0];
            const sigAlgs = exts?.find(e => e.name === 'server-sig-algs')?.algs;
            if (Array.isArray(sigAlgs))
                this.serverSigAlgs ??= sigAlgs;
            extInfo(p, ...args);
            informed = true;
            start();
        };
        handlers.SERVICE_ACCEPT = (p, name, ...args) => {
            if (name === 'ssh-userauth' && started)
                return;
            if (name === 'ssh-userauth')
                started = true;
            accept(p, name, ...args);
        };
    }
    /**
     * Send the publickey request signed at once. ssh2 (like OpenSSH) first asks whether the server
     * would accept the key and signs only after it says yes: a round trip on every deploy, to save
     * a signature the client can make in microseconds. RFC 4252 lets a client send the signed
     * request directly; a server that refuses the key answers it with the same failure, and ssh2
     * then goes on exactly as after a refused query. Only ssh2's own private key objects are
     * signed with; anything else keeps the query. The RSA algorithm is chosen here too, before the
     * server's answer: the first of rsa-sha2-512 and rsa-sha2-256 its server-sig-algs lists, and
     * the other on the next attempt (ssh2 alone tries rsa-sha2-256 only, which a server restricted
     * to rsa-sha2-512 refuses).
     */
    signFirst() {
        const proto = this.proto;
        const authPK = proto.authPK;
        proto.authPK = (username, key, keyAlgo, cbSign) => {
            const own = key;
            if (!this.pipelined ||
                cbSign !== undefined ||
                typeof keyAlgo === 'function' ||
                typeof own?.sign !== 'function' ||
                typeof own.isPrivateKey !== 'function' ||
                !own.isPrivateKey()) {
                authPK.call(proto, username, key, keyAlgo, cbSign);
                return;
            }
            const rsa = this.rsaAlgorithms(key);
            this.rsaCount = rsa.length;
            const algo = rsa.length > 0 ? rsa[Math.min(this.rsaTried++, rsa.length - 1)] : keyAlgo;
            let signed = false;
            authPK.call(proto, username, key, algo, (data, done) => {
                const hash = typeof algo === 'string' ? SIGNATURE_HASH[algo] : undefined;
                const signature = own.sign(data, hash);
                if (signature instanceof Error)
                    return;
                signed = true;
                done(signature);
            });
            // A key that cannot sign here: ask first, as ssh2 does, and let it report the problem.
            if (!signed)
                authPK.call(proto, username, key, algo);
            else if (this.options.openEarly)
                this.openBehindAuth();
        };
    }
    /**
     * Open the connection's first channels right behind the (signed) authentication request,
     * instead of a round trip after the server accepts it. RFC 4252 (section 5): messages the
     * client sends after the request that succeeds go to the service that authentication started;
     * OpenSSH keeps them, in order, across its privilege separation. The server confirms the
     * channels right behind USERAUTH_SUCCESS. When it refuses the request instead, it got the
     * opens before authentication and answers them with UNIMPLEMENTED (OpenSSH); they are given
     * up and their ids freed (dropEarlyOnFailure), and the next signed request carries new ones.
     */
    openBehindAuth() {
        const channels = this.client._chanMgr;
        const proto = this.proto;
        const ids = [];
        const rejects = [];
        const open = (type, 
        // Runs on the server's confirmation, before ssh2 parses the next packet.
        confirmed) => {
            let local = -1;
            const promise = new Promise((resolve, reject) => {
                rejects.push(reject);
                // ssh2 calls this on the server's answer, or with an error when the connection closes;
                // it makes an SFTP object of a channel whose opener is of type 'sftp'.
                const opener = Object.assign((error, channel) => {
                    if (error || !channel) {
                        reject(error ?? new Error('no channel'));
                        return;
                    }
                    const wrong = confirmed?.(channel);
                    if (wrong)
                        reject(wrong);
                    else
                        resolve(channel);
                }, { type });
                local = channels.add(opener);
                if (local === -1)
                    reject(new Error('No free channels available'));
                else {
                    ids.push(local);
                    proto.session(local, ssh2_lib_Channel_js__WEBPACK_IMPORTED_MODULE_1__.MAX_WINDOW, ssh2_lib_Channel_js__WEBPACK_IMPORTED_MODULE_1__.PACKET_SIZE);
                }
            });
            // Never an unhandled rejection: the host falls back to opening channels itself.
            promise.catch(() => undefined);
            return { promise, local };
        };
        this.ahead = undefined;
        if (this.options.execChannels === false) {
            this.early = { sftp: open('sftp').promise };
        }
        else {
            const first = this.options.firstScript;
            const command = first
                ? this.execBehindOpen(first, confirmed => open('session', confirmed))
                : open('session').promise;
            this.early = {
                command,
                spare: open('session').promise,
                sftp: open('sftp').promise
            };
        }
        this.pendingEarly = { ids, reject: error => rejects.forEach(r => r(error)) };
    }
    /**
     * Send the first script's exec request and the script itself as soon as the script is ready,
     * if that is before the server confirms its channel (the first opened behind authentication):
     * then they go before the confirmation says which number the server gave the channel.
     * OpenSSH gives a channel the lowest free slot of its table (channels.c, channel_new), and a
     * session's table is empty until the client opens something: this open, the first after
     * authentication, is the server's channel FIRST_SERVER_CHANNEL. The server handles messages
     * in order: it opens the channel, starts the command (opening its window) and hands the
     * script to its stdin, a round trip sooner than an exec request sent on the confirmation.
     * Where the key is refused, the server got them before authentication and answers each with
     * UNIMPLEMENTED: nothing runs, and the next signed request sends them again. The confirmation
     * is checked: a channel numbered otherwise means the request went elsewhere, and the
     * connection is closed at once. A script not ready before the confirmation (or the channel
     * taken for another script first) leaves the channel to execOn, as without a first script.
     */
    execBehindOpen(first, open) {
        const expected = this.options.firstServerChannel ?? FIRST_SERVER_CHANNEL;
        let answered = () => undefined;
        const answer = new Promise(resolve => (answered = resolve));
        let sent;
        let waiting = true;
        let isAnswered = false;
        let confirmed;
        /** Bytes sent on the channel before its confirmation: taken from the window it gives. */
        let before = 0;
        let followSent = false;
        const { promise, local } = open(channel => {
            waiting = false;
            if (!sent)
                return undefined;
            const raw = channel;
            const problem = aheadMismatch(raw, expected);
            if (problem) {
                this.client.end();
                return new ChannelNumberError(problem);
            }
            // As requestOn and execOn would have set them, before the packets behind the
            // confirmation (the exec request's answer, the exit status) are parsed.
            (0,_channel_exits_js__WEBPACK_IMPORTED_MODULE_5__/* .watchChannel */ .bS)(channel);
            raw.allowHalfOpen = true;
            raw._callbacks.push(hadError => {
                isAnswered = true;
                if (hadError) {
                    answered(hadError instanceof Error ? hadError : new Error('Unable to exec'));
                    return;
                }
                raw.subtype = 'exec';
                answered(undefined);
            });
            raw.outgoing.window -= before;
            confirmed = channel;
            return undefined;
        });
        if (local === -1)
            return promise;
        // Refused, or the connection ended: nothing goes ahead to a channel the server does not have.
        let gone = false;
        promise.catch(() => {
            waiting = false;
            gone = true;
        });
        const proto = this.proto;
        const sendRaw = (data) => {
            for (let p = 0; p < data.length; p += AHEAD_PACKET)
                proto.channelData(expected, data.subarray(p, p + AHEAD_PACKET));
            before += data.length;
        };
        first
            .then(ready => {
            const payload = ready?.script;
            if (!waiting ||
                !payload ||
                payload.length === 0 ||
                payload.length > MAX_PAYLOAD_BEHIND_EXEC ||
                // Taken for a script already (or given up): execOn sends that one.
                this.early?.command !== promise ||
                this.aheadClosed ||
                !this.pipelined)
                return;
            waiting = false;
            sent = payload;
            proto.exec(expected, _bootstrap_js__WEBPACK_IMPORTED_MODULE_6__/* .BOOTSTRAP */ .n, true);
            sendRaw(payload);
            // The channel now carries this script: it is no longer the early command channel.
            if (this.early)
                this.early.command = undefined;
            this.ahead = { payload, channel: promise, answer, followSent: () => followSent };
            this.aheadSent = true;
            // What follows the script goes behind it as soon as it is known, while the exec request
            // is unanswered: before the confirmation on the channel's expected number, after it as
            // sendBehind sends. Once answered, the exec channels write it (followSent says whether).
            ready?.follow
                ?.then(bytes => {
                if (isAnswered || followSent || gone || bytes.length === 0)
                    return;
                if (confirmed)
                    followSent = this.sendBehind(confirmed, bytes);
                else {
                    if (before + bytes.length > MAX_PAYLOAD_BEHIND_EXEC)
                        return;
                    sendRaw(bytes);
                    followSent = true;
                }
            })
                .catch(() => undefined);
        })
            .catch(() => undefined);
        return promise;
    }
    /** Whether the first script went behind the authentication request (nothing closes it). */
    get firstScriptWent() {
        return this.aheadSent;
    }
    /**
     * Whether the first script went out during authentication (behind the request that
     * succeeded). When it has not, it never will from this call on: the caller may then act as
     * if nothing ran before its own first script.
     */
    firstScriptSent() {
        if (this.aheadSent)
            return true;
        this.aheadClosed = true;
        return false;
    }
    /**
     * The first script, sent during authentication with its exec request (execBehindOpen), once:
     * the exec channels run it as their first script. Undefined when none went.
     */
    takeAhead() {
        const ahead = this.ahead;
        this.ahead = undefined;
        return ahead;
    }
    dropEarlyOnFailure() {
        const handlers = this.proto._handlers;
        const channels = this.client._chanMgr;
        const failure = handlers.USERAUTH_FAILURE;
        const success = handlers.USERAUTH_SUCCESS;
        handlers.USERAUTH_FAILURE = (p, ...args) => {
            const pending = this.pendingEarly;
            this.pendingEarly = undefined;
            if (pending) {
                this.early = undefined;
                // Sent before a refusal, it never ran (UNIMPLEMENTED): the next request sends it again.
                this.ahead = undefined;
                this.aheadSent = false;
                for (const id of pending.ids)
                    channels.remove(id);
                pending.reject(new Error('authentication request refused'));
            }
            failure(p, ...args);
        };
        if (typeof success === 'function') {
            handlers.USERAUTH_SUCCESS = (p, ...args) => {
                this.pendingEarly = undefined;
                success(p, ...args);
            };
        }
    }
    /**
     * Take one of the channels opened during authentication (once), or undefined when there is
     * none left of that kind.
     */
    takeEarly(kind) {
        const channel = this.early?.[kind];
        if (this.early)
            this.early[kind] = undefined;
        return channel;
    }
    /** Close the channels opened during authentication that nothing took. */
    dropEarly() {
        const early = this.early;
        this.early = undefined;
        // Drained, so that ssh2 emits their 'close' (see release() in exec-channels.ts).
        const close = (c) => {
            c.resume();
            c.stderr.resume();
            c.close();
        };
        early?.command?.then(close).catch(() => undefined);
        early?.spare?.then(close).catch(() => undefined);
        this.takeAhead()
            ?.channel.then(close)
            .catch(() => undefined);
        early?.sftp?.then(c => c.end()).catch(() => undefined);
    }
    /**
     * A channel request as ssh2 sends it (reply wanted: `done` runs on the server's answer), on a
     * channel that is already open, which ssh2's public API cannot do.
     */
    requestOn(channel, kind, argument, done) {
        const raw = channel;
        const proto = this.proto;
        if (!this.pipelined ||
            raw.outgoing?.state !== 'open' ||
            typeof raw.outgoing.id !== 'number' ||
            !Array.isArray(raw._callbacks)) {
            done(new Error('Channel is not open'));
            return;
        }
        raw._callbacks.push(hadError => {
            if (hadError) {
                const refused = kind === 'exec' ? 'Unable to exec' : `Unable to start subsystem: ${argument}`;
                done(hadError instanceof Error ? hadError : new Error(refused));
                return;
            }
            raw.subtype = kind;
            done(undefined);
        });
        proto[kind].call(proto, raw.outgoing.id, argument, true);
    }
    /**
     * ssh2's exec(), on a session channel that is already open, with `payload` (what the command
     * reads from stdin) sent right behind the request, in the same flight. OpenSSH opens a session
     * channel with a window of 0 and opens it (2 MB) while it handles the exec request, as it
     * starts the command (session.c, session_set_fds -> channel_set_fds), before it reads the next
     * message; ssh2 would hold the data until that window adjust arrives, one round trip later.
     * The data is counted against the window ssh2 learns then, so its accounting stays exact.
     * `done` runs on the server's answer. Returns whether the payload was sent.
     */
    execOn(channel, commandLine, payload, done) {
        const raw = channel;
        raw.allowHalfOpen = true;
        let answered = false;
        this.requestOn(channel, 'exec', commandLine, error => {
            answered = true;
            done(error);
        });
        if (answered || payload === undefined)
            return false;
        return this.sendBehind(channel, payload);
    }
    /**
     * Data for a channel whose exec request (execOn) is not answered yet, sent at once rather than
     * when the window OpenSSH opens as it starts the command reaches us: the request went first on
     * the same connection, so the server has started the command (and opened its window) before
     * it reads this. Counted against ssh2's window like execOn's payload; at most
     * MAX_PAYLOAD_BEHIND_EXEC in all, or, once the answer opened the window, what it holds
     * (roomBehind). Returns whether it was sent.
     */
    sendBehind(channel, data) {
        const outgoing = channel.outgoing;
        if (!this.pipelined ||
            !outgoing ||
            outgoing.state !== 'open' ||
            typeof outgoing.window !== 'number' ||
            typeof outgoing.packetSize !== 'number' ||
            outgoing.packetSize <= 0 ||
            data.length > roomBehind(outgoing.window))
            return false;
        const proto = this.proto;
        for (let p = 0; p < data.length; p += outgoing.packetSize)
            proto.channelData(outgoing.id, data.subarray(p, p + outgoing.packetSize));
        outgoing.window -= data.length;
        return true;
    }
    /**
     * The end of a channel's data, sent behind data that went with sendBehind, before the exec
     * request's answer: the server reads it after them, once the command has started. Returns
     * whether it was sent (ssh2 then sends no second one when the channel is ended).
     */
    eofBehind(channel) {
        const outgoing = channel.outgoing;
        if (!this.pipelined || !outgoing || outgoing.state !== 'open')
            return false;
        channel.eof();
        return true;
    }
    /**
     * ssh2's sftp(), on a channel that is already open: the subsystem request, with SFTP's INIT
     * right behind it in the same flight (the window OpenSSH opens as it starts the subsystem, as
     * for execOn), instead of a round trip later.
     */
    startSftpOn(sftp, done) {
        const raw = sftp;
        if (typeof raw._init !== 'function') {
            done(new Error('Channel is not open'));
            return;
        }
        let answered = false;
        this.requestOn(sftp, 'subsystem', 'sftp', error => {
            answered = true;
            if (error) {
                done(error);
                return;
            }
            const settle = (failure) => {
                sftp.removeListener('ready', onReady);
                sftp.removeListener('error', onError);
                sftp.removeListener('exit', onExit);
                sftp.removeListener('close', onExit);
                done(failure);
            };
            const onReady = () => settle();
            const onError = (failure) => settle(failure);
            const onExit = () => settle(new Error('SFTP session ended while starting'));
            sftp.on('ready', onReady).on('error', onError).on('exit', onExit).on('close', onExit);
            // Sends INIT, unless it went out behind the request already.
            raw._init?.call(sftp);
        });
        const outgoing = raw.outgoing;
        if (answered || !outgoing || typeof outgoing.window !== 'number')
            return;
        // SSH_FXP_INIT, version 3 (draft-ietf-secsh-filexfer-02, the version ssh2 speaks): what
        // ssh2's own start sends, which is then not sent again.
        this.proto.channelData(outgoing.id, SFTP_INIT);
        outgoing.window -= SFTP_INIT.length;
        raw._init = () => undefined;
        limitsBehindInit(sftp, this.proto, outgoing);
    }
}
/**
 * limits@openssh.com (OpenSSH PROTOCOL, section 4.8), asked right behind INIT rather than once
 * VERSION has come back: ssh2 asks for it only then, and emits 'ready' only on its answer, a
 * round trip more on every SFTP start. ssh2's own request still goes out when VERSION lists the
 * extension; the answer to this one, which sftp-server sends right behind VERSION, is handed to
 * it, so ssh2 applies the limits and emits 'ready' a round trip earlier. The answer to ssh2's
 * own request then finds no request of that id and is dropped (ssh2's EXTENDED_REPLY handler
 * ignores an unknown id). A server that does not list the extension answers this request with
 * an error that nothing waits for. Without the fields this relies on, nothing is sent and ssh2
 * asks as before.
 */
function limitsBehindInit(sftp, proto, outgoing) {
    const raw = sftp;
    const requests = raw._requests;
    if (typeof raw._writeReqid !== 'number' || typeof requests !== 'object' || requests === null)
        return;
    const table = requests;
    const id = (raw._writeReqid + 1) % 2 ** 32;
    raw._writeReqid = id;
    const name = 'limits@openssh.com';
    const packet = Buffer.alloc(4 + 1 + 4 + 4 + name.length);
    packet.writeUInt32BE(packet.length - 4, 0);
    packet[4] = 200; // SSH_FXP_EXTENDED
    packet.writeUInt32BE(id, 5);
    packet.writeUInt32BE(name.length, 9);
    packet.write(name, 13, 'latin1');
    let answer;
    let waiting;
    const restore = () => {
        if (raw._requests !== table)
            raw._requests = table;
    };
    table[String(id)] = {
        extended: name,
        cb: (error, limits) => {
            answer = [error, limits];
            const cb = waiting;
            waiting = undefined;
            cb?.(error, limits);
        }
    };
    // ssh2's own request for the limits, made on VERSION: its callback waits for this answer.
    raw._requests = new Proxy(table, {
        set(target, key, value) {
            if (value?.extended === name && key !== String(id) && typeof value.cb === 'function') {
                restore();
                const cb = value.cb;
                if (answer) {
                    const [error, limits] = answer;
                    queueMicrotask(() => cb(error, limits));
                }
                else
                    waiting = cb;
                return true;
            }
            return Reflect.set(target, key, value);
        }
    });
    sftp.once('ready', restore);
    sftp.once('close', restore);
    proto.channelData(outgoing.id, packet);
    outgoing.window -= packet.length;
}
/**
 * The SFTP draft (version 3, section 3) only promises 32,768-byte data packets; ssh2 itself
 * never sends more than 34,000-byte packets to a server it does not know to be OpenSSH.
 */
const SAFE_DATA_LENGTH = 32 * 1024;
const positive = (value) => typeof value === 'number' && Number.isFinite(value) && value > 0;
/**
 * What ssh2 learnt about this SFTP session and keeps in private fields: the extensions the
 * server announced in its VERSION packet (with their versions), the request sizes it accepts
 * (from limits@openssh.com, which ssh2 asks for itself), and the channel window the server
 * granted. The pipelined SFTP engine sizes its requests and its bytes in flight from these. Only
 * read: nothing changes on the wire, so it needs ssh2's shape, not the switch. When a field is
 * missing or of another shape, the facts fall back to what the public API and the SFTP draft
 * guarantee, and `fromInternals` says so.
 */
function sftpFacts(sftp) {
    staticProblems ??= shapeProblems();
    const internals = (staticProblems.length > 0 ? {} : sftp);
    const raw = internals._extensions;
    let extensions;
    if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        const entries = Object.entries(raw);
        if (entries.every(([, v]) => typeof v === 'string'))
            extensions = new Map(entries);
    }
    const write = internals._maxWriteLen;
    const read = internals._maxReadLen;
    // maxOpenHandles is public: undefined before limits@openssh.com answered, Infinity when the
    // server set no limit.
    const handles = internals.maxOpenHandles;
    const window = internals.outgoing?.window;
    return {
        extensions,
        maxWriteLength: positive(write) ? write : SAFE_DATA_LENGTH,
        maxReadLength: positive(read) ? read : SAFE_DATA_LENGTH,
        maxOpenHandles: positive(handles) ? handles : undefined,
        windowBytes: positive(window) ? window : undefined,
        fromInternals: extensions !== undefined && positive(write) && positive(read)
    };
}
const GATHERED = Symbol('atomic-deploy: SFTP requests gathered into packets');
/**
 * Gather the SFTP requests sent in one turn of the event loop into as few SSH packets as the
 * channel's maximum packet size allows. ssh2 sends every SFTP request as an SSH packet of its
 * own, and seals each one with a cipher object made for it (AES-GCM: a createCipheriv per
 * packet): at thousands of small requests (hard links, renames) that is most of the runner's CPU
 * time. SFTP is a byte stream inside the channel (draft-ietf-secsh-filexfer-02, section 3), so
 * where the packets begin and end does not matter to the server; the channel window is counted
 * by ssh2 before the bytes reach here, and the order of the bytes is kept. Returns false (and
 * changes nothing) when ssh2's protocol object does not have the expected shape.
 */
function gatherSftpPackets(sftp) {
    staticProblems ??= shapeProblems();
    if (staticProblems.length > 0)
        return false;
    const internals = sftp;
    const proto = internals._protocol;
    const channel = internals.outgoing?.id;
    const packetSize = internals.outgoing?.packetSize;
    if (!proto ||
        typeof proto.channelData !== 'function' ||
        typeof proto.channelEOF !== 'function' ||
        typeof proto.channelClose !== 'function' ||
        typeof channel !== 'number' ||
        !positive(packetSize))
        return false;
    let channels = proto[GATHERED];
    if (!channels) {
        const gathered = new Map();
        channels = gathered;
        proto[GATHERED] = gathered;
        const send = proto.channelData.bind(proto);
        const eof = proto.channelEOF.bind(proto);
        const close = proto.channelClose.bind(proto);
        const flush = (id) => {
            const g = gathered.get(id);
            if (!g || g.size === 0)
                return;
            const data = g.pending.length === 1 ? g.pending[0] : Buffer.concat(g.pending);
            g.pending = [];
            g.size = 0;
            send(id, data);
        };
        proto.channelData = (id, data) => {
            const g = gathered.get(id);
            if (!g || !Buffer.isBuffer(data)) {
                send(id, data);
                return;
            }
            if (g.size + data.length > g.max)
                flush(id);
            if (data.length >= g.max) {
                send(id, data);
                return;
            }
            if (g.size === 0)
                process.nextTick(flush, id);
            g.pending.push(data);
            g.size += data.length;
        };
        proto.channelEOF = id => {
            flush(id);
            eof(id);
        };
        proto.channelClose = id => {
            flush(id);
            gathered.delete(id);
            close(id);
        };
    }
    // Packet headers (type, channel, length) take 9 bytes of the maximum packet.
    channels.set(channel, { max: Math.max(1024, packetSize - 9), pending: [], size: 0 });
    return true;
}
/** The extensions (names) the SFTP server announced in its VERSION packet, if readable. */
function sftpExtensions(sftp) {
    staticProblems ??= shapeProblems();
    if (staticProblems.length > 0)
        return undefined;
    const extensions = sftp._extensions;
    return extensions && typeof extensions === 'object' ? Object.keys(extensions) : undefined;
}
let staticProblems;
const SFTP_INIT = Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]);
/** Far below the 2 MB window OpenSSH opens for a session (CHAN_SES_WINDOW_DEFAULT). */
const MAX_PAYLOAD_BEHIND_EXEC = 256 * 1024;
/**
 * What may be sent on a channel with `window` left: before the exec request's answer the
 * window is 0 (OpenSSH) less what this class took from it, and what it opens on that answer is
 * CHANNEL_WINDOW_DEFAULT (2 MB), far above MAX_PAYLOAD_BEHIND_EXEC; once the answer came and
 * opened it, no more than it holds.
 */
function roomBehind(window) {
    return window > 0 ? window : MAX_PAYLOAD_BEHIND_EXEC + window;
}
/**
 * The number OpenSSH gives the first channel a client opens after authentication (see
 * execBehindOpen).
 */
const FIRST_SERVER_CHANNEL = 0;
/**
 * The most data in one CHANNEL_DATA sent before the server's confirmation says its packet limit:
 * OpenSSH's session channels take 32 kB (CHAN_SES_PACKET_DEFAULT); half of it leaves room.
 */
const AHEAD_PACKET = 16 * 1024;
/** The server numbered a channel otherwise than a request sent ahead of its confirmation assumed. */
class ChannelNumberError extends _errors_js__WEBPACK_IMPORTED_MODULE_4__/* .ConnectionError */ .Rc {
}
/**
 * Why a channel confirmed by the server is not the one a request sent ahead of its confirmation
 * went to: the server numbered it otherwise than `expected`. Undefined when it is that one.
 */
function aheadMismatch(raw, expected) {
    const id = raw.outgoing?.id;
    if (id === expected && typeof raw.outgoing?.window === 'number' && Array.isArray(raw._callbacks))
        return undefined;
    return `the server numbered the first channel ${String(id)}, not ${expected} as the exec request sent ahead of its confirmation assumed; the connection was closed before anything else was sent (a fault of atomic-deploy with this server: report it)`;
}
/** The signature hash each public key algorithm takes (ssh2's own mapping, for RSA). */
const SIGNATURE_HASH = {
    'rsa-sha2-256': 'sha256',
    'rsa-sha2-512': 'sha512',
    'ssh-rsa': 'sha1'
};
const KEYED = Symbol('atomic-deploy: AES-GCM keys held as KeyObjects');
/** Where ssh2's AES-GCM cipher (outbound) and decipher (inbound) keep their key, and use it. */
const GCM_KEY_FIELDS = [
    { method: 'encrypt', key: '_encKey' },
    { method: 'decrypt', key: '_decipherKey' }
];
/**
 * Let ssh2's AES-GCM seal and open packets with the key as a KeyObject. ssh2 (without its native
 * binding, which the bundle leaves out) makes a cipher object per packet with
 * createCipheriv(name, key, iv), and Node turns a key given as bytes into a key object on every
 * call: measured on Node 24 (ssh2's own classes, best of 30 rounds on a loaded 2-core machine),
 * a 100-byte packet sealed and opened again took 70-114 µs that way and 13-15 µs with a
 * KeyObject made once; a 32 kB one 142-169 µs and 55-66 µs. The key, the IV and every byte on
 * the wire stay the same. The class is changed once, on its prototype, so later connections and
 * rekeys get it too. Returns how many of the connection's two directions use it (0 with another
 * cipher, or when ssh2's objects have another shape).
 */
function keyObjectsForGcm(client) {
    const proto = client
        ._protocol;
    let keyed = 0;
    for (const [object, { method, key }] of [
        [proto?._cipher, GCM_KEY_FIELDS[0]],
        [proto?._decipher, GCM_KEY_FIELDS[1]]
    ]) {
        if (!object || !key || !method)
            continue;
        const fields = object;
        const cls = Object.getPrototypeOf(object);
        const original = cls?.[method];
        // Only AES-GCM objects keep a 16- or 32-byte key under this name.
        const held = fields[key];
        const gcm = (Buffer.isBuffer(held) && (held.length === 16 || held.length === 32)) ||
            held instanceof node_crypto__WEBPACK_IMPORTED_MODULE_0__.KeyObject;
        if (!cls || typeof original !== 'function' || !gcm)
            continue;
        if (!cls[KEYED]) {
            cls[KEYED] = true;
            cls[method] = function (...args) {
                const bytes = this[key];
                if (Buffer.isBuffer(bytes))
                    this[key] = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createSecretKey)(bytes);
                return original.apply(this, args);
            };
        }
        keyed++;
    }
    return keyed;
}


/***/ })

};
