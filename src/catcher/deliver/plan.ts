import { createHash } from 'node:crypto';
import { hidingDue, retirementDue, type LifecycleView } from '../sync/lifecycle.js';
import { entryKey } from '../sync/reconcile.js';
import type { Delivery } from '../store/deliveries.js';
import type { StoredAppliance } from '../store/appliances.js';
import type { InstanceRow } from '../store/instances.js';

/**
 * The delivery plan (step 10, last part): which image goes to which backend and what leaves
 * it. Pure: the stored instances, a backend's delivery records and `now` in, actions out;
 * deliver.ts carries them out and records the results.
 */

export type DeliveryAction = 'deliver' | 'update' | 'deprecate' | 'retire';

export interface PlannedAction {
  action: DeliveryAction;
  inst: InstanceRow;
  /** The backend's record of the instance (absent before its first delivery). */
  record: Delivery | undefined;
  /** What the backend holds once the action is done (recorded to notice metadata changes). */
  metadataSha256: string | null;
}

/**
 * Whether every member of an appliance passes `ready`. `members` are the current instances
 * of the members of the image's listed appliance (undefined: a member the list does not
 * name now), or undefined when the image belongs to no listed appliance: then it stands alone.
 */
export function applianceComplete(
  members: readonly (InstanceRow | undefined)[] | undefined,
  ready: (member: InstanceRow) => boolean,
): boolean {
  return members === undefined || members.every((m) => m !== undefined && ready(m));
}

/** The text a backend's metadata is made of, hashed: a change means an update. */
export function metadataHash(inst: InstanceRow): string {
  return createHash('sha256').update(entryKey(inst.entry)).digest('hex');
}

/** No failed attempt waits for its retry time. */
export function attemptDue(record: Delivery | undefined, now: Date): boolean {
  return record?.nextAttemptAt == null || new Date(record.nextAttemptAt).getTime() <= now.getTime();
}

export interface CachedImage {
  /** A cached, current, wanted instance. */
  inst: InstanceRow;
  record: Delivery | undefined;
  /** See applianceComplete. */
  members: readonly (InstanceRow | undefined)[] | undefined;
}

/**
 * What a backend should receive: a cached image it does not hold yet (once every member of
 * its appliance is cached: appliances arrive together), or new metadata for one it holds.
 */
export function planDeliveries(images: readonly CachedImage[], now: Date): PlannedAction[] {
  const plan: PlannedAction[] = [];
  for (const { inst, record, members } of images) {
    const hash = metadataHash(inst);
    if (!attemptDue(record, now)) continue;
    if (record?.state === 'delivered') {
      if (record.metadataSha256 !== hash) plan.push({ action: 'update', inst, record, metadataSha256: hash });
      continue;
    }
    if (!applianceComplete(members, (m) => m.state === 'cached')) continue;
    plan.push({ action: 'deliver', inst, record, metadataSha256: hash });
  }
  return plan;
}

/** The listed appliances whose every member is delivered to the backend. */
export function completedAppliances(
  appliances: readonly { appliance: StoredAppliance; members: readonly (InstanceRow | undefined)[] }[],
  delivered: ReadonlySet<number>,
): StoredAppliance[] {
  return appliances
    .filter((a) => applianceComplete(a.members, (m) => delivered.has(m.id)))
    .map((a) => a.appliance);
}

/**
 * What leaves a backend: an instance it still holds that is no longer wanted is deleted
 * when its retirement is due (lifecycle.ts: make before break), and hidden (deprecated)
 * until then while its list still names it, a superseded one once its successor is usable.
 */
export function planRetirements(
  held: readonly { inst: InstanceRow; record: Delivery }[],
  backend: string,
  view: LifecycleView,
): PlannedAction[] {
  const plan: PlannedAction[] = [];
  for (const { inst, record } of held) {
    if (!attemptDue(record, view.now)) continue;
    const keep = record.metadataSha256;
    // Staged and never released: nobody could use it, so nothing to wait for.
    if (record.state === 'pending' || retirementDue(inst, view, backend))
      plan.push({ action: 'retire', inst, record, metadataSha256: keep });
    else if (record.state === 'delivered' && inst.current && hidingDue(inst, view, backend))
      plan.push({ action: 'deprecate', inst, record, metadataSha256: keep });
  }
  return plan;
}
