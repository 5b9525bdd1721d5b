import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { assertDelivered, assertRefused, assertSynced, Site, type Observation } from './harness.js';
import { STORIES } from './stories.js';
import { hoursFrom, Simulator } from './simulator.js';

/**
 * Conformance, time (README.md rows T01-T03): freeze, lapse after revocation, fast-forward
 * and recovery. The catcher's clock is moved with `--at`; lists carry real dates.
 */

const HOUR = 3600_000;
const GRACE_HOURS = 2;
const title = (id: string) => `${id}: ${STORIES.find((s) => s.id === id)?.attack ?? '?'}`;

/** The subscription's images are no longer offered: none in the backend or the cache, all retired. */
function assertLapsed(o: Observation): void {
  assert.deepEqual(o.backend, {}, 'backend content');
  assert.deepEqual(o.cache, {}, 'cache content');
  assert.ok(o.images.length > 0);
  for (const image of o.images) {
    assert.equal(image.state, 'retired', image.id);
    assert.equal(image.unwantedReason, 'lapsed');
  }
  for (const image of o.images) assert.ok(o.expired.some((name) => name.startsWith(`${image.id}.`)));
}

describe('conformance: time, expiry and lapse through vmicatcher --at', () => {
  it(title('T01'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    try {
      const t0 = new Date();
      sim.add('freeze image A');
      sim.add('freeze image B');
      sim.publish({ expires: new Date(t0.getTime() + 2 * HOUR) });
      const site = await Site.create(sim.grid, { graceHours: GRACE_HOURS });
      assert.equal((await site.subscribe(sim.url, sim.endorser, hoursFrom(t0, 0))).status, 0);
      assertSynced(await site.sync(hoursFrom(t0, 0)));
      // A newer version exists, but the mirror withholds it and keeps serving version 1.
      sim.sign({ version: '2' });
      const frozen = await site.sync(hoursFrom(t0, 1));
      assertSynced(frozen);
      assert.equal(
        (frozen.json as { subscriptions: { status: string }[] }).subscriptions[0]?.status,
        'unchanged',
      );
      assertDelivered(await site.observe(), sim.repo.images, sim.listId);
      // Version 1 expires: refused, the lapse clock starts, the images stay for the grace period.
      const expired = await site.sync(hoursFrom(t0, 2.5));
      const inGrace = await site.observe();
      assertRefused(expired, inGrace, 'LIST_EXPIRED');
      assert.equal(inGrace.subscriptions[0]?.lapsedSince, new Date(hoursFrom(t0, 2.5)).toISOString());
      assertDelivered(inGrace, sim.repo.images, sim.listId);
      // After the grace period the endorsement has lapsed: the images leave the site.
      const lapsed = await site.sync(hoursFrom(t0, 2.5 + GRACE_HOURS + 0.5));
      const gone = await site.observe();
      assertRefused(lapsed, gone, 'LIST_EXPIRED');
      assertLapsed(gone);
    } finally {
      await sim.stop();
    }
  });

  it(title('T02'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    try {
      const t0 = new Date();
      sim.add('revocation image A');
      sim.publish();
      const site = await Site.create(sim.grid, { graceHours: GRACE_HOURS });
      assert.equal((await site.subscribe(sim.url, sim.endorser, hoursFrom(t0, 0))).status, 0);
      assertSynced(await site.sync(hoursFrom(t0, 0)));
      await sim.revoke(sim.grid.publisher);
      const revoked = await site.sync(hoursFrom(t0, 0.5));
      const inGrace = await site.observe();
      assertRefused(revoked, inGrace, 'CERT_REVOKED');
      assertDelivered(inGrace, sim.repo.images, sim.listId);
      const lapsed = await site.sync(hoursFrom(t0, 0.5 + GRACE_HOURS + 0.5));
      const gone = await site.observe();
      assertRefused(lapsed, gone, 'CERT_REVOKED');
      assertLapsed(gone);
      // The publisher signs a new version with a new certificate: the images come back.
      sim.publish({ signer: sim.rekeyedPublisher() });
      assertSynced(await site.sync(hoursFrom(t0, 3.5)));
      const back = await site.observe();
      assert.equal(back.subscriptions[0]?.lapsedSince, null);
      assertDelivered(back, sim.repo.images, sim.listId);
    } finally {
      await sim.stop();
    }
  });

  it(title('T03'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    try {
      sim.add('fast-forward image A');
      sim.publish({ version: '1' });
      const site = await Site.create(sim.grid);
      assert.equal((await site.subscribe(sim.url, sim.endorser)).status, 0);
      assertSynced(await site.sync());
      // A stolen key of the endorser signs version 99: valid, so it is accepted.
      const stolen = sim.rekeyedPublisher();
      const farFuture = sim.publish({ version: '99', signer: stolen });
      assertSynced(await site.sync());
      assert.equal((await site.observe()).subscriptions[0]?.version, '99');
      // The publisher's own next version now looks like a rollback.
      sim.publish({ version: '2' });
      const stuck = await site.sync();
      const stuckState = await site.observe();
      assertRefused(stuck, stuckState, 'LIST_ROLLBACK');
      assert.equal(stuckState.subscriptions[0]?.version, '99');
      // Recovery: the CA revokes the stolen certificate, the operator resets the subscription.
      await sim.revoke(stolen);
      const reset = await site.run(['reset', sim.listId, '--json']);
      assert.equal(reset.status, 0, reset.stdout);
      assertSynced(await site.sync());
      const recovered = await site.observe();
      assert.equal(recovered.subscriptions[0]?.version, '2');
      assertDelivered(recovered, sim.repo.images, sim.listId);
      // The reset was for one list only, and the far-future version no longer verifies.
      sim.serve(farFuture);
      const replay = await site.sync();
      const after = await site.observe();
      assertRefused(replay, after, 'CERT_REVOKED');
      assert.equal(after.subscriptions[0]?.version, '2');
      assertDelivered(after, sim.repo.images, sim.listId);
    } finally {
      await sim.stop();
    }
  });

  it(title('T04'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    try {
      const t0 = new Date();
      sim.add('forever image A');
      sim.publish({ expires: new Date('2499-12-31T00:00:00Z') });
      const site = await Site.create(sim.grid, { lists: { maxAgeDays: 1 } });
      assert.equal((await site.subscribe(sim.url, sim.endorser, hoursFrom(t0, 0))).status, 0);
      assertSynced(await site.sync(hoursFrom(t0, 0)));
      assertDelivered(await site.observe(), sim.repo.images, sim.listId);
      // Two days later the publisher still serves the same list: too old to count.
      const stale = await site.sync(hoursFrom(t0, 48));
      const gone = await site.observe();
      assertRefused(stale, gone, 'LIST_EXPIRED');
      assert.match(gone.subscriptions[0]?.lastError?.message ?? '', /maximum age/);
      assertLapsed(gone);
    } finally {
      await sim.stop();
    }
  });
});
