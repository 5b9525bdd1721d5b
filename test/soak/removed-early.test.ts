import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { assertDelivered, assertSynced, Site } from '../conformance/harness.js';
import { Simulator } from '../conformance/simulator.js';

/**
 * Regression (issue 8, found by the full soak): an image removed from its list before this
 * site ever cached it (its download stalled, or the sync was killed) showed as `deprecated`
 * for ever, though no backend and no cache held it, and its resumable `.part` file stayed in
 * the partial directory for ever. It is now `retired`, and the partial file is deleted.
 */
describe('an image removed before it was ever cached', () => {
  let sim: Simulator;
  after(async () => {
    await sim.stop();
  });

  it('is retired, and its partial file is deleted', async () => {
    ensureBuilt();
    sim = await Simulator.create();
    const kept = sim.add('kept image');
    const early = sim.add('x'.repeat(5000));
    sim.publish();
    const site = await Site.create(sim.grid);
    assert.equal((await site.subscribe(sim.url, sim.endorser)).status, 0);
    sim.fault(early, ...Array.from({ length: 3 }, () => ({ kind: 'stall' as const, afterBytes: 1000 })));
    const stalled = await site.sync();
    assert.equal(stalled.status, 1);
    const during = await site.observe();
    assert.equal(during.images.find((i) => i.id === early.identifier)?.lastError?.code, 'STALLED');
    assert.ok(
      during.partial.some((name) => name.endsWith('.part')),
      'a resumable .part file',
    );

    sim.repo.remove(early.identifier);
    sim.publish();
    assertSynced(await site.sync());
    const after = await site.observe();
    assert.equal(after.images.find((i) => i.id === early.identifier)?.state, 'retired');
    assert.deepEqual(after.partial, [], 'no partial file left behind');
    assertDelivered(after, [kept], sim.listId);
  });
});
