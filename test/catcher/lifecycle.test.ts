import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { resolveConfig } from '../../src/catcher/config.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { imageViews, subscriptionViews } from '../../src/catcher/views.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { makeGrid } from '../helpers/grid.js';
import { Repo, sha512Of, type RepoImage } from '../helpers/repo.js';
import { listDir } from '../helpers/state.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

async function sidecar(
  dir: string,
  id: string,
): Promise<{ deprecated: boolean; sha512: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as {
      deprecated: boolean;
      sha512: string;
    };
  } catch {
    return undefined;
  }
}

async function setup(
  overrides: Record<string, unknown> = {},
): Promise<{ repo: Repo; catcher: Catcher; site: string }> {
  // CRLs valid for longer than the time these tests travel.
  const crl = { nextUpdate: new Date(Date.now() + 90 * DAY) };
  const repo = await Repo.create(await makeGrid({ rootEntry: { crl }, intermediateEntry: { crl } }));
  const probe = await makeCatcherHome(repo.grid);
  const site = join(probe.home, 'site');
  const catcher = await (
    await makeCatcherHome(repo.grid, {
      backends: [{ type: 'directory', name: 'site', path: site }],
      ...overrides,
    })
  ).open();
  return { repo, catcher, site };
}

async function subscribeAll(repo: Repo, catcher: Catcher, now = new Date()): Promise<void> {
  await subscribe(catcher, openSubscription(repo.listUrl, now));
}

