import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { heldBackReason } from '../../src/catcher/backends/routing.js';
import { voProject } from '../../src/catcher/backends/glance/sharing.js';
import type { Catcher } from '../../src/catcher/catcher.js';
import { openReadOnlySource } from '../../src/catcher/ops/source.js';
import { CatcherMetrics } from '../../src/catcher/ops/metrics.js';
import { buildSiteIndex } from '../../src/catcher/ops/export.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, openSubscription, statusOf, type TestCatcher } from '../helpers/catcher.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 16, item 1: each delivery backend takes only the subscriptions and VOs it serves,
 * and a Glance backend with a `projects` map only mapped VOs (or `defaultProject`); what a
 * backend does not take is held back there with a reason, never uploaded by accident.
 */

const sub = { id: 'list-1', url: 'https://lists.example/one' };

describe('routing rules', () => {
  it('serves everything without routing keys', () => {
    assert.equal(heldBackReason('b', undefined, { vo: undefined, subscription: sub }), undefined);
    assert.equal(heldBackReason('b', {}, { vo: 'vo.a', subscription: sub }), undefined);
  });

  it('serves the subscriptions it names, by id or URL', () => {
    assert.equal(
      heldBackReason('b', { subscriptions: [sub.url] }, { vo: undefined, subscription: sub }),
      undefined,
    );
    assert.equal(
      heldBackReason('b', { subscriptions: [sub.id] }, { vo: undefined, subscription: sub }),
      undefined,
    );
    assert.match(
      heldBackReason('b', { subscriptions: ['other'] }, { vo: undefined, subscription: sub }) ?? '',
      /does not serve subscription list-1/,
    );
  });

  it('serves the VOs it names; an image without a VO is held back there', () => {
    const routing = { vos: ['vo.a'] };
    assert.equal(heldBackReason('b', routing, { vo: 'vo.a', subscription: sub }), undefined);
    assert.match(
      heldBackReason('b', routing, { vo: 'vo.b', subscription: sub }) ?? '',
      /does not serve VO vo.b/,
    );
    assert.match(heldBackReason('b', routing, { vo: undefined, subscription: sub }) ?? '', /has no VO/);
  });

  it('with a projects map, holds back unmapped VOs unless a defaultProject takes them', () => {
    const projects = { 'vo.a': 'project-a' };
    assert.equal(heldBackReason('g', { projects }, { vo: 'vo.a', subscription: sub }), undefined);
    assert.match(
      heldBackReason('g', { projects }, { vo: 'vo.b', subscription: sub }) ?? '',
      /VO vo.b has no project/,
    );
    assert.match(heldBackReason('g', { projects }, { vo: undefined, subscription: sub }) ?? '', /no VO/);
    const withDefault = { projects, defaultProject: 'shared-images' };
    assert.equal(heldBackReason('g', withDefault, { vo: 'vo.b', subscription: sub }), undefined);
    assert.equal(voProject(withDefault, 'vo.b'), 'shared-images');
    assert.equal(voProject(withDefault, 'vo.a'), 'project-a');
  });

  it('maps a VO a list names after an Object property to nothing (no prototype lookups)', () => {
    const projects = { 'vo.a': 'project-a' };
    for (const vo of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      assert.match(heldBackReason('g', { projects }, { vo, subscription: sub }) ?? '', /has no project/, vo);
      assert.equal(voProject({ projects }, vo), undefined, vo);
    }
  });
});

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.endsWith('.json')).sort();
}

