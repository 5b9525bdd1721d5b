/**
 * A real OCI registry for a test file: Debian's `docker-registry` (CNCF distribution 2.8)
 * on 127.0.0.1 on a free port, TLS with a server certificate from a test CA made at run
 * time, in one of three modes: open, htpasswd Basic auth, or bearer tokens from the tests'
 * own issuer (registry-token.ts). In CI (VMICAST_CI=1) a missing docker-registry, skopeo or
 * htpasswd is a test failure; elsewhere the tests are skipped with a visible notice.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify, inspect } from 'node:util';
import { describeWithComponent, freePort, onPath } from './component.js';
import { startTokenIssuer, TOKEN_ISSUER, TOKEN_SERVICE, type TokenIssuer } from './registry-token.js';
import { localhostServerCert } from './tls.js';
import { tempDir } from './tmp.js';
import { issue, type TestCert } from './x509.js';

export type RegistryMode = 'open' | 'basic' | 'token';

export interface TestRegistry {
  mode: RegistryMode;
  /** `127.0.0.1:PORT` */
  host: string;
  origin: string;
  dir: string;
  ca: TestCert;
  /** The test CA as a PEM file (the client's caFile). */
  caFile: string;
  /** A directory holding only the CA as `ca.crt` (skopeo's --cert-dir). */
  certDir: string;
  /** The account of basic and token modes. */
  user: { username: string; password: string };
  issuer?: TokenIssuer;
  /** An Authorization value with every right on `repo` (for raw requests of the tests). */
  rawAuthorization(repo: string): string | undefined;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;

/** Why a real registry cannot run here, or undefined. */
export function registryMissing(): string | undefined {
  const tools = ['docker-registry', 'skopeo', 'htpasswd'].filter((tool) => !onPath(tool));
  if (tools.length === 0) return undefined;
  return `${tools.join(', ')} not installed (Debian packages docker-registry skopeo apache2-utils, scripts/ci/install-debian.sh)`;
}

/** Any HTTP answer from `GET /v2/` (200, or 401 with auth) means the registry is up. */
function answers(origin: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${origin}/v2/`, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 || res.statusCode === 401);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function config(dir: string, port: number, auth: string): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    '  tls:',
    `    certificate: ${join(dir, 'server.pem')}`,
    `    key: ${join(dir, 'server.key')}`,
    auth,
    '',
  ].join('\n');
}

function authConfig(mode: RegistryMode, dir: string, realm: string | undefined): string {
  if (mode === 'basic') {
    return ['auth:', '  htpasswd:', '    realm: vmicast-test', `    path: ${join(dir, 'htpasswd')}`].join(
      '\n',
    );
  }
  if (mode === 'token') {
    return [
      'auth:',
      '  token:',
      `    realm: ${realm ?? ''}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${join(dir, 'ca.pem')}`,
    ].join('\n');
  }
  return '';
}

async function waitUp(child: ChildProcess, origin: string, ca: string, log: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(origin, ca))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`docker-registry did not come up: ${readFileSync(log, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRegistry(
  mode: RegistryMode,
  options: { anonymousPull?: boolean } = {},
): Promise<TestRegistry> {
  const dir = await tempDir('vmicast-registry-');
  const ca = issue({
    subject: `/DC=org/DC=example/CN=Registry Test CA ${randomBytes(4).toString('hex')}`,
    ca: true,
  });
  const server = localhostServerCert(ca);
  const certDir = join(dir, 'certs');
  await mkdir(certDir);
  await writeFile(join(certDir, 'ca.crt'), ca.pem);
  await writeFile(join(dir, 'ca.pem'), ca.pem);
  await writeFile(join(dir, 'server.pem'), server.pem);
  await writeFile(join(dir, 'server.key'), server.keyPem, { mode: 0o600 });
  const user = { username: 'vo-manager', password: `pw-${randomBytes(12).toString('hex')}` };
  if (mode === 'basic') {
    // distribution accepts only bcrypt entries; htpasswd -B writes them.
    const line = execFileSync('htpasswd', ['-nbB', user.username, user.password]).toString().trim();
    await writeFile(join(dir, 'htpasswd'), `${line}\n`, { mode: 0o600 });
  }
  const issuer =
    mode === 'token'
      ? await startTokenIssuer(
          ca,
          { [user.username]: user.password },
          { anonymousPull: options.anonymousPull === true },
        )
      : undefined;
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const file = join(dir, `config${attempt}.yml`);
    await writeFile(file, config(dir, port, authConfig(mode, dir, issuer?.realm)));
    const log = join(dir, `registry${attempt}.log`);
    const child = spawn('docker-registry', ['serve', file], {
      stdio: ['ignore', 'ignore', openSync(log, 'a')],
    });
    const origin = `https://127.0.0.1:${port}`;
    try {
      await waitUp(child, origin, ca.pem, log);
    } catch (err) {
      lastError = err;
      continue;
    }
    const killOnExit = (): void => void child.kill();
    process.once('exit', killOnExit);
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    return {
      mode,
      host: `127.0.0.1:${port}`,
      origin,
      dir,
      ca,
      caFile: join(dir, 'ca.pem'),
      certDir,
      user,
      ...(issuer === undefined ? {} : { issuer }),
      rawAuthorization: (repo) =>
        mode === 'open'
          ? undefined
          : issuer === undefined
            ? basic
            : `Bearer ${issuer.mint([`repository:${repo}:pull,push`, 'registry:catalog:*'])}`,
      stop: async () => {
        process.removeListener('exit', killOnExit);
        await issuer?.stop();
        if (child.exitCode !== null) return;
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill();
        });
      },
    };
  }
  await issuer?.stop();
  throw new Error(`could not start docker-registry: ${(lastError as Error).message}`);
}

/** A describe() block with its own registry; `registry()` returns it inside tests. */
export function describeWithRegistry(
  name: string,
  mode: RegistryMode,
  body: (registry: () => TestRegistry) => void,
  options: { anonymousPull?: boolean } = {},
): void {
  const start = () => startRegistry(mode, options);
  describeWithComponent(name, 'registry', registryMissing(), start, START_TIMEOUT_MS * 3, body);
}

/** skopeo (an independent client) reads a manifest's raw bytes, TLS verified against the test CA. */
export async function skopeoRaw(registry: TestRegistry, ref: string, creds?: string): Promise<Buffer> {
  // --cert-dir takes a directory of `*.crt` CA files (and client `*.cert`/`*.key` pairs).
  const args = ['inspect', '--raw', `docker://${registry.host}/${ref}`, '--cert-dir', registry.certDir];
  if (creds !== undefined) args.push('--creds', creds);
  const { stdout } = await promisify(execFile)('skopeo', args, { encoding: 'buffer', timeout: 30_000 });
  return stdout;
}

/** Everything a log line or a JSON status could show of an error (for secret checks). */
export function shownOf(err: unknown): string {
  return [String(err), JSON.stringify(err), inspect(err, { depth: 8, showHidden: true })].join('\n');
}