describe('grace period, lapse and make-before-break', () => {
  let repo: Repo;
  let catcher: Catcher;
  let site: string;
  let keep: RepoImage;
  let gone: RepoImage;
  const t0 = Date.now();

  before(async () => {
    ({ repo, catcher, site } = await setup({ graceHours: 24 }));
    keep = repo.add('kept image');
    gone = repo.add('image to be removed');
    repo.publish({ expires: new Date(t0 + 10 * DAY) });
    await subscribeAll(repo, catcher);
    assert.equal((await syncOnce(catcher)).failures, 0);
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('hides a removed image at once and deletes it after the grace period', async () => {
    repo.remove(gone.identifier);
    repo.publish({ expires: new Date(t0 + 10 * DAY) });
    await syncOnce(catcher, { now: new Date(t0 + HOUR) });
    assert.equal((await sidecar(site, gone.identifier))?.deprecated, true, 'deprecated in the backend');
    assert.ok((await listDir(catcher.cache.cacheDir)).includes(gone.identifier), 'still cached');
    await syncOnce(catcher, { now: new Date(t0 + 23 * HOUR) });
    assert.ok((await listDir(site)).includes(gone.identifier), 'still there within the grace period');
    await syncOnce(catcher, { now: new Date(t0 + 26 * HOUR) });
    assert.ok(!(await listDir(site)).includes(gone.identifier), 'deleted after the grace period');
    assert.ok(!(await listDir(catcher.cache.cacheDir)).includes(gone.identifier));
    assert.equal(imageViews(catcher.db, ['site']).find((v) => v.id === gone.identifier)?.state, 'retired');
  });

  it('keeps images of an expired list during the grace period, then retires them (lapse)', async () => {
    // The publisher stops publishing; the held list expires at t0 + 10 days.
    await syncOnce(catcher, { now: new Date(t0 + 10 * DAY + HOUR) });
    const [sub] = subscriptionViews(catcher.db);
    assert.equal(sub?.lastError?.code, 'LIST_EXPIRED');
    assert.notEqual(sub.lapsedSince, null);
    assert.ok((await listDir(site)).includes(keep.identifier), 'kept within the grace period');
    await syncOnce(catcher, { now: new Date(t0 + 11 * DAY + 2 * HOUR) });
    assert.ok(!(await listDir(site)).includes(keep.identifier), 'unavailable after the grace period');
    assert.ok(!(await listDir(catcher.cache.cacheDir)).includes(keep.identifier));
  });

  it('makes the images available again when a valid list returns', async () => {
    repo.publish({ created: new Date(t0 + 11 * DAY + 3 * HOUR), expires: new Date(t0 + 40 * DAY) });
    const report = await syncOnce(catcher, { now: new Date(t0 + 11 * DAY + 4 * HOUR) });
    assert.equal(report.failures, 0, JSON.stringify(report.subscriptions));
    assert.ok((await listDir(site)).includes(keep.identifier));
    assert.equal(subscriptionViews(catcher.db)[0]?.lapsedSince, null);
  });
});

describe('make before break with a failing successor, and the appliance rule', () => {
  let repo: Repo;
  let catcher: Catcher;
  let site: string;

  before(async () => {
    ({ repo, catcher, site } = await setup());
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('keeps a superseded image while its successor cannot be fetched', async () => {
    const old = repo.add('old version');
    repo.publish();
    await subscribeAll(repo, catcher);
    await syncOnce(catcher);
    const next = repo.image('new version', { extra: { 'vmi:supersedes': [old.identifier] } });
    repo.remove(old.identifier);
    repo.images.push(next);
    repo.publish();
    const path = new URL(next.entry['hv:uri'] as string).pathname;
    repo.server.fault(path, ...Array.from({ length: 6 }, () => ({ kind: 'status' as const, status: 503 })));
    await syncOnce(catcher);
    await syncOnce(catcher);
    assert.ok((await listDir(site)).includes(old.identifier), 'the old image stays delivered');
    assert.ok((await listDir(catcher.cache.cacheDir)).includes(old.identifier));
    assert.equal(
      imageViews(catcher.db, ['site']).find((v) => v.id === next.identifier)?.lastError?.code,
      'HTTP_STATUS',
    );
    // Once the successor arrives, the old one goes.
    repo.server.faults.clear();
    repo.publish();
    await syncOnce(catcher);
    await syncOnce(catcher);
    const now = await listDir(site);
    assert.ok(now.includes(next.identifier));
    assert.ok(!now.includes(old.identifier));
  });

  it('delivers an appliance only when every member is there', async () => {
    const head = repo.add('appliance head', { extra: { 'vmi:appliance': 'cluster' } });
    const worker = repo.add('appliance worker', { extra: { 'vmi:appliance': 'cluster' } });
    repo.appliances = [
      {
        'vmi:appliance': {
          'dc:identifier': 'cluster',
          'dc:title': 'Cluster',
          'hv:version': '1',
          'vmi:images': [
            { 'vmi:role': 'head', 'dc:identifier': head.identifier },
            { 'vmi:role': 'worker', 'dc:identifier': worker.identifier },
          ],
        },
      },
    ];
    repo.publish();
    const path = new URL(worker.entry['hv:uri'] as string).pathname;
    repo.server.fault(path, ...Array.from({ length: 6 }, () => ({ kind: 'status' as const, status: 503 })));
    await syncOnce(catcher);
    const files = await listDir(site);
    assert.ok(!files.includes(head.identifier), 'the head waits for the worker');
    assert.ok(
      !(await listDir(catcher.cache.cacheDir)).includes(head.identifier),
      'not even announced in the cache',
    );
    repo.server.faults.clear();
    repo.publish();
    await syncOnce(catcher);
    const after = await listDir(site);
    assert.ok(after.includes(head.identifier) && after.includes(worker.identifier));
    const available = catcher.db
      .prepare(`SELECT backend, version FROM appliance_backends WHERE appliance = 'cluster'`)
      .all();
    assert.deepEqual(available, [{ backend: 'site', version: '1' }]);
  });
});

describe('cache integrity and retention', () => {
  let repo: Repo;
  let catcher: Catcher;
  let image: RepoImage;

  before(async () => {
    ({ repo, catcher } = await setup({ cache: { retentionDays: 7 } }));
    image = repo.add('bytes that will be damaged');
    repo.publish();
    await subscribeAll(repo, catcher);
    await syncOnce(catcher);
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('re-hashes the cache with --verify-cache and fetches a damaged file again', async () => {
    const path = join(catcher.cache.cacheDir, image.identifier);
    await writeFile(path, 'corrupted!');
    const report = await syncOnce(catcher, { verifyCache: true });
    assert.deepEqual(report.corrupted, [image.identifier]);
    assert.equal(sha512Of(await readFile(path)), sha512Of(image.bytes));
    assert.equal(report.failures, 0);
  });

  it('purges expired files after the retention period', async () => {
    repo.remove(image.identifier);
    repo.publish();
    await syncOnce(catcher);
    const expired = await listDir(catcher.cache.expiredDir);
    assert.ok(expired.some((n) => n.startsWith(`${image.identifier}.`)));
    const later = new Date(Date.now() + 8 * DAY);
    const report = await syncOnce(catcher, { now: later });
    assert.ok(report.purged.length >= 1);
    assert.deepEqual(await listDir(catcher.cache.expiredDir), []);
  });
});

describe('vmcatcher environment variables', () => {
  it('honours VMCATCHER_CACHE_EVENT and the cache directories when the file is silent', () => {
    const env = {
      VMCATCHER_CACHE_EVENT: '/usr/bin/handler --flag',
      VMCATCHER_CACHE_DIR_CACHE: '/srv/cache',
      VMCATCHER_CACHE_DIR_DOWNLOAD: '/srv/partial',
      VMCATCHER_CACHE_DIR_EXPIRE: '/srv/expired',
      VMCATCHER_DIR_CERT: '/srv/certificates',
    };
    const config = resolveConfig({}, '/var/lib/vmicatcher', env);
    assert.deepEqual(config.backends, [
      { type: 'exec', name: 'vmcatcher-event', command: '/usr/bin/handler --flag', timeoutSeconds: 600 },
    ]);
    assert.equal(config.cache.dir, '/srv/cache');
    assert.equal(config.cache.partialDir, '/srv/partial');
    assert.equal(config.cache.expiredDir, '/srv/expired');
    assert.equal(config.caDir, '/srv/certificates');
    const file = resolveConfig(
      {
        caDir: '/etc/mine',
        cache: { dir: '/data' },
        backends: [{ type: 'exec', name: 'mine', command: 'x', timeoutSeconds: 5 }],
      },
      '/h',
      env,
    );
    assert.equal(file.caDir, '/etc/mine', 'the file wins');
    assert.equal(file.cache.dir, '/data');
    assert.deepEqual(
      file.backends.map((b) => b.name),
      ['mine'],
    );
  });

  it('refuses an invalid configuration with CONFIG_INVALID', () => {
    assert.throws(() => resolveConfig({ backends: [{ type: 'ftp', name: 'x' }] }, '/h', {}), {
      code: 'CONFIG_INVALID',
    });
    assert.throws(() => resolveConfig({ downloads: { parallel: 0 } }, '/h', {}), { code: 'CONFIG_INVALID' });
    assert.throws(() => resolveConfig({ unknownKey: 1 }, '/h', {}), { code: 'CONFIG_INVALID' });
  });
});
