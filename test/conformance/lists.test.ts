import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt } from '../helpers/caster-cli.js';
import {
  assertDelivered,
  assertFailed,
  assertRefused,
  assertSynced,
  stored,
  Site,
  type Observation,
} from './harness.js';
import { LIST_EXTRAS, REFUSALS, type Baseline } from './scenarios.js';
import { Simulator } from './simulator.js';

/**
 * Conformance, list attacks (README.md rows L00-L17): every row starts from the accepted
 * version 5, stages one attack with the repository simulator, runs `vmicatcher sync --json`
 * and checks the exit status, the code, and that subscriptions, images, cache and backend
 * are exactly as they were.
 */

const HOUR = 3600_000;
const title = (id: string) =>
  `${id}: ${[...REFUSALS, ...LIST_EXTRAS].find((r) => r.id === id)?.attack ?? '?'}`;

describe('conformance: list attacks through vmicatcher (SPEC.md section 5, TUF)', () => {
  let sim: Simulator;
  let site: Site;
  let base: Baseline;
  let baseline: Observation;

  before(async () => {
    ensureBuilt();
    sim = await Simulator.create();
    sim.add('conformance image A');
    sim.add('conformance image B');
    const created = new Date(Date.now() - HOUR);
    const older = sim.sign({ version: '4', created: new Date(created.getTime() - HOUR) });
    const accepted = sim.publish({ version: '5', created });
    base = { accepted, older, created };
    // A small size cap and deadline, so that endless and slow lists are cut quickly.
    site = await Site.create(sim.grid, { lists: { maxBytes: 65536, timeoutSeconds: 4 } });
  });
  after(async () => {
    await sim.stop();
  });

  it(title('L00'), async () => {
    const stranger = sim.stranger();
    const run = await site.subscribe(sim.url, [
      '--endorser-dn',
      stranger.subject,
      '--endorser-ca',
      sim.grid.intermediate.subject,
    ]);
    assertFailed(run, 'ENDORSER_UNAUTHORIZED');
    const o = await site.observe();
    assert.deepEqual([o.subscriptions, o.images, o.cache, o.backend], [[], [], {}, {}]);
  });

  it('subscribes and delivers version 5 (the baseline of every row)', async () => {
    const sub = await site.subscribe(sim.url, [...sim.endorser, '--vo', 'vo.example.org']);
    assert.equal(sub.status, 0, sub.stdout + sub.stderr);
    assertSynced(await site.sync());
    baseline = await site.observe();
    assert.equal(baseline.subscriptions[0]?.version, '5');
    assertDelivered(baseline, sim.repo.images, sim.listId);
  });

  for (const row of REFUSALS) {
    it(`${title(row.id)} -> ${row.code}`, async () => {
      row.stage(sim, base);
      const run = await site.sync();
      const after = await site.observe();
      assertRefused(run, after, row.code);
      assert.deepEqual(stored(after), stored(baseline), 'stored state, cache or backend changed');
    });
  }

  it(title('L17'), async () => {
    sim.publish({ version: '5', created: new Date(base.created.getTime() + 60_000) });
    const run = await site.sync();
    assertSynced(run);
    const after = await site.observe();
    assert.equal(after.subscriptions[0]?.version, '5');
    assert.equal(after.subscriptions[0].lastError, null);
    assertDelivered(after, sim.repo.images, sim.listId);
  });
});
