/**
 * A throw-away cloud for a test file: Debian's Keystone 22 (SQLite, fernet tokens, served by
 * uwsgi with one process and one thread: SQLite fails with "database is locked" otherwise) on
 * 127.0.0.1, and a real Glance behind it (keystonemiddleware authtoken, scripts/glance/run-glance.sh
 * --context keystone) registered in Keystone's catalog. The image service and its endpoints are
 * written into Keystone's database before uwsgi starts: POST /v3/services fails on SQLite.
 *
 * Who is who: `admin` (bootstrap, admin of project `admin`); `glance` (admin in `service`, for
 * authtoken only); `vmicast`, the NON-ADMIN service user with the `member` role in `service`,
 * `vo-a` and `vo-b`; `alice`, member of `vo-a` only (a VO user reading what vmicast shared).
 * Each call starts its own pair, so a test can run two clouds.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { describeWithComponent, freePort, onPath } from './component.js';
import { startGlanceApi } from './glance.js';
import { ADMIN_PASSWORD, populate, type CloudIdentity } from './keystone-identity.js';
import { tempDir } from './tmp.js';

export { ADMIN, SERVICE_USER, VO_A_USER, type Credentials, type ProjectName } from './keystone-identity.js';

const run = promisify(execFile);
const GLANCE_SCRIPT = fileURLToPath(new URL('../../scripts/glance/run-glance.sh', import.meta.url));
const START_TIMEOUT_MS = 180_000;

/** A running pair: who is who, plus its start time and how to stop it. */
export interface Cloud extends CloudIdentity {
  /** Milliseconds from the first command to both services answering. */
  startMs: number;
  stop(): Promise<void>;
}

export interface CloudOptions {
  /** Keystone [token] expiration, seconds (Keystone's default: 3600). */
  tokenExpirationSeconds?: number;
}

/** Why a cloud cannot run here, or undefined when it can. */
export function keystoneMissing(tools: string[] = []): string | undefined {
  const wanted = ['keystone-manage', 'uwsgi', 'glance-api', 'glance-manage', 'openstack', 'curl', ...tools];
  const missing = wanted.filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    return `${missing.join(', ')} not installed: not found on PATH (Debian packages, scripts/ci/install-debian.sh)`;
  }
  return undefined;
}

function keystoneConf(dir: string, options: CloudOptions): string {
  const expiration = options.tokenExpirationSeconds;
  return `[DEFAULT]
log_file = ${dir}/keystone.log
[database]
connection = sqlite:///${dir}/keystone.db
[identity]
# bcrypt's fewest rounds: every password check (user creation, password tokens) costs
# hundreds of milliseconds of CPU at the default 12.
password_hash_rounds = 4
[token]
provider = fernet
${expiration === undefined ? '' : `expiration = ${expiration}\nallow_expired_window = 0\n`}
[fernet_tokens]
key_repository = ${dir}/fernet-keys
[fernet_receipts]
key_repository = ${dir}/fernet-receipts
[credential]
key_repository = ${dir}/credential-keys
[oslo_messaging_notifications]
driver = noop
`;
}

/** What keystonemiddleware in Glance needs; no token cache, so a revoked token fails at once. */
function authtokenConf(keystone: string): string {
  return `
[keystone_authtoken]
www_authenticate_uri = ${keystone}
auth_url = ${keystone}
auth_type = password
interface = public
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = glance-secret
token_cache_time = -1
`;
}

/** Where the template's identity endpoints point until a cloud takes a copy. */
const TEMPLATE_URL = 'http://127.0.0.1:1/v3';
const KEY_REPOSITORIES = ['fernet-keys', 'fernet-receipts', 'credential-keys'];
let template: Promise<string> | undefined;

/**
 * A bootstrapped Keystone database (schema, admin, roles, region, identity endpoints), made
 * once per test process: `db_sync` and `bootstrap` are two Python start-ups of a few seconds
 * each, and every cloud gets its own copy (and its own keys, written separately).
 */
function templateDatabase(env: NodeJS.ProcessEnv): Promise<string> {
  template ??= (async () => {
    const dir = await tempDir('vmicast-keystone-template-');
    const conf = join(dir, 'keystone.conf');
    await writeFile(conf, keystoneConf(dir, {}));
    const manage = (...args: string[]) =>
      run('keystone-manage', ['--config-file', conf, ...args], {
        env: { ...env, OS_KEYSTONE_CONFIG_FILES: conf },
      });
    await manage('db_sync');
    // bootstrap checks that the key repositories exist.
    for (const repo of KEY_REPOSITORIES) await writeKeys(join(dir, repo));
    const urls = ['admin', 'public', 'internal'].flatMap((i) => [`--bootstrap-${i}-url`, TEMPLATE_URL]);
    await manage(
      'bootstrap',
      '--bootstrap-password',
      ADMIN_PASSWORD,
      ...urls,
      '--bootstrap-region-id',
      'RegionOne',
    );
    return join(dir, 'keystone.db');
  })();
  return template;
}

/** Where the image endpoints point until Glance has a port (setImageEndpoint). */
const NO_GLANCE_YET = 'http://127.0.0.1:9';