describe('one catcher, backends serving different subscriptions and VOs', () => {
  let grid: Grid;
  let repoA: Repo;
  let repoB: Repo;
  let imageA: RepoImage;
  let imageB: RepoImage;
  let base: string;
  const open: Catcher[] = [];

  async function site(backends: Record<string, unknown>[]): Promise<{ home: TestCatcher; catcher: Catcher }> {
    const home = await makeCatcherHome(grid, { backends });
    const catcher = await home.open();
    open.push(catcher);
    return { home, catcher };
  }

  before(async () => {
    grid = await makeGrid();
    repoA = await Repo.create(grid);
    repoB = await Repo.create(grid);
    imageA = repoA.add('an image of vo.a');
    repoA.publish({ vo: 'vo.a' });
    imageB = repoB.add('an image of vo.b');
    repoB.publish({ vo: 'vo.b' });
    base = await tempDir('vmicast-routing-');
  });
  after(async () => {
    for (const catcher of open) await catcher.close();
    await repoA.stop();
    await repoB.stop();
  });

  it('delivers each image only where routing says, and reports what was held back where', async () => {
    const dir = (n: string) => join(base, 'first', n);
    const { catcher } = await site([
      { type: 'directory', name: 'by-list', path: dir('by-list'), subscriptions: [repoA.listUrl] },
      { type: 'directory', name: 'by-vo', path: dir('by-vo'), vos: ['vo.b'] },
      { type: 'directory', name: 'all', path: dir('all') },
    ]);
    await subscribe(catcher, openSubscription(repoA.listUrl));
    await subscribe(catcher, openSubscription(repoB.listUrl));
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    assert.deepEqual(await names(dir('by-list')), [imageA.identifier]);
    assert.deepEqual(await names(dir('by-vo')), [imageB.identifier]);
    assert.deepEqual(await names(dir('all')), [imageA.identifier, imageB.identifier].sort());
    assert.deepEqual(
      report.heldBack.map((h) => [h.backend, h.identifier]).sort(),
      [
        ['by-list', imageB.identifier],
        ['by-vo', imageA.identifier],
      ].sort(),
    );
    assert.match(report.heldBack.find((h) => h.backend === 'by-vo')?.reason ?? '', /does not serve VO vo.a/);
    // Status says the same, per backend.
    const status = await statusOf(catcher.config);
    const heldOn = (name: string) =>
      status.backends.find((b) => b.name === name)?.heldBack.map((h) => h.identifier);
    assert.deepEqual(heldOn('by-list'), [imageB.identifier]);
    assert.deepEqual(heldOn('by-vo'), [imageA.identifier]);
    assert.deepEqual(heldOn('all'), []);
    // Per-VO accounting per cloud, in status, metrics and the site index.
    const account = (backend: string, vo: string) =>
      status.accounting.find((a) => a.backend === backend && a.vo === vo);
    assert.deepEqual(
      status.accounting.map((a) => [a.backend, a.vo, a.images, a.bytesHeld]),
      [
        ['all', 'vo.a', 1, imageA.bytes.length],
        ['all', 'vo.b', 1, imageB.bytes.length],
        ['by-list', 'vo.a', 1, imageA.bytes.length],
        ['by-vo', 'vo.b', 1, imageB.bytes.length],
      ],
    );
    assert.equal(account('all', 'vo.a')?.bytesDelivered, imageA.bytes.length);
    assert.ok(account('all', 'vo.a')?.lastUpdate !== null);
    const metrics = new CatcherMetrics();
    metrics.refresh(status);
    const text = await metrics.text();
    assert.match(text, /vmicatcher_vo_images\{backend="by-vo",vo="vo.b"\} 1/);
    assert.match(
      text,
      new RegExp(`vmicatcher_vo_bytes_held\\{backend="all",vo="vo.a"\\} ${imageA.bytes.length}`),
    );
    const index = openReadOnlySource(catcher.config);
    try {
      assert.deepEqual(buildSiteIndex(index, 'site').accounting, status.accounting);
    } finally {
      index.close();
    }
    // Nothing was ever streamed to a backend that does not take the image.
    for (const d of report.downloads) {
      const streamed = d.streamedTo ?? [];
      if (d.identifier === imageA.identifier) assert.ok(!streamed.includes('by-vo'));
      if (d.identifier === imageB.identifier) assert.ok(!streamed.includes('by-list'));
    }
  });

  it('takes an image away from a backend whose routing no longer covers it', async () => {
    const dir = (n: string) => join(base, 'second', n);
    const first = await site([{ type: 'directory', name: 'cloud', path: dir('cloud') }]);
    await subscribe(first.catcher, openSubscription(repoA.listUrl));
    await subscribe(first.catcher, openSubscription(repoB.listUrl));
    assert.equal((await syncOnce(first.catcher)).failures, 0);
    assert.deepEqual(await names(dir('cloud')), [imageA.identifier, imageB.identifier].sort());
    await first.catcher.close();
    open.splice(open.indexOf(first.catcher), 1);

    // The operator narrows the cloud to vo.b: vo.a's image may not stay there.
    first.home.raw['backends'] = [{ type: 'directory', name: 'cloud', path: dir('cloud'), vos: ['vo.b'] }];
    const narrowed = await first.home.open();
    open.push(narrowed);
    const report = await syncOnce(narrowed);
    assert.equal(report.failures, 0, JSON.stringify(report));
    assert.deepEqual(
      report.deliveries.filter((d) => d.action === 'retire').map((d) => [d.backend, d.identifier]),
      [['cloud', imageA.identifier]],
    );
    assert.deepEqual(await names(dir('cloud')), [imageB.identifier]);
    // Nothing of vo.a is held there any more; what was delivered stays counted.
    const status = await statusOf(narrowed.config);
    const voA = status.accounting.find((a) => a.vo === 'vo.a');
    assert.deepEqual([voA?.images, voA?.bytesHeld, voA?.bytesDelivered], [0, 0, imageA.bytes.length]);
  });

  it('one cloud down for a whole run: the other completes, the probe names it, it catches up without a download', async () => {
    const dir = (n: string) => join(base, 'third', n);
    await mkdir(join(base, 'third'), { recursive: true });
    // Cloud b is "down": its path is under a regular file, so nothing can be written there.
    await writeFile(join(base, 'third', 'blocked'), 'not a directory');
    const { catcher } = await site([
      { type: 'directory', name: 'a', path: dir('a') },
      { type: 'directory', name: 'b', path: join(base, 'third', 'blocked', 'b') },
    ]);
    await subscribe(catcher, openSubscription(repoA.listUrl));
    const first = await syncOnce(catcher);
    assert.deepEqual(first.deliveries.map((d) => [d.backend, d.ok]).sort(), [
      ['a', true],
      ['b', false],
    ]);
    assert.deepEqual(await names(dir('a')), [imageA.identifier]);
    const status = await statusOf(catcher.config);
    assert.equal(status.health.status, 'WARNING');
    assert.ok(
      status.health.problems.some((p) => /backend b: 1 deliveries failing/.test(p.text)),
      JSON.stringify(status.health.problems),
    );
    assert.ok(status.health.perfdata.some((p) => p.label === 'failing_deliveries_b' && p.value === 1));
    assert.ok(status.health.perfdata.some((p) => p.label === 'failing_deliveries_a' && p.value === 0));

    // Cloud b is back; the next run after its retry time delivers from the cache.
    await rm(join(base, 'third', 'blocked'));
    const later = new Date(Date.now() + 10 * 60_000);
    const second = await syncOnce(catcher, { now: later });
    assert.deepEqual(second.downloads, []);
    assert.deepEqual(
      second.deliveries.map((d) => [d.backend, d.action, d.ok]),
      [['b', 'deliver', true]],
    );
    assert.deepEqual(await names(join(base, 'third', 'blocked', 'b')), [imageA.identifier]);
  });
});
