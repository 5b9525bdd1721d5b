import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { resolveConfig } from '../../src/catcher/config.js';
import { createDaemon } from '../../src/catcher/ops/daemon.js';
import type { SiteStatus } from '../../src/catcher/ops/status.js';
import type { ImageView, SubscriptionView } from '../../src/catcher/views.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher, type CatcherRun } from '../helpers/catcher-cli.js';
import { getJson, waitFor } from '../helpers/ops.js';
import { Repo } from '../helpers/repo.js';
import { TestServer } from '../helpers/server.js';

/**
 * Issue 12: a private list behind HTTP Basic auth (AppDB: the access token as user,
 * x-oauth-basic as password) is fetched, and the credential never shows: not in the logs
 * (debug level included), `status --json`, the Prometheus metrics, `subscriptions --json`,
 * nor in the errors of failing fetches (401, 500, a reset connection), and it is not sent
 * to another host a redirect names.
 */
const TOKEN = 'c9f4e1b27a3d4e5f8a6b0c1d2e3f4a5b';
const PASSWORD = 'x-oauth-basic';
const SECRETS = [TOKEN, PASSWORD, Buffer.from(`${TOKEN}:${PASSWORD}`).toString('base64')];
const DEBUG = { VMICAST_LOG_LEVEL: 'debug' };

