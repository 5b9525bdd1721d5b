import type { InstanceRow } from '../store/instances.js';

/**
 * When an instance may leave the cache or a backend (SPEC.md sections 2.2 and 7): make
 * before break. A deselected image goes at once; a removed, expired or lapsed one after
 * the grace period; a superseded one after the grace period and only once its successor
 * (or the successor's whole appliance version) is in place; bytes replaced in place once
 * the new bytes are in place.
 */
export interface LifecycleView {
  now: Date;
  graceMs: number;
  deliveryBackends: readonly string[];
  current(subscriptionId: string, identifier: string): InstanceRow | undefined;
  deliveredOn(instanceId: number, backend: string): boolean;
  applianceAvailableOn(subscriptionId: string, appliance: string, backend: string): boolean;
}

function inPlace(inst: InstanceRow, view: LifecycleView, backend: string | undefined): boolean {
  const next = view.current(inst.subscriptionId, inst.identifier);
  if (next === undefined || next.id === inst.id) return false;
  if (backend !== undefined) return view.deliveredOn(next.id, backend);
  return next.state === 'verified' || next.state === 'cached';
}

function successorReady(successor: InstanceRow, view: LifecycleView, backend: string | undefined): boolean {
  const readyOn = (b: string) =>
    view.deliveredOn(successor.id, b) &&
    (successor.appliance === null ||
      view.applianceAvailableOn(successor.subscriptionId, successor.appliance, b));
  if (backend !== undefined) return readyOn(backend);
  return successor.state === 'cached' && view.deliveryBackends.every(readyOn);
}

/** Whether `inst` may be retired now: from the cache (`backend` undefined) or from `backend`. */
export function retirementDue(inst: InstanceRow, view: LifecycleView, backend?: string): boolean {
  if (!inst.current) return inPlace(inst, view, backend) || inst.unwantedReason !== null;
  const reason = inst.unwantedReason;
  if (reason === null) return false;
  if (reason === 'deselected') return true;
  const since = inst.unwantedSince === null ? view.now.getTime() : new Date(inst.unwantedSince).getTime();
  if (view.now.getTime() - since < view.graceMs) return false;
  if (reason !== 'superseded' || inst.supersededBy === null) return true;
  const successor = view.current(inst.subscriptionId, inst.supersededBy);
  // A successor that is not wanted here (deselected, expired) cannot hold a predecessor back.
  if (successor === undefined || successor.unwantedReason !== null) return true;
  return successorReady(successor, view, backend);
}

/**
 * Whether a still-listed image that is no longer wanted should be hidden on `backend` now:
 * at once when removed or expired, but a superseded one only once its successor (or the
 * successor's whole appliance version) is usable there, so that the VO always sees one.
 */
export function hidingDue(inst: InstanceRow, view: LifecycleView, backend: string): boolean {
  if (inst.unwantedReason !== 'superseded' || inst.supersededBy === null) return true;
  const successor = view.current(inst.subscriptionId, inst.supersededBy);
  if (successor === undefined || successor.unwantedReason !== null) return true;
  return successorReady(successor, view, backend);
}