/** Points a copy of the template at its Keystone and adds the image service, before it serves. */
function register(dir: string, keystone: string): void {
  const db = new Database(join(dir, 'keystone.db'));
  try {
    db.prepare('UPDATE endpoint SET url = ? WHERE url = ?').run(keystone, TEMPLATE_URL);
    const service = randomBytes(16).toString('hex');
    db.prepare('INSERT INTO service (id, type, enabled, extra) VALUES (?, ?, 1, ?)').run(
      service,
      'image',
      JSON.stringify({ name: 'glance' }),
    );
    const endpoint = db.prepare(
      'INSERT INTO endpoint (id, interface, service_id, url, extra, enabled, region_id) VALUES (?, ?, ?, ?, ?, 1, ?)',
    );
    for (const itf of ['public', 'internal', 'admin']) {
      endpoint.run(randomBytes(16).toString('hex'), itf, service, NO_GLANCE_YET, '{}', 'RegionOne');
    }
  } finally {
    db.close();
  }
}

function setImageEndpoint(dir: string, glance: string): void {
  const db = new Database(join(dir, 'keystone.db'));
  try {
    db.prepare('UPDATE endpoint SET url = ? WHERE url = ?').run(glance, NO_GLANCE_YET);
  } finally {
    db.close();
  }
}

/**
 * What `keystone-manage fernet_setup` and `credential_setup` make, without two more Python
 * start-ups: key 0 (staged) and key 1 (primary), each 32 random bytes in URL-safe base64.
 */
async function writeKeys(repo: string): Promise<void> {
  await mkdir(repo, { mode: 0o700 });
  for (const name of ['0', '1']) {
    await writeFile(join(repo, name), randomBytes(32).toString('base64url') + '=', { mode: 0o600 });
  }
}

async function waitFor(url: string, pid: number, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      if (response.status < 500) return;
    } catch {
      // not yet
    }
    try {
      process.kill(pid, 0);
    } catch {
      throw new Error(`${what} exited during start-up`);
    }
    if (Date.now() > deadline) throw new Error(`${what} at ${url} does not answer`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts Keystone and a Glance behind it, with the projects and users described above. */
export async function startCloud(options: CloudOptions = {}): Promise<Cloud> {
  const started = Date.now();
  const dir = await tempDir('vmicast-keystone-');
  const ksPort = await freePort();
  const keystone = `http://127.0.0.1:${ksPort}/v3`;
  const conf = join(dir, 'keystone.conf');
  await writeFile(conf, keystoneConf(dir, options));
  await writeFile(join(dir, 'authtoken.conf'), authtokenConf(keystone));
  // Everything here talks to loopback only: no proxy.
  const env: NodeJS.ProcessEnv = { ...process.env, OS_KEYSTONE_CONFIG_FILES: conf };
  delete env['http_proxy'];
  delete env['https_proxy'];
  delete env['HTTP_PROXY'];
  delete env['HTTPS_PROXY'];
  // Glance's own start (db_sync, glance-api) does not need Keystone yet: run it meanwhile.
  const attempt = { dir: join(dir, 'glance', 'run1') };
  const glanceStart = startGlanceApi(
    join(dir, 'glance'),
    ['--context', 'keystone', '--auth-conf', join(dir, 'authtoken.conf')],
    { timeout: START_TIMEOUT_MS, env, current: attempt },
  );
  glanceStart.catch(() => undefined);
  let uwsgi: ChildProcess | undefined;
  let glancePid = 0;
  const killAll = (): void => {
    for (const pid of [uwsgi?.pid ?? 0, glancePid]) {
      try {
        if (pid > 0) process.kill(pid);
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killAll);
  const stopGlance = () =>
    run(GLANCE_SCRIPT, ['stop', '--dir', attempt.dir], { timeout: 30_000 }).catch(() => undefined);
  try {
    for (const repo of KEY_REPOSITORIES) await writeKeys(join(dir, repo));
    await copyFile(await templateDatabase(env), join(dir, 'keystone.db'));
    register(dir, keystone);
    uwsgi = serveKeystone(dir, ksPort, env);
    await waitFor(keystone, uwsgi.pid ?? 0, 'keystone (uwsgi)');
    const { endpoint: glance, pid } = await glanceStart;
    glancePid = pid;
    // Keystone reads its catalog from the database for each token (no cache configured).
    setImageEndpoint(dir, glance);
    const cloud = await populate(keystone, glance, dir);
    const server = uwsgi;
    return {
      ...cloud,
      startMs: Date.now() - started,
      stop: async () => {
        process.removeListener('exit', killAll);
        await stopGlance();
        server.kill('SIGTERM');
      },
    };
  } catch (err) {
    killAll();
    process.removeListener('exit', killAll);
    await glanceStart.catch(() => undefined);
    await stopGlance();
    throw err;
  }
}

/** uwsgi serving Keystone: one process, one thread (SQLite), its request log in `dir`. */
function serveKeystone(dir: string, port: number, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(
    'uwsgi',
    [
      '--http-socket',
      `127.0.0.1:${port}`,
      '--plugin',
      'python3',
      '--wsgi-file',
      '/usr/bin/keystone-wsgi-public',
      '--processes',
      '1',
      '--threads',
      '1',
      '--master',
      '--die-on-term',
      '--logto',
      join(dir, 'uwsgi.log'),
      // uwsgi's plain HTTP socket does not keep connections alive: say so, or clients that
      // reuse one get "connection reset" on their next request.
      '--add-header',
      'Connection: close',
    ],
    { env, stdio: 'ignore' },
  );
}

/** A describe() block with its own cloud; without the programs: fails in CI, skips elsewhere. */
export function describeWithCloud(
  name: string,
  body: (cloud: () => Cloud) => void,
  options: CloudOptions & { tools?: string[] } = {},
): void {
  describeWithComponent(
    name,
    'Keystone and Glance',
    keystoneMissing(options.tools),
    () => startCloud(options),
    START_TIMEOUT_MS,
    body,
  );
}