function assertSecretFree(text: string, where: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${where} shows a credential:\n${text}`);
}

function assertRunSecretFree(run: CatcherRun, what: string): void {
  assertSecretFree(run.stdout, `${what} (stdout)`);
  assertSecretFree(run.stderr, `${what} (stderr, the log)`);
}

describe('a private list behind HTTP Basic auth', () => {
  let repo: Repo;
  let elsewhere: TestServer;
  let home: TestCatcher;
  let listId: string;

  /** Serves the current list only to the right credentials. */
  const publishPrivate = () => {
    const signed = repo.publish();
    repo.server.set('/list.smime', signed, {
      contentType: 'application/pkcs7-mime',
      auth: { user: TOKEN, password: PASSWORD },
    });
  };

  before(async () => {
    repo = await Repo.create();
    elsewhere = await TestServer.start();
    repo.add('private image 1');
    publishPrivate();
    home = await makeCatcherHome(repo.grid, { status: { listen: '127.0.0.1:0', tokenFile: null } });
  });
  after(async () => {
    await repo.stop();
    await elsewhere.stop();
  });

  it('is subscribed and synced with the credential, which no command prints', async () => {
    const endorser = [
      '--endorser-dn',
      repo.grid.publisher.subject,
      '--endorser-ca',
      repo.grid.intermediate.subject,
    ];
    const without = await runCatcher(home, ['subscribe', repo.listUrl, ...endorser, '--json'], DEBUG);
    assert.equal((without.json as { code?: string }).code, 'HTTP_STATUS', 'refused without the credential');
    const subscribed = await runCatcher(
      home,
      ['subscribe', repo.listUrl, ...endorser, '--user', TOKEN, '--password', PASSWORD, '--json'],
      DEBUG,
    );
    assert.equal(subscribed.status, 0, subscribed.stdout + subscribed.stderr);
    assertRunSecretFree(subscribed, 'subscribe');
    listId = (subscribed.json as { id: string }).id;
    assert.equal(listId, repo.listId);

    const sync = await runCatcher(home, ['sync', '--json'], DEBUG);
    assert.equal(sync.status, 0, sync.stdout + sync.stderr);
    assertRunSecretFree(sync, 'sync');
    const images = (await runCatcher(home, ['images', '--json'])).json as ImageView[];
    assert.deepEqual(
      images.map((i) => i.state),
      ['cached'],
    );
    // The first request went without the credential (401); the others passed the server's check.
    const [unauthenticated, ...withCredential] = repo.server.requests('/list.smime');
    assert.equal(unauthenticated?.status, 401);
    assert.ok(withCredential.length >= 2, 'subscribe and sync fetched the list');
    assert.deepEqual(
      new Set(withCredential.map((r) => r.status === 200 || r.status === 304)),
      new Set([true]),
    );

    for (const args of [
      ['subscriptions', '--json'],
      ['status', '--json'],
      ['status'],
      ['images', '--json'],
    ]) {
      const run = await runCatcher(home, args, DEBUG);
      assert.equal(run.status, 0, run.stderr);
      assertRunSecretFree(run, args.join(' '));
    }
  });

  it('refuses a credential inside the list URL, and does not echo it', async () => {
    const url = new URL(repo.listUrl);
    url.username = TOKEN;
    url.password = PASSWORD;
    const other = await makeCatcherHome(repo.grid);
    const run = await runCatcher(other, ['subscribe', url.href, '--auto-endorse', '--json'], DEBUG);
    assert.equal((run.json as { code?: string }).code, 'USAGE', run.stdout + run.stderr);
    assertRunSecretFree(run, 'subscribe with a credential in the URL');
    assert.deepEqual((await runCatcher(other, ['subscriptions', '--json'])).json, []);
  });

  it('keeps the credential out of the errors of failing fetches', async () => {
    repo.add('private image 2');
    publishPrivate();
    const refused: string[] = [];
    for (const fault of [
      { kind: 'status', status: 401 },
      { kind: 'status', status: 500 },
      { kind: 'reset', afterBytes: 10 },
      { kind: 'redirect', location: elsewhere.url('/list.smime') },
    ] as const) {
      repo.server.fault('/list.smime', fault);
      const run = await runCatcher(home, ['sync', '--json'], DEBUG);
      assert.equal(run.status, 1, `${fault.kind}: ${run.stdout}${run.stderr}`);
      assertRunSecretFree(run, `sync with ${fault.kind}`);
      const report = run.json as { subscriptions: { code?: string; message?: string }[] };
      refused.push(report.subscriptions[0]?.code ?? '?');
      const subs = (await runCatcher(home, ['subscriptions', '--json'])).json as SubscriptionView[];
      assert.ok(subs[0]?.lastError !== null);
      assertSecretFree(JSON.stringify(subs), `subscriptions after ${fault.kind}`);
      const status = await runCatcher(home, ['status', '--json']);
      assertSecretFree(status.stdout, `status after ${fault.kind}`);
    }
    assert.deepEqual(refused, ['HTTP_STATUS', 'HTTP_STATUS', 'FETCH_FAILED', 'HTTP_STATUS']);
    const redirected = elsewhere.requests('/list.smime');
    assert.equal(redirected.length, 1, 'the redirect was followed');
    assert.equal(redirected[0]?.headers.authorization, undefined, 'no credential for another host');
  });

  it('keeps the credential out of the daemon log, its status and its metrics', async () => {
    const lines: string[] = [];
    const daemon = createDaemon({
      loadConfig: () => Promise.resolve(resolveConfig(home.raw, home.home, {})),
      log: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }),
    });
    repo.server.fault('/list.smime', { kind: 'status', status: 401 });
    await daemon.start();
    try {
      const base = daemon.url ?? '';
      // The first cycle meets the 401; one more, on request, fetches the list.
      await waitFor('the first cycle', async () =>
        (await getJson<SiteStatus>(`${base}api/v1/status`)).lastCycle === null ? undefined : true,
      );
      assert.ok(['started', 'queued'].includes(daemon.triggerSync('signal')));
      await waitFor('a good cycle', async () =>
        (await getJson<SiteStatus>(`${base}api/v1/status`)).lastCycle?.result === 'ok' ? true : undefined,
      );
      const status = await (await fetch(`${base}api/v1/status`)).text();
      const metrics = await (await fetch(`${base}metrics`)).text();
      assert.match(metrics, /vmicatcher_/);
      assertSecretFree(status, 'GET /api/v1/status');
      assertSecretFree(metrics, 'GET /metrics');
    } finally {
      await daemon.stop();
    }
    assert.ok(lines.length > 0);
    assertSecretFree(lines.join(''), 'the daemon log');
  });
});
