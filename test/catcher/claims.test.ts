import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { openCatcher, type Catcher } from '../../src/catcher/catcher.js';
import { resolveConfig } from '../../src/catcher/config.js';
import { openReadOnlySource } from '../../src/catcher/ops/source.js';
import { buildStatus } from '../../src/catcher/ops/status.js';
import { markRemoving } from '../../src/catcher/store/subscriptions.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { imageViews, subscriptionViews } from '../../src/catcher/views.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { makeGrid } from '../helpers/grid.js';
import { recordingHook, type RecordingHook } from '../helpers/hook.js';
import { Repo, sha512Of, type RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * An image identifier names one cache file, so it belongs to one subscription: the first
 * whose accepted list named it, for as long as that subscription exists (docs/operations.md,
 * "Image identifiers across subscriptions"). Another list naming it has that image refused
 * with IMAGE_IDENTIFIER_CLAIMED; the rest of that list goes on, and nothing of the owner's
 * image changes.
 */

/** Every file under `dir` (recursively) with the SHA-512 of its content. */
async function files(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(path, sha512Of(await readFile(path)));
  }
  return out;
}

/** The owner's rows for one identifier: definition, instances, deliveries, events. */
function ownerRows(catcher: Catcher, subscription: string, identifier: string): string {
  const all = (sql: string) => catcher.db.prepare(sql).all(subscription, identifier);
  return JSON.stringify({
    images: all('SELECT * FROM images WHERE subscription_id = ? AND identifier = ?'),
    instances: all('SELECT * FROM instances WHERE subscription_id = ? AND identifier = ?'),
    deliveries: all(
      `SELECT d.* FROM deliveries d JOIN instances i ON i.id = d.instance_id
         WHERE i.subscription_id = ? AND i.identifier = ? ORDER BY d.instance_id, d.backend`,
    ),
    events: catcher.db.prepare('SELECT * FROM events WHERE identifier = ? ORDER BY id').all(identifier),
  });
}

