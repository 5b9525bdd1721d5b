import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applianceComplete,
  completedAppliances,
  metadataHash,
  planDeliveries,
  planRetirements,
} from '../../src/catcher/deliver/plan.js';
import type { LifecycleView } from '../../src/catcher/sync/lifecycle.js';
import type { Delivery } from '../../src/catcher/store/deliveries.js';
import type { StoredAppliance } from '../../src/catcher/store/appliances.js';
import type { InstanceRow } from '../../src/catcher/store/instances.js';

/** The delivery plan is pure: instances, delivery records and `now` in, actions out. */

const NOW = new Date('2025-06-01T12:00:00Z');
const HOUR = 3600_000;

function instance(id: number, over: Partial<InstanceRow> = {}): InstanceRow {
  return {
    id,
    subscriptionId: 'sub',
    identifier: `image-${id}`,
    sha512: 'a'.repeat(128),
    size: 10,
    version: '1',
    uri: `https://example.org/${id}.img`,
    entry: { 'dc:title': `image ${id}` },
    current: true,
    state: 'cached',
    attempts: 0,
    nextAttemptAt: null,
    lastError: null,
    cachedAt: null,
    expiredAt: null,
    expiredFile: null,
    selected: true,
    listed: true,
    unwantedReason: null,
    unwantedSince: null,
    supersededBy: null,
    appliance: null,
    ...over,
  };
}

function record(inst: InstanceRow, over: Partial<Delivery> = {}): Delivery {
  return {
    instanceId: inst.id,
    backend: 'glance',
    state: 'delivered',
    refs: [`ref-${inst.id}`],
    metadataSha256: metadataHash(inst),
    attempts: 0,
    nextAttemptAt: null,
    lastError: null,
    updatedAt: NOW.toISOString(),
    ...over,
  };
}

/** A lifecycle view over in-memory instances and delivery records. */
function view(
  current: InstanceRow[],
  delivered: Set<number>,
  over: Partial<LifecycleView> = {},
): LifecycleView {
  return {
    now: NOW,
    graceMs: 24 * HOUR,
    deliveryBackends: ['glance'],
    current: (sub, id) => current.find((i) => i.subscriptionId === sub && i.identifier === id),
    deliveredOn: (instanceId) => delivered.has(instanceId),
    applianceAvailableOn: () => false,
    ...over,
  };
}

const actions = (plan: { action: string; inst: InstanceRow }[]) =>
  plan.map((p) => `${p.action} ${p.inst.id}`);

describe('appliance completeness', () => {
  const cached = (m: InstanceRow) => m.state === 'cached';

  it('an image in no listed appliance stands alone', () => {
    assert.equal(applianceComplete(undefined, cached), true);
  });

  it('is complete when every member passes', () => {
    assert.equal(applianceComplete([instance(1), instance(2)], cached), true);
  });

  it('is incomplete when a member fails, or the list does not name it now', () => {
    assert.equal(applianceComplete([instance(1), instance(2, { state: 'verified' })], cached), false);
    assert.equal(applianceComplete([instance(1), undefined], cached), false);
  });
});

describe('planDeliveries', () => {
  it('delivers a cached image the backend does not hold, keeping its metadata hash', () => {
    const inst = instance(1);
    const plan = planDeliveries([{ inst, record: undefined, members: undefined }], NOW);
    assert.deepEqual(actions(plan), ['deliver 1']);
    assert.equal(plan[0]?.metadataSha256, metadataHash(inst));
  });

  it('delivers again what the backend deprecated or retired', () => {
    const a = instance(1);
    const b = instance(2);
    const plan = planDeliveries(
      [
        { inst: a, record: record(a, { state: 'deprecated' }), members: undefined },
        { inst: b, record: record(b, { state: 'retired', refs: [] }), members: undefined },
      ],
      NOW,
    );
    assert.deepEqual(actions(plan), ['deliver 1', 'deliver 2']);
  });

  it('leaves a delivered image alone, and updates it when its metadata changed', () => {
    const same = instance(1);
    const changed = instance(2);
    const plan = planDeliveries(
      [
        { inst: same, record: record(same), members: undefined },
        { inst: changed, record: record(changed, { metadataSha256: 'old' }), members: undefined },
      ],
      NOW,
    );
    assert.deepEqual(actions(plan), ['update 2']);
    assert.equal(plan[0]?.metadataSha256, metadataHash(changed));
  });

  it('waits for the retry time of a failed attempt', () => {
    const inst = instance(1);
    const later = new Date(NOW.getTime() + 60_000).toISOString();
    const failed = record(inst, { state: 'pending', nextAttemptAt: later });
    assert.deepEqual(planDeliveries([{ inst, record: failed, members: undefined }], NOW), []);
    const due = record(inst, { state: 'pending', nextAttemptAt: NOW.toISOString() });
    assert.deepEqual(actions(planDeliveries([{ inst, record: due, members: undefined }], NOW)), [
      'deliver 1',
    ]);
  });

  it('delivers an appliance only once all its members are cached', () => {
    const a = instance(1, { appliance: 'app' });
    const b = instance(2, { appliance: 'app', state: 'verified' });
    assert.deepEqual(planDeliveries([{ inst: a, record: undefined, members: [a, b] }], NOW), []);
    const bCached = { ...b, state: 'cached' as const };
    const plan = planDeliveries([{ inst: a, record: undefined, members: [a, bCached] }], NOW);
    assert.deepEqual(actions(plan), ['deliver 1']);
  });
});

