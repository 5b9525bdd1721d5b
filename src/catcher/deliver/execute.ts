import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { asVmiError } from '../../shared/errors.js';
import { mapLimited } from '../../shared/limited.js';
import type { Backend, BackendContext, ImageRecord } from '../backends/types.js';
import type { CacheLayout } from '../cache/layout.js';
import { DiskPreparer } from './disks.js';
import { imageRecord } from './record.js';
import { completedAppliances, type DeliveryAction, type PlannedAction } from './plan.js';
import type { LifecycleView } from '../sync/lifecycle.js';
import type { RunContext } from '../sync/run-context.js';
import {
  allDeliveries,
  delivery,
  markApplianceAvailable,
  recordDeliveryError,
  saveDelivery,
  type DeliveryState,
} from '../store/deliveries.js';
import { listedAppliances } from '../store/appliances.js';
import { currentInstance } from '../store/instances.js';
import { deliveriesFor, retirementsFor, routeCheck } from './routes.js';

/**
 * Step 10, last part: carries out the delivery plan (deliveryplan.ts) on each delivery
 * backend: what is cached and wanted is delivered, metadata updated, what became unwanted
 * hidden and deleted when due. Each backend has its own delivery records: one failing
 * backend blocks no other.
 */

export interface DeliverOptions {
  cache: CacheLayout;
  view: LifecycleView;
  /** subscription -> its effective VO (`ad:vo`), for the backends' image records. */
  voOf: (subscriptionId: string) => string | undefined;
  /** Wait before a failed backend operation is tried again. */
  retryMs: number;
}

/** The options of one run of deliveries: disks prepared once, shared by every backend. */
interface RunOptions extends DeliverOptions {
  disks: DiskPreparer;
}

export interface DeliveryOutcome {
  backend: string;
  identifier: string;
  action: DeliveryAction;
  ok: boolean;
  code?: string;
  message?: string;
}

