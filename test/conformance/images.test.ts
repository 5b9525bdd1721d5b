import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CatcherRun } from '../helpers/catcher-cli.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import type { RepoImage } from '../helpers/repo.js';
import { assertBackendVerified, assertDelivered, assertSynced, Site, type Observation } from './harness.js';
import { downloadKey } from '../../src/catcher/cache/layout.js';
import { IMAGE_ATTACKS, type ImageRow } from './scenarios.js';
import { Simulator } from './simulator.js';

/**
 * Conformance, image attacks (README.md rows I01-I07): one new list version adds one image
 * per row, and the simulator attacks each image's URL its own way. One sync; then every
 * attacked image carries its code, is in neither cache nor backend, and the images that
 * were delivered before are untouched. Healed, the next version delivers everything.
 */

const ATTEMPTS = 3;
const content = (id: string) => `image ${id} `.padEnd(1000, id);

describe('conformance: image attacks through vmicatcher (SPEC.md section 6, TUF)', () => {
  let sim: Simulator;
  let site: Site;
  let before1: Observation;
  const attacked = new Map<string, RepoImage>();
  let run: CatcherRun;
  let after1: Observation;

  before(async () => {
    ensureBuilt();
    sim = await Simulator.create();
    sim.add('kept image A');
    sim.add('kept image B');
    sim.publish();
    site = await Site.create(sim.grid, {
      downloads: { attempts: ATTEMPTS, minBytesPerSecond: 1000, parallel: 8, perHost: 8 },
    });
    assert.equal((await site.subscribe(sim.url, sim.endorser)).status, 0);
    assertSynced(await site.sync());
    before1 = await site.observe();
    assertDelivered(before1, sim.repo.images, sim.listId);

    for (const row of IMAGE_ATTACKS) {
      const image = sim.add(content(row.id));
      attacked.set(row.id, image);
      if (row.bytes !== undefined) sim.swapImage(image, row.bytes(content(row.id)));
      for (const fault of row.faults ?? []) sim.fault(image, ...Array<typeof fault>(ATTEMPTS).fill(fault));
    }
    sim.publish();
    run = await site.sync();
    after1 = await site.observe();
  });
  after(async () => {
    await sim.stop();
  });

  it('the sync reports failure, and the images delivered before are untouched', () => {
    assert.equal(run.status, 1, run.stdout);
    for (const kept of sim.repo.images.slice(0, 2)) {
      assert.deepEqual(after1.backend[kept.identifier], before1.backend[kept.identifier]);
      assert.equal(after1.cache[kept.identifier], before1.cache[kept.identifier]);
    }
    assertBackendVerified(after1);
  });

  const check = (row: ImageRow) => () => {
    const image = attacked.get(row.id);
    assert.ok(image);
    const id = image.identifier;
    const report = run.json as { downloads: { identifier: string; ok: boolean; code?: string }[] };
    const download = report.downloads.find((d) => d.identifier === id);
    assert.equal(download?.ok, false);
    assert.equal(download.code, row.code, JSON.stringify(download));
    const view = after1.images.find((v) => v.id === id);
    assert.equal(view?.lastError?.code, row.code);
    assert.equal(view.state, 'selected');
    assert.equal(after1.cache[id], undefined, 'not in the cache');
    assert.equal(after1.backend[id], undefined, 'not in the backend');
    // vmicast's own names for this download (src/catcher/cache/layout.ts): `.<key>.<random>.part|ok`.
    const key = downloadKey({
      subscriptionId: sim.listId,
      identifier: id,
      sha512: image.entry['sl:checksum:sha512'] as string,
    });
    const partial = after1.partial.filter((name) => name.startsWith(`.${key}.`) || name.startsWith(id));
    if (row.code.startsWith('IMAGE_'))
      assert.deepEqual(partial, [], 'bytes that failed verification are deleted');
    else
      assert.ok(
        partial.every((name) => name.endsWith('.part')),
        'at most a resumable .part file',
      );
  };
  for (const row of IMAGE_ATTACKS) it(`${row.id}: ${row.attack} -> ${row.code}`, check(row));

  it('healed, the next list version delivers every image', async () => {
    sim.repo.server.faults.clear();
    for (const row of IMAGE_ATTACKS) {
      const image = attacked.get(row.id);
      if (image !== undefined) sim.swapImage(image, content(row.id));
    }
    sim.publish();
    assertSynced(await site.sync());
    assertDelivered(await site.observe(), sim.repo.images, sim.listId);
  });
});
