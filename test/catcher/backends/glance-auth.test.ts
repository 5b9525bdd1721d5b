/**
 * Keystone v3 authentication of the Glance backend against a small fake Keystone on
 * 127.0.0.1 (a real Keystone is not installable quickly): token requests, catalog lookup,
 * token reuse, renewal before expiry, re-authentication on 401, TLS with an extra CA, and
 * no credentials in errors.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect, promisify } from 'node:util';
import { after, before, beforeEach, describe, it } from 'node:test';
import { imageApiRoot, KeystoneAuth, keystoneRoot } from '../../../src/catcher/backends/glance/auth.js';
import { GlanceClient } from '../../../src/catcher/backends/glance/client.js';
import type { GlanceAuthConfig } from '../../../src/catcher/backends/glance/config.js';
import { createGlanceHttp } from '../../../src/catcher/backends/glance/http.js';
import { createGlanceBackend } from '../../../src/catcher/backends/glance/create.js';
import type { BackendContext } from '../../../src/catcher/backends/types.js';
import { VmiError } from '../../../src/shared/errors.js';
import { silentLogger } from '../../../src/shared/log.js';
import { tempDir } from '../../helpers/tmp.js';

const PASSWORD = 'pw-s3cret-do-not-log';

function context(): BackendContext {
  return {
    log: silentLogger(),
    signal: new AbortController().signal,
    now: new Date(),
    workDir: '/nonexistent',
  };
}
const APP_SECRET = 'ac-s3cret-do-not-log';

/** A fake Keystone plus a fake image API that accepts only tokens the fake issued and did not revoke. */
class FakeKeystone {
  requests: Record<string, unknown>[] = [];
  valid = new Set<string>();
  lifetimeMs = 3600_000;
  now = Date.parse('2025-06-01T12:00:00Z');
  base = '';
  private count = 0;

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      if (req.method === 'POST' && url === '/identity/v3/auth/tokens') {
        this.issue(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, res);
        return;
      }
      const image = /^\/(image-[a-z-]+)\/v2\/images\/([^/]+)$/.exec(url);
      if (req.method === 'GET' && image !== null) {
        const token = req.headers['x-auth-token'];
        if (typeof token !== 'string' || !this.valid.has(token)) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ message: 'This server could not verify that you are authorized', code: '401' }),
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: image[2], status: 'active', served_by: image[1] }));
        return;
      }
      res.writeHead(404);
      res.end();
    });
  };

  private issue(body: Record<string, unknown>, res: ServerResponse): void {
    this.requests.push(body);
    const identity = (body['auth'] as { identity: Record<string, unknown> }).identity;
    const methods = identity['methods'] as string[];
    const password = (identity['password'] as { user?: { password?: string } } | undefined)?.user?.password;
    const credential = identity['application_credential'] as { id?: string; secret?: string } | undefined;
    const ok =
      (methods[0] === 'password' && password === PASSWORD) ||
      (methods[0] === 'application_credential' &&
        credential?.id === 'ac-1' &&
        credential.secret === APP_SECRET);
    if (!ok) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            code: 401,
            title: 'Unauthorized',
            message: 'The request you have made requires authentication.',
          },
        }),
      );
      return;
    }
    this.count += 1;
    const token = `token-${this.count}`;
    this.valid.add(token);
    const endpoint = (iface: string, region: string, path: string): Record<string, string> => ({
      interface: iface,
      region_id: region,
      region,
      url: `${this.base}/${path}`,
    });
    res.writeHead(201, { 'content-type': 'application/json', 'x-subject-token': token });
    res.end(
      JSON.stringify({
        token: {
          expires_at: new Date(this.now + this.lifetimeMs).toISOString(),
          project: { id: 'project-images' },
          catalog: [
            { type: 'identity', endpoints: [endpoint('public', 'RegionOne', 'identity')] },
            {
              type: 'image',
              endpoints: [
                endpoint('internal', 'RegionOne', 'image-internal'),
                endpoint('public', 'RegionOne', 'image-public/'),
                endpoint('public', 'RegionTwo', 'image-two/v2'),
              ],
            },
          ],
        },
      }),
    );
  }
}

function passwordAuth(base: string, extra: Partial<GlanceAuthConfig> = {}): GlanceAuthConfig {
  return {
    url: `${base}/identity`,
    username: 'svc-vmicast',
    password: PASSWORD,
    project: 'images',
    ...extra,
  };
}

