import type { Logger } from 'pino';
import type { Db } from '../../shared/db.js';
import type { LifecycleView } from './lifecycle.js';
import { applianceAvailableOn, delivery } from '../store/deliveries.js';
import { currentInstance } from '../store/instances.js';

/**
 * What every phase of one sync run shares: the store, the logger, the run's one `now`
 * (SPEC.md section 5 step 1) and the signal that stops it. Each phase takes this and
 * the few other things it needs.
 */
export interface RunContext {
  db: Db;
  log: Logger;
  now: Date;
  signal?: AbortSignal | undefined;
}

/** The lifecycle rules' view of the store, read as the run goes. */
export function lifecycleView(
  run: RunContext,
  graceMs: number,
  deliveryBackends: readonly string[],
): LifecycleView {
  const { db } = run;
  return {
    now: run.now,
    graceMs,
    deliveryBackends,
    current: (sub, id) => currentInstance(db, sub, id),
    deliveredOn: (instanceId, backend) => delivery(db, instanceId, backend)?.state === 'delivered',
    applianceAvailableOn: (sub, appliance, backend) => applianceAvailableOn(db, sub, appliance, backend),
  };
}