describe('image identifiers across subscriptions', () => {
  let repoA: Repo;
  let repoB: Repo;
  let catcher: Catcher;
  let hook: RecordingHook;
  let site: string;
  let ownerImage: RepoImage;
  const logLines: Record<string, unknown>[] = [];

  /** Everything of A's image X that must not change when B claims X. */
  async function victim(id: string) {
    return {
      rows: ownerRows(catcher, repoA.listId, id),
      cache: await readFile(join(catcher.cache.cacheDir, id)).then(sha512Of, () => null),
      site: await files(site),
      hookEvents: (await hook.events()).filter((e) => e.env['VMCATCHER_EVENT_DC_IDENTIFIER'] === id).length,
    };
  }

  async function assertUntouched(id: string, before: Awaited<ReturnType<typeof victim>>, claim: RepoImage) {
    const now = await victim(id);
    assert.equal(now.rows, before.rows, "the owner's rows changed");
    assert.equal(now.cache, before.cache, "the owner's cache file changed");
    assert.equal(now.hookEvents, before.hookEvents, 'events about the identifier');
    for (const [path, hash] of before.site) assert.equal(now.site.get(path), hash, path);
    const claimed = sha512Of(claim.bytes);
    for (const [path, hash] of now.site) assert.notEqual(hash, claimed, `${path} holds the claim's bytes`);
  }

  const refusedOf = (subscription: string) =>
    subscriptionViews(catcher.db).find((s) => s.id === subscription)?.refusedImages;

  before(async () => {
    const grid = await makeGrid();
    repoA = await Repo.create(grid);
    repoB = await Repo.create(grid);
    const base = await tempDir('vmicast-claims-');
    site = join(base, 'site');
    hook = await recordingHook(base);
    const home = await makeCatcherHome(grid, {
      backends: [
        { type: 'directory', name: 'site', path: site },
        { type: 'exec', name: 'hook', command: hook.command, timeoutSeconds: 5, retryBackoffSeconds: 0 },
      ],
    });
    const sink = { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) };
    catcher = await openCatcher(resolveConfig(home.raw, home.home, {}), {
      log: pino({ level: 'warn' }, sink),
    });
    ownerImage = repoA.add("A's image");
    repoA.publish();
    repoB.add("B's own image");
    repoB.publish();
    const t = Date.now();
    await subscribe(catcher, openSubscription(repoA.listUrl, new Date(t - 2000)));
    await subscribe(catcher, openSubscription(repoB.listUrl, new Date(t - 1000)));
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
  });
  after(async () => {
    await catcher.close();
    await repoA.stop();
    await repoB.stop();
  });

  it("refuses another list's claim on a held identifier; the rest of that list goes on", async () => {
    const id = ownerImage.identifier;
    const before = await victim(id);
    const claim = repoB.add("B's bytes under A's identifier", { identifier: id });
    const other = repoB.add("B's new image");
    repoB.publish();
    logLines.length = 0;
    const report = await syncOnce(catcher);
    assert.equal(report.subscriptions.find((s) => s.id === repoB.listId)?.status, 'updated');
    assert.deepEqual(
      report.refusedImages.map((r) => [r.subscription, r.identifier, r.code]),
      [[repoB.listId, id, 'IMAGE_IDENTIFIER_CLAIMED']],
    );
    assert.equal(report.failures, 1);
    // Recorded on the claiming subscription, naming the owner.
    const [refused, ...more] = refusedOf(repoB.listId) ?? [];
    assert.equal(more.length, 0);
    assert.equal(refused?.id, id);
    assert.equal(refused.code, 'IMAGE_IDENTIFIER_CLAIMED');
    assert.equal(refused.owner, repoA.listId);
    assert.deepEqual(refusedOf(repoA.listId), []);
    // A warning naming both subscriptions.
    const warning = logLines.find((l) => l['code'] === 'IMAGE_IDENTIFIER_CLAIMED');
    assert.ok(warning, JSON.stringify(logLines));
    assert.match(
      String(warning['msg']),
      new RegExp(`${repoA.listId}.*${repoB.listId}|${repoB.listId}.*${repoA.listId}`),
    );
    // B's other image goes on.
    const views = imageViews(catcher.db, ['site']);
    assert.equal(views.find((v) => v.id === other.identifier)?.state, 'delivered');
    assert.deepEqual(
      views.filter((v) => v.id === id).map((v) => [v.subscription, v.sha512]),
      [[repoA.listId, sha512Of(ownerImage.bytes)]],
    );
    await assertUntouched(id, before, claim);
    // The status document and the probe show it.
    const source = openReadOnlySource(catcher.config);
    try {
      const status = await buildStatus(source, { info: null, lastCycle: null });
      const sub = status.subscriptions.find((s) => s.id === repoB.listId);
      assert.equal(sub?.refusedImages[0]?.code, 'IMAGE_IDENTIFIER_CLAIMED');
      assert.ok(
        status.health.problems.some((p) => p.severity === 'WARNING' && p.text.includes(id)),
        JSON.stringify(status.health.problems),
      );
    } finally {
      source.close();
    }
  });

  it("keeps the identifier with its owner after the owner's list dropped it", async () => {
    const id = ownerImage.identifier;
    repoA.remove(id);
    repoA.publish();
    await syncOnce(catcher);
    const before = await victim(id);
    repoB.publish();
    await syncOnce(catcher);
    assert.equal(refusedOf(repoB.listId)?.[0]?.owner, repoA.listId);
    await assertUntouched(id, before, repoB.images.find((i) => i.identifier === id) as RepoImage);
  });

  it("a list polled first takes another list's brand-new identifier (the documented race)", async () => {
    // A publishes a new image; B names the same identifier and is polled before A.
    const fresh = repoA.add("A's brand-new image");
    repoA.publish();
    const race = repoB.add("B's bytes racing A's new identifier", { identifier: fresh.identifier });
    repoB.publish();
    await syncOnce(catcher, { subscription: repoB.listId });
    const report = await syncOnce(catcher);
    assert.deepEqual(
      report.refusedImages.map((r) => [r.subscription, r.identifier, r.code]),
      [[repoA.listId, fresh.identifier, 'IMAGE_IDENTIFIER_CLAIMED']],
    );
    assert.equal(refusedOf(repoA.listId)?.[0]?.owner, repoB.listId);
    const held = imageViews(catcher.db, ['site']).filter((v) => v.id === fresh.identifier);
    assert.deepEqual(
      held.map((v) => [v.subscription, v.sha512]),
      [[repoB.listId, sha512Of(race.bytes)]],
    );
    // The operator resolves it by unsubscribing the list that took it: once its removal is
    // done, the rightful list takes the identifier at its next poll, without a new version.
    catcher.db.transaction(() => markRemoving(catcher.db, repoB.listId, new Date()))();
    await syncOnce(catcher);
    const after = await syncOnce(catcher);
    assert.equal(after.subscriptions.find((s) => s.id === repoA.listId)?.status, 'unchanged');
    const now = imageViews(catcher.db, ['site']).filter((v) => v.id === fresh.identifier);
    assert.deepEqual(
      now.map((v) => [v.subscription, v.sha512, v.state]),
      [[repoA.listId, sha512Of(fresh.bytes), 'delivered']],
    );
    assert.deepEqual(refusedOf(repoA.listId), []);
    const cached = await readFile(join(catcher.cache.cacheDir, fresh.identifier));
    assert.equal(createHash('sha512').update(cached).digest('hex'), sha512Of(fresh.bytes));
  });
});