async function withContext<T>(
  run: RunContext,
  options: DeliverOptions,
  backend: Backend,
  fn: (ctx: BackendContext) => Promise<T>,
): Promise<T> {
  const workDir = await mkdtemp(join(options.cache.partialDir, `.work-${backend.name}-`));
  try {
    return await fn({
      log: run.log.child({ backend: backend.name }),
      signal: run.signal ?? new AbortController().signal,
      now: run.now,
      workDir,
    });
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The backend operation of a planned action; resolves to the record to store after it. A
 * staged delivery (an appliance member waiting for the others) stays `pending`, with refs.
 */
async function perform(
  backend: Backend,
  step: PlannedAction,
  image: ImageRecord,
  options: RunOptions,
  ctx: BackendContext,
  stage: boolean,
): Promise<{ state: DeliveryState; refs: string[] }> {
  const refs = step.record?.refs ?? [];
  switch (step.action) {
    case 'deliver': {
      // Received while it downloaded, checked, hidden: released without reading the file again.
      const streamed =
        step.record?.state === 'pending' && refs.length > 0
          ? await backend.release?.(image, refs, ctx, !stage)
          : undefined;
      if (streamed !== undefined) return { state: stage ? 'pending' : 'delivered', refs: streamed.refs };
      const file = options.cache.cached(step.inst.identifier);
      const disks =
        backend.input.kind === 'disks' ? await options.disks.prepare(file, backend.input.formats) : [];
      if (stage && backend.stage !== undefined) {
        return { state: 'pending', refs: (await backend.stage(image, { file, disks }, ctx)).refs };
      }
      return { state: 'delivered', refs: (await backend.deliver(image, { file, disks }, ctx)).refs };
    }
    case 'update':
      await backend.updateMetadata(image, refs, ctx);
      return { state: 'delivered', refs };
    case 'deprecate':
      await backend.deprecate(image, refs, ctx);
      return { state: 'deprecated', refs };
    case 'retire': {
      const { done } = await backend.retire(image, refs, ctx);
      if (!done)
        ctx.log.info(
          { image: step.inst.identifier },
          'image still in use; deactivated, deletion retried on a later run',
        );
      return done ? { state: 'retired', refs: [] } : { state: 'deprecated', refs };
    }
  }
}

/** Carries out one action and records its result (or its failure, retried after `retryMs`). */
async function execute(
  run: RunContext,
  options: RunOptions,
  backend: Backend,
  step: PlannedAction,
  stage = false,
): Promise<DeliveryOutcome> {
  const { inst, action } = step;
  const image = imageRecord(inst, options.voOf(inst.subscriptionId));
  try {
    await withContext(run, options, backend, async (ctx) => {
      const { state, refs } = await perform(backend, step, image, options, ctx, stage);
      const record = { instanceId: inst.id, backend: backend.name, state, refs };
      const metadataSha256 = state === 'pending' ? null : step.metadataSha256;
      saveDelivery(run.db, { ...record, metadataSha256 }, run.now);
    });
    return { backend: backend.name, identifier: inst.identifier, action, ok: true };
  } catch (err) {
    const error = asVmiError(err, 'BACKEND_FAILED');
    const retryAt = new Date(run.now.getTime() + options.retryMs);
    recordDeliveryError(run.db, inst.id, backend.name, error, retryAt, run.now);
    run.log.warn(
      { err: error, backend: backend.name, image: inst.identifier, action },
      'backend operation failed',
    );
    return {
      backend: backend.name,
      identifier: inst.identifier,
      action,
      ok: false,
      code: error.code,
      message: error.message,
    };
  }
}

/**
 * The new members of one appliance version are staged (uploaded, checked, hidden) one by
 * one, and delivered (released) only when all are staged: a member that fails leaves none
 * of the version usable (issue 14, item 3). Alone, an image is simply delivered.
 */
async function executeGroup(
  run: RunContext,
  options: RunOptions,
  backend: Backend,
  group: readonly PlannedAction[],
): Promise<DeliveryOutcome[]> {
  const [first] = group;
  if (group.length === 1 && first !== undefined && first.inst.appliance === null)
    return [await execute(run, options, backend, first)];
  const staged: DeliveryOutcome[] = [];
  for (const step of group) staged.push(await execute(run, options, backend, step, true));
  const failed = staged.filter((o) => !o.ok);
  if (failed.length > 0) {
    run.log.warn(
      { backend: backend.name, appliance: first?.inst.appliance, failed: failed.map((o) => o.identifier) },
      'appliance members stay hidden until every member is in',
    );
    return failed;
  }
  const outcomes: DeliveryOutcome[] = [];
  for (const step of group)
    outcomes.push(await execute(run, options, backend, refreshed(run, step, backend)));
  return outcomes;
}

/** The step with the delivery record its staging wrote (refs of the staged image). */
function refreshed(run: RunContext, step: PlannedAction, backend: Backend): PlannedAction {
  return { ...step, record: delivery(run.db, step.inst.id, backend.name) };
}

/** Deliveries grouped by appliance version (when the backend can stage), `parallel` groups at once. */
async function executeAll(
  run: RunContext,
  options: RunOptions,
  backend: Backend,
  plan: readonly PlannedAction[],
): Promise<DeliveryOutcome[]> {
  const groups = new Map<string, PlannedAction[]>();
  for (const step of plan) {
    const { inst } = step;
    const together = step.action === 'deliver' && inst.appliance !== null && backend.stage !== undefined;
    const key = together ? `${inst.subscriptionId}\n${inst.appliance}` : `#${inst.id}`;
    groups.set(key, [...(groups.get(key) ?? []), step]);
  }
  const done = await mapLimited([...groups.values()], backend.parallel ?? 1, (group) =>
    executeGroup(run, options, backend, group),
  );
  return done.flat();
}

/** What interrupted operations left in the backend; a failure waits for the next run. */
async function sweep(run: RunContext, options: RunOptions, backend: Backend): Promise<void> {
  if (backend.sweep === undefined) return;
  try {
    await withContext(run, options, backend, (ctx) => backend.sweep?.(ctx) ?? Promise.resolve());
  } catch (err) {
    run.log.warn({ err, backend: backend.name }, 'could not clear what interrupted operations left');
  }
}

/** Records appliance versions whose every member is now delivered to the backend. */
function announceAppliances(run: RunContext, backend: Backend): void {
  const { db } = run;
  const delivered = new Set(
    allDeliveries(db, backend.name)
      .filter((d) => d.state === 'delivered')
      .map((d) => d.instanceId),
  );
  const appliances = listedAppliances(db).map((appliance) => ({
    appliance,
    members: appliance.members.map((m) => currentInstance(db, appliance.subscriptionId, m.identifier)),
  }));
  for (const a of completedAppliances(appliances, delivered))
    markApplianceAvailable(db, a.subscriptionId, a.identifier, a.version, backend.name, run.now);
}

/** Deliveries first, then the appliances they complete, then retirements (make before break). */
export async function runDeliveries(
  run: RunContext,
  backends: readonly Backend[],
  deliverOptions: DeliverOptions,
): Promise<DeliveryOutcome[]> {
  const options = { ...deliverOptions, disks: new DiskPreparer(deliverOptions.cache.partialDir, run.signal) };
  try {
    return await deliverEach(run, backends, options);
  } finally {
    await options.disks.close();
  }
}

async function deliverEach(
  run: RunContext,
  backends: readonly Backend[],
  options: RunOptions,
): Promise<DeliveryOutcome[]> {
  const routes = routeCheck(run.db, options.voOf);
  // Backends side by side: one slow or failing cloud delays no other.
  const perBackend = await Promise.all(
    backends.map(async (backend) => {
      const outcomes = await executeAll(run, options, backend, deliveriesFor(run, backend, routes));
      announceAppliances(run, backend);
      const leaving = retirementsFor(run, backend, routes, options.view);
      const done = [...outcomes, ...(await executeAll(run, options, backend, leaving))];
      await sweep(run, options, backend);
      return done;
    }),
  );
  return perBackend.flat();
}
