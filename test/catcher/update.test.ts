import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { imageViews } from '../../src/catcher/views.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { Repo, sha512Of, type RepoImage } from '../helpers/repo.js';
import { listDir } from '../helpers/state.js';

/** Downloads the server saw for an image since `from` (full or ranged GETs of its path). */
function fetchesOf(repo: Repo, image: RepoImage, from: number): number {
  const uri = new URL(image.entry['hv:uri'] as string);
  return repo.server.log.slice(from).filter((r) => r.path === uri.pathname && r.method === 'GET').length;
}

describe('list updates: in-place change, successor, partial appliance update', () => {
  let repo: Repo;
  let catcher: Catcher;
  let directory: string;
  let plain: RepoImage;
  let inPlace: RepoImage;
  let old: RepoImage;
  let head: RepoImage;
  let worker: RepoImage;

  before(async () => {
    repo = await Repo.create();
    const home = await makeCatcherHome(repo.grid);
    directory = join(home.home, 'site-images');
    const withBackend = await makeCatcherHome(repo.grid, {
      backends: [{ type: 'directory', name: 'local', path: directory }],
    });
    catcher = await withBackend.open();
    plain = repo.add('unchanged image');
    inPlace = repo.add('in-place image, version 1');
    old = repo.add('old image that will be superseded');
    head = repo.add('appliance head v1', { extra: { 'vmi:appliance': 'app-1' } });
    worker = repo.add('appliance worker v1', { extra: { 'vmi:appliance': 'app-1' } });
    repo.appliances = [
      {
        'vmi:appliance': {
          'dc:identifier': 'app-1',
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
    await subscribe(catcher, openSubscription(repo.listUrl));
    const first = await syncOnce(catcher);
    assert.equal(first.failures, 0, JSON.stringify(first));
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('downloads exactly the changed images and retires exactly the replaced ones', async () => {
    const mark = repo.server.log.length;
    // In place: same identifier, new bytes.
    const inPlace2 = repo.image('in-place image, version 2', {
      identifier: inPlace.identifier,
      version: '2',
    });
    repo.replace(inPlace.identifier, inPlace2);
    // Successor: a new image that supersedes the old one, which leaves the list.
    const successor = repo.image('successor image', { extra: { 'vmi:supersedes': [old.identifier] } });
    repo.remove(old.identifier);
    repo.images.push(successor);
    // Partial appliance update: a new worker replaces the old one, the head stays.
    const worker2 = repo.image('appliance worker v2', {
      extra: { 'vmi:appliance': 'app-2', 'vmi:supersedes': [worker.identifier] },
    });
    repo.remove(worker.identifier);
    repo.images.push(worker2);
    repo.replace(head.identifier, { ...head, entry: { ...head.entry, 'vmi:appliance': 'app-2' } });
    repo.appliances = [
      {
        'vmi:appliance': {
          'dc:identifier': 'app-2',
          'dc:title': 'Cluster',
          'hv:version': '2',
          'vmi:supersedes': ['app-1'],
          'vmi:images': [
            { 'vmi:role': 'head', 'dc:identifier': head.identifier },
            { 'vmi:role': 'worker', 'dc:identifier': worker2.identifier },
          ],
        },
      },
    ];
    repo.publish();

    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    // Downloads: the new in-place bytes, the successor, the new worker; nothing else.
    assert.deepEqual(
      report.downloads.map((d) => d.identifier).sort(),
      [inPlace.identifier, successor.identifier, worker2.identifier].sort(),
    );
    assert.equal(fetchesOf(repo, plain, mark), 0);
    assert.equal(fetchesOf(repo, head, mark), 0);
    // Cache: the in-place image was expired and replaced in one run (Expire then Available).
    assert.deepEqual(report.expired, [inPlace.identifier]);
    assert.equal(
      sha512Of(await readFile(join(catcher.cache.cacheDir, inPlace.identifier))),
      sha512Of(inPlace2.bytes),
    );
    // Make before break: the superseded images stay until their successors are delivered.
    const cached = await listDir(catcher.cache.cacheDir);
    assert.ok(cached.includes(old.identifier));
    assert.ok(cached.includes(worker.identifier));

    // The next run retires them: successors are delivered everywhere now.
    const next = await syncOnce(catcher);
    assert.equal(next.failures, 0, JSON.stringify(next));
    assert.deepEqual(next.downloads, []);
    assert.deepEqual(next.expired.sort(), [old.identifier, worker.identifier].sort());
    const expired = await listDir(catcher.cache.expiredDir);
    for (const id of [inPlace.identifier, old.identifier, worker.identifier]) {
      assert.ok(
        expired.some((name) => name.startsWith(`${id}.`)),
        `${id} in the expired directory`,
      );
    }
    // Backend: superseded images removed, the rest present with the current bytes.
    const site = await listDir(directory);
    assert.ok(!site.includes(old.identifier));
    assert.ok(!site.includes(worker.identifier));
    for (const image of [plain, head, successor, worker2])
      assert.ok(site.includes(image.identifier), image.identifier);
    assert.equal(sha512Of(await readFile(join(directory, inPlace.identifier))), sha512Of(inPlace2.bytes));
    const views = new Map(imageViews(catcher.db, ['local']).map((v) => [v.id, v]));
    assert.equal(views.get(successor.identifier)?.state, 'delivered');
    assert.deepEqual(views.get(successor.identifier)?.supersedes, [old.identifier]);
    assert.equal(views.get(worker2.identifier)?.appliance, 'app-2');
    assert.equal(views.get(old.identifier)?.state, 'retired');
  });
});
