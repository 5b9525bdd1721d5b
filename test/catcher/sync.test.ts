import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { imageViews, subscriptionViews } from '../../src/catcher/views.js';
import { makeCatcherHome } from '../helpers/catcher.js';
import { Repo, sha512Of } from '../helpers/repo.js';

describe('sync end to end', () => {
  let repo: Repo;
  let catcher: Catcher;

  before(async () => {
    repo = await Repo.create();
    const home = await makeCatcherHome(repo.grid);
    catcher = await home.open();
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('subscribes and caches every selected image with its exact bytes', async () => {
    const a = repo.add('alpha image bytes');
    const b = repo.add('beta image bytes, a little longer');
    repo.publish();
    const result = await subscribe(catcher, {
      url: repo.listUrl,
      endorser: { dn: repo.grid.publisher.subject, ca: repo.grid.intermediate.subject },
      autoEndorse: false,
      vo: undefined,
      requireVoms: false,
      fqan: undefined,
      newImages: 'subscribe',
      username: undefined,
      password: undefined,
      trust: {},
      now: new Date(),
    });
    assert.equal(result.id, repo.listId);
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    assert.deepEqual(report.available.sort(), [a.identifier, b.identifier].sort());
    for (const image of [a, b]) {
      const bytes = await readFile(join(catcher.cache.cacheDir, image.identifier));
      assert.equal(sha512Of(bytes), sha512Of(image.bytes));
    }
    assert.deepEqual(await readdir(catcher.cache.partialDir), []);
    const views = imageViews(catcher.db, []);
    assert.deepEqual(
      views.map((v) => v.state),
      ['cached', 'cached'],
    );
    const [sub, ...others] = subscriptionViews(catcher.db);
    assert.ok(sub);
    assert.equal(others.length, 0);
    assert.equal(sub.version, '1');
    assert.equal(sub.lastError, null);
  });

  it('does nothing on the next sync when the list did not change (conditional GET)', async () => {
    const before = repo.server.requests('/list.smime').length;
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0);
    assert.equal(report.subscriptions[0]?.status, 'unchanged');
    const last = repo.server.requests('/list.smime').slice(before);
    assert.equal(last.length, 1);
    assert.equal(last[0]?.status, 304);
    assert.deepEqual(report.downloads, []);
  });
});
