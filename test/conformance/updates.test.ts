import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import type { RepoImage } from '../helpers/repo.js';
import { assertBackendVerified, assertDelivered, assertSynced, Site, type Observation } from './harness.js';
import { STORIES } from './stories.js';
import { Simulator } from './simulator.js';

/**
 * Conformance, updates (README.md rows U01-U03): successor chains with missed versions and
 * appliances (SPEC.md section 2.2), make before break, and no mix of two list versions.
 */

const title = (id: string) => `${id}: ${STORIES.find((s) => s.id === id)?.attack ?? '?'}`;

function appliance(
  id: string,
  version: string,
  members: [string, RepoImage][],
  supersedes?: string,
): JsonObject {
  return {
    'vmi:appliance': {
      'dc:identifier': id,
      'dc:title': 'Cluster',
      'hv:version': version,
      ...(supersedes === undefined ? {} : { 'vmi:supersedes': [supersedes] }),
      'vmi:images': members.map(([role, image]) => ({ 'vmi:role': role, 'dc:identifier': image.identifier })),
    },
  };
}

/** GET requests the server saw for an image since request number `from`. */
function fetches(sim: Simulator, image: RepoImage, from: number): number {
  const path = new URL(image.entry['hv:uri'] as string).pathname;
  return sim.repo.server.log.slice(from).filter((r) => r.path === path && r.method === 'GET').length;
}

function state(o: Observation, image: RepoImage): string | undefined {
  return o.images.find((v) => v.id === image.identifier)?.state;
}

describe('conformance: successors and appliances through vmicatcher', () => {
  it(title('U01'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    try {
      const a = sim.add('ancestor A');
      sim.publish();
      const site = await Site.create(sim.grid);
      assert.equal((await site.subscribe(sim.url, sim.endorser)).status, 0);
      assertSynced(await site.sync());
      // Version 2 (B supersedes A) is published but this site never sees it.
      const b = sim.repo.image('intermediate B', { extra: { 'vmi:supersedes': [a.identifier] } });
      sim.sign({ images: [b] });
      // Version 3: C supersedes B and, as the publisher writes the whole chain, A.
      const c = sim.repo.image('successor C', { extra: { 'vmi:supersedes': [b.identifier, a.identifier] } });
      sim.repo.images = [c];
      const mark = sim.repo.server.log.length;
      sim.publish();
      assertSynced(await site.sync());
      const first = await site.observe();
      // Make before break: A left the backend only after C was delivered (same run), and
      // it leaves the cache on the next run, once C is in place everywhere.
      assertDelivered(first, [c], sim.listId);
      assert.equal(first.cache[a.identifier], a.entry['sl:checksum:sha512']);
      assertSynced(await site.sync());
      const second = await site.observe();
      assertDelivered(second, [c], sim.listId);
      assert.equal(state(second, a), 'retired');
      assert.ok(second.expired.some((n) => n.startsWith(`${a.identifier}.`)));
      assert.deepEqual(second.images.find((v) => v.id === c.identifier)?.supersedes, [
        b.identifier,
        a.identifier,
      ]);
      assert.equal(fetches(sim, b, mark), 0, 'the missed version is never fetched');
    } finally {
      await sim.stop();
    }
  });

  it(title('U02'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    try {
      const head = sim.add('appliance head', { extra: { 'vmi:appliance': 'app-1' } });
      const w1 = sim.add('appliance worker v1', { extra: { 'vmi:appliance': 'app-1' } });
      sim.repo.appliances = [
        appliance('app-1', '1', [
          ['head', head],
          ['worker', w1],
        ]),
      ];
      sim.publish();
      const site = await Site.create(sim.grid);
      assert.equal((await site.subscribe(sim.url, sim.endorser)).status, 0);
      assertSynced(await site.sync());
      // Partial update: the worker is replaced, the head kept (same identifier and bytes).
      const w2 = sim.repo.image('appliance worker v2', {
        extra: { 'vmi:appliance': 'app-2', 'vmi:supersedes': [w1.identifier] },
      });
      const head2 = { ...head, entry: { ...head.entry, 'vmi:appliance': 'app-2' } };
      sim.repo.images = [head2, w2];
      sim.repo.appliances = [
        appliance(
          'app-2',
          '2',
          [
            ['head', head2],
            ['worker', w2],
          ],
          'app-1',
        ),
      ];
      const mark = sim.repo.server.log.length;
      sim.publish();
      assertSynced(await site.sync());
      const first = await site.observe();
      assert.equal(fetches(sim, head, mark), 0, 'the kept member is not downloaded again');
      assert.equal(fetches(sim, w2, mark), 1);
      // app-2 was complete, then the old worker left the backend; the cache follows next run.
      assertDelivered(first, [head2, w2], sim.listId);
      assert.equal(first.cache[w1.identifier], w1.entry['sl:checksum:sha512']);
      assertSynced(await site.sync());
      const second = await site.observe();
      assertDelivered(second, [head2, w2], sim.listId);
      assert.equal(state(second, w1), 'retired');
      assert.equal(second.images.find((v) => v.id === w2.identifier)?.appliance, 'app-2');
    } finally {
      await sim.stop();
    }
  });

  it(title('U03'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    try {
      const h1 = sim.add('head v1', { extra: { 'vmi:appliance': 'app-1' } });
      const w1 = sim.add('worker v1', { extra: { 'vmi:appliance': 'app-1' } });
      sim.repo.appliances = [
        appliance('app-1', '1', [
          ['head', h1],
          ['worker', w1],
        ]),
      ];
      sim.publish();
      const site = await Site.create(sim.grid);
      assert.equal((await site.subscribe(sim.url, sim.endorser)).status, 0);
      assertSynced(await site.sync());
      const before = await site.observe();
      // Full update; the new worker's URL serves the old worker's bytes (same length).
      const h2 = sim.repo.image('head v2', {
        extra: { 'vmi:appliance': 'app-2', 'vmi:supersedes': [h1.identifier] },
      });
      const w2 = sim.repo.image('worker v2', {
        extra: { 'vmi:appliance': 'app-2', 'vmi:supersedes': [w1.identifier] },
      });
      sim.swapImage(w2, w1.bytes);
      sim.repo.images = [h2, w2];
      sim.repo.appliances = [
        appliance(
          'app-2',
          '2',
          [
            ['head', h2],
            ['worker', w2],
          ],
          'app-1',
        ),
      ];
      sim.publish();
      const mixed = await site.sync();
      const during = await site.observe();
      assert.equal(mixed.status, 1);
      assert.equal(
        during.images.find((v) => v.id === w2.identifier)?.lastError?.code,
        'IMAGE_DIGEST_MISMATCH',
      );
      // Nothing of version 2 is offered: the backend still holds the complete version 1
      // (marked deprecated, since the list supersedes it, but present with its bytes).
      const held = (o: Observation) =>
        Object.fromEntries(Object.entries(o.backend).map(([id, b]) => [id, b.sha512]));
      assert.deepEqual(held(during), held(before));
      assert.equal(during.cache[h2.identifier], undefined, 'the verified head waits outside the cache');
      assertBackendVerified(during);
      // Healed, a new list version completes app-2, and the next run retires app-1.
      sim.swapImage(w2, w2.bytes);
      sim.publish();
      assertSynced(await site.sync());
      assertSynced(await site.sync());
      const healed = await site.observe();
      assertDelivered(healed, [h2, w2], sim.listId);
      assert.equal(state(healed, h1), 'retired');
      assert.equal(state(healed, w1), 'retired');
    } finally {
      await sim.stop();
    }
  });
});