describe('completedAppliances', () => {
  const appliance = (identifier: string): StoredAppliance => ({
    subscriptionId: 'sub',
    identifier,
    version: '1',
    title: identifier,
    listed: true,
    supersedes: [],
    members: [],
  });

  it('names the appliances whose every member is delivered', () => {
    const [a, b, c] = [instance(1), instance(2), instance(3)];
    const done = completedAppliances(
      [
        { appliance: appliance('full'), members: [a, b] },
        { appliance: appliance('partial'), members: [a, c] },
        { appliance: appliance('unlisted-member'), members: [a, undefined] },
      ],
      new Set([1, 2]),
    );
    assert.deepEqual(
      done.map((x) => x.identifier),
      ['full'],
    );
  });
});

describe('planRetirements', () => {
  it('deletes a deselected image at once', () => {
    const inst = instance(1, {
      selected: false,
      unwantedReason: 'deselected',
      unwantedSince: NOW.toISOString(),
    });
    const plan = planRetirements([{ inst, record: record(inst) }], 'glance', view([inst], new Set([1])));
    assert.deepEqual(actions(plan), ['retire 1']);
    assert.equal(plan[0]?.metadataSha256, metadataHash(inst), 'the record keeps its metadata hash');
  });

  it('hides a removed image during the grace period, then deletes it', () => {
    const since = new Date(NOW.getTime() - HOUR).toISOString();
    const inst = instance(1, { listed: false, unwantedReason: 'removed', unwantedSince: since });
    const held = [{ inst, record: record(inst) }];
    assert.deepEqual(actions(planRetirements(held, 'glance', view([inst], new Set([1])))), ['deprecate 1']);
    const later = view([inst], new Set([1]), { now: new Date(NOW.getTime() + 24 * HOUR) });
    assert.deepEqual(actions(planRetirements(held, 'glance', later)), ['retire 1']);
  });

  it('does not hide twice what is already deprecated', () => {
    const inst = instance(1, { listed: false, unwantedReason: 'removed', unwantedSince: NOW.toISOString() });
    const held = [{ inst, record: record(inst, { state: 'deprecated' }) }];
    assert.deepEqual(planRetirements(held, 'glance', view([inst], new Set())), []);
  });

  it('replaces old bytes only once the new bytes are delivered (make before break)', () => {
    const old = instance(1, { current: false });
    const next = instance(2, { identifier: old.identifier });
    const held = [{ inst: old, record: record(old) }];
    assert.deepEqual(planRetirements(held, 'glance', view([next], new Set([1]))), []);
    assert.deepEqual(actions(planRetirements(held, 'glance', view([next], new Set([1, 2])))), ['retire 1']);
  });

  it('keeps a superseded image past the grace period until its successor is delivered', () => {
    const since = new Date(NOW.getTime() - 48 * HOUR).toISOString();
    const old = instance(1, { unwantedReason: 'superseded', unwantedSince: since, supersededBy: 'image-2' });
    const successor = instance(2);
    const held = [{ inst: old, record: record(old) }];
    // Not even hidden: until the successor is usable the VO keeps seeing the old image.
    const waiting = planRetirements(held, 'glance', view([old, successor], new Set([1])));
    assert.deepEqual(actions(waiting), []);
    const ready = planRetirements(held, 'glance', view([old, successor], new Set([1, 2])));
    assert.deepEqual(actions(ready), ['retire 1']);
  });

  it('waits for the retry time of a failed attempt', () => {
    const inst = instance(1, { selected: false, unwantedReason: 'deselected' });
    const later = new Date(NOW.getTime() + 60_000).toISOString();
    const held = [{ inst, record: record(inst, { nextAttemptAt: later }) }];
    assert.deepEqual(planRetirements(held, 'glance', view([inst], new Set([1]))), []);
  });
});
