import type { Db } from '../../shared/db.js';
import type { Backend } from '../backends/types.js';
import { heldBackReason, type Routing } from '../backends/routing.js';
import { listSubscriptions } from '../store/subscriptions.js';
import { delivery } from '../store/deliveries.js';
import { applianceMembers } from '../store/appliances.js';
import { heldBy, heldButUnwanted, wantedInstances, type InstanceRow } from '../store/instances.js';
import type { LifecycleView } from '../sync/lifecycle.js';
import type { RunContext } from '../sync/run-context.js';
import { attemptDue, planDeliveries, planRetirements, type PlannedAction } from './plan.js';

/**
 * Routing applied to the store (issue 16): for one run, why each backend does not take an
 * image (undefined: it does), from the image's subscription and effective VO.
 */
export type RouteCheck = (backend: Routed, inst: InstanceRow) => string | undefined;

/** A delivery backend, or its configuration block: a name and what it takes. */
export interface Routed {
  name: string;
  routing?: Routing | undefined;
}

export function routeCheck(db: Db, voOf: (subscriptionId: string) => string | undefined): RouteCheck {
  const urls = new Map(listSubscriptions(db).map((s) => [s.id, s.url]));
  return (backend, inst) =>
    heldBackReason(backend.name, backend.routing, {
      vo: voOf(inst.subscriptionId),
      subscription: { id: inst.subscriptionId, url: urls.get(inst.subscriptionId) ?? '' },
    });
}

export interface HeldBack {
  backend: string;
  identifier: string;
  subscription: string;
  reason: string;
}

/** Wanted images each backend does not take, and why (status, sync report). */
export function heldBackImages(
  db: Db,
  backends: readonly Routed[],
  voOf: (subscriptionId: string) => string | undefined,
): HeldBack[] {
  // Nothing is routed: no backend holds anything back (status is built often).
  if (backends.every((b) => b.routing === undefined)) return [];
  const check = routeCheck(db, voOf);
  const wanted = wantedInstances(db);
  return backends.flatMap((backend) =>
    wanted.flatMap((inst) => {
      const reason = check(backend, inst);
      return reason === undefined
        ? []
        : [{ backend: backend.name, identifier: inst.identifier, subscription: inst.subscriptionId, reason }];
    }),
  );
}

/** What the backend should receive: cached, wanted images it takes (routing). */
export function deliveriesFor(run: RunContext, backend: Backend, routes: RouteCheck): PlannedAction[] {
  const { db } = run;
  const cached = wantedInstances(db, 'cached')
    .filter((inst) => routes(backend, inst) === undefined)
    .map((inst: InstanceRow) => ({
      inst,
      record: delivery(db, inst.id, backend.name),
      members: applianceMembers(db, inst),
    }));
  return planDeliveries(cached, run.now);
}

/**
 * What leaves the backend: unwanted images when due (make before break), and at once any
 * image it holds but no longer takes (its routing changed): it may not stay there.
 */
export function retirementsFor(
  run: RunContext,
  backend: Backend,
  routes: RouteCheck,
  view: LifecycleView,
): PlannedAction[] {
  const { db } = run;
  const withRecord = (insts: InstanceRow[]) =>
    insts.flatMap((inst) => {
      const record = delivery(db, inst.id, backend.name);
      return record === undefined ? [] : [{ inst, record }];
    });
  const outside = withRecord(heldBy(db, backend.name).filter((inst) => routes(backend, inst) !== undefined));
  const gone = new Set(outside.map((h) => h.inst.id));
  const held = withRecord(heldButUnwanted(db, backend.name)).filter((h) => !gone.has(h.inst.id));
  return [
    ...planRetirements(held, backend.name, view),
    ...outside
      .filter((h) => attemptDue(h.record, run.now))
      .map((h) => ({
        action: 'retire' as const,
        inst: h.inst,
        record: h.record,
        metadataSha256: h.record.metadataSha256,
      })),
  ];
}