describe('Keystone v3 authentication for Glance', () => {
  const fake = new FakeKeystone();
  const server = createHttpServer(fake.handle);
  const http = createGlanceHttp(undefined);
  let base = '';
  const clock = (): number => fake.now;
  const keystone = (config: GlanceAuthConfig, endpointOverride?: string): KeystoneAuth =>
    new KeystoneAuth(config, { http, timeoutMs: 5000, clock, endpointOverride });

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fake.base = base;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    fake.requests = [];
  });

  it('sends a project-scoped password request and takes the public image endpoint from the catalog', async () => {
    const auth = keystone(passwordAuth(base, { userDomain: 'Users', projectDomain: 'Projects' }));
    const session = await auth.session();
    assert.equal(session.endpoint, `${base}/image-public`);
    assert.match(session.token ?? '', /^token-\d+$/);
    assert.equal(session.projectId, 'project-images');
    assert.deepEqual(fake.requests, [
      {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'svc-vmicast', domain: { name: 'Users' }, password: PASSWORD } },
          },
          scope: { project: { name: 'images', domain: { name: 'Projects' } } },
        },
      },
    ]);
  });

  it('reuses the token until shortly before it expires, and shares one request between concurrent callers', async () => {
    const auth = keystone(passwordAuth(base));
    const sessions = await Promise.all([auth.session(), auth.session(), auth.session()]);
    assert.equal(new Set(sessions.map((s) => s.token)).size, 1);
    await auth.session();
    assert.equal(auth.issued, 1);
    fake.now += 3600_000 - 600_000; // 10 minutes left: still good
    await auth.session();
    assert.equal(auth.issued, 1);
    fake.now += 400_000; // under 5 minutes left: renew
    const renewed = await auth.session();
    assert.equal(auth.issued, 2);
    assert.notEqual(renewed.token, sessions[0].token);
  });

  it('selects the endpoint by interface and region, or uses a configured override', async () => {
    assert.equal(
      (await keystone(passwordAuth(base, { interface: 'internal' })).session()).endpoint,
      `${base}/image-internal`,
    );
    assert.equal(
      (await keystone(passwordAuth(base, { region: 'RegionTwo' })).session()).endpoint,
      `${base}/image-two`,
    );
    assert.equal(
      (await keystone(passwordAuth(base), 'https://glance.example.org:9292/').session()).endpoint,
      'https://glance.example.org:9292',
    );
    await assert.rejects(
      keystone(passwordAuth(base, { region: 'RegionNine' })).session(),
      (err: unknown) =>
        err instanceof VmiError && err.code === 'BACKEND_FAILED' && /region RegionNine/.test(err.message),
    );
  });

  it('authenticates with an application credential (no scope: the credential carries it)', async () => {
    const auth = keystone({
      url: `${base}/identity/v3/`,
      applicationCredentialId: 'ac-1',
      applicationCredentialSecret: APP_SECRET,
    });
    assert.match((await auth.session()).token ?? '', /^token-/);
    assert.deepEqual(fake.requests[0], {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: 'ac-1', secret: APP_SECRET },
        },
      },
    });
  });

  it('re-authenticates once when the image API answers 401, and fails if the new token is refused too', async () => {
    const auth = keystone(passwordAuth(base));
    const client = new GlanceClient(auth, http, 5000);
    assert.equal((await client.getImage('img-1'))?.['served_by'], 'image-public');
    assert.equal(auth.issued, 1);
    fake.valid.clear(); // Keystone revoked every token
    assert.equal((await client.getImage('img-2'))?.id, 'img-2');
    assert.equal(auth.issued, 2);
    // A Glance that refuses every token: one retry, then a coded failure, no loop.
    const refusing = {
      session: () => auth.session().then((s) => ({ ...s, token: 'never-valid' })),
      invalidate: () => undefined,
    };
    await assert.rejects(
      new GlanceClient(refusing, http, 5000).getImage('img-3'),
      (err: unknown) =>
        err instanceof VmiError && err.code === 'BACKEND_FAILED' && /HTTP 401/.test(err.message),
    );
  });

  it("refused credentials give BACKEND_FAILED with Keystone's reason and never the secret", async () => {
    const backend = createGlanceBackend({
      type: 'glance',
      name: 'g',
      auth: { ...passwordAuth(base), password: `${PASSWORD}-wrong` },
    });
    const err = await backend.list(context()).catch((e: unknown) => e);
    assert.ok(err instanceof VmiError);
    assert.equal(err.code, 'BACKEND_FAILED');
    assert.match(err.message, /HTTP 401.*requires authentication/);
    const everything = `${inspect(err, { depth: 10, showHidden: true })} ${JSON.stringify(err)}`;
    assert.doesNotMatch(everything, /s3cret/);
  });

  it('normalises Keystone and Image API URLs', () => {
    assert.equal(keystoneRoot('https://keystone.example.org:5000'), 'https://keystone.example.org:5000/v3');
    assert.equal(
      keystoneRoot('https://keystone.example.org:5000/v3/'),
      'https://keystone.example.org:5000/v3',
    );
    assert.equal(imageApiRoot('https://glance.example.org:9292/v2/'), 'https://glance.example.org:9292');
    assert.equal(imageApiRoot('https://cloud.example.org/image/v2.0'), 'https://cloud.example.org/image');
  });
});

describe('Keystone over TLS', () => {
  const fake = new FakeKeystone();
  let server: ReturnType<typeof createHttpsServer> | undefined;
  let caFile = '';
  let base = '';

  before(async () => {
    const dir = await tempDir('vmicast-keystone-tls-');
    const key = join(dir, 'key.pem');
    caFile = join(dir, 'cert.pem');
    // A self-signed server certificate for 127.0.0.1, trusted only through caFile.
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      caFile,
    ]);
    server = createHttpsServer({ key: await readFile(key), cert: await readFile(caFile) }, fake.handle);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fake.base = base;
  });
  after(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('verifies the server certificate: refused without the CA, accepted with caFile', async () => {
    const auth = passwordAuth(base);
    const untrusted = createGlanceBackend({ type: 'glance', name: 'g', auth });
    await assert.rejects(
      untrusted.list(context()),
      (err: unknown) =>
        err instanceof VmiError && err.code === 'BACKEND_FAILED' && /certificate/i.test(err.message),
    );
    const trusted = new KeystoneAuth(auth, { http: createGlanceHttp(caFile), timeoutMs: 5000 });
    assert.equal((await trusted.session()).endpoint, `${base}/image-public`);
  });
});
