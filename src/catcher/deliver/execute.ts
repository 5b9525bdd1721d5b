import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { asVmiError } from '../../shared/errors.js';
import { prepareDisks } from '../../shared/format/prepare.js';
import type { Backend, BackendContext, ImageRecord } from '../backends/types.js';
import type { CacheLayout } from '../cache/layout.js';
import {
  completedAppliances,
  planDeliveries,
  planRetirements,
  type DeliveryAction,
  type PlannedAction,
} from './plan.js';
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
import { applianceMembers, listedAppliances } from '../store/images.js';
import { currentInstance, heldButUnwanted, wantedInstances, type InstanceRow } from '../store/instances.js';

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

export interface DeliveryOutcome {
  backend: string;
  identifier: string;
  action: DeliveryAction;
  ok: boolean;
  code?: string;
  message?: string;
}

export function imageRecord(inst: InstanceRow, vo: string | undefined): ImageRecord {
  const text = (key: string) => {
    const value = inst.entry[key];
    return typeof value === 'string' ? value : '';
  };
  const supersedes = inst.entry['vmi:supersedes'];
  return {
    identifier: inst.identifier,
    listIdentifier: inst.subscriptionId,
    vo,
    title: text('dc:title'),
    description: text('dc:description'),
    version: inst.version,
    sha512: inst.sha512,
    size: inst.size,
    declaredFormat: text('hv:format') === '' ? undefined : text('hv:format'),
    appliance: inst.appliance ?? undefined,
    supersedes: Array.isArray(supersedes) ? supersedes.filter((s): s is string => typeof s === 'string') : [],
    entry: inst.entry,
  };
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

/** The backend operation of a planned action; resolves to the record to store after it. */
async function perform(
  backend: Backend,
  step: PlannedAction,
  image: ImageRecord,
  cache: CacheLayout,
  ctx: BackendContext,
): Promise<{ state: DeliveryState; refs: string[] }> {
  const refs = step.record?.refs ?? [];
  switch (step.action) {
    case 'deliver': {
      const file = cache.cached(step.inst.identifier);
      const disks =
        backend.input.kind === 'disks'
          ? await prepareDisks(file, backend.input.formats, ctx.workDir, ctx.signal)
          : [];
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
  options: DeliverOptions,
  backend: Backend,
  step: PlannedAction,
): Promise<DeliveryOutcome> {
  const { inst, action } = step;
  const image = imageRecord(inst, options.voOf(inst.subscriptionId));
  try {
    await withContext(run, options, backend, async (ctx) => {
      const { state, refs } = await perform(backend, step, image, options.cache, ctx);
      const record = { instanceId: inst.id, backend: backend.name, state, refs };
      saveDelivery(run.db, { ...record, metadataSha256: step.metadataSha256 }, run.now);
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

async function executeAll(
  run: RunContext,
  options: DeliverOptions,
  backend: Backend,
  plan: readonly PlannedAction[],
): Promise<DeliveryOutcome[]> {
  const outcomes: DeliveryOutcome[] = [];
  for (const step of plan) outcomes.push(await execute(run, options, backend, step));
  return outcomes;
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
  options: DeliverOptions,
): Promise<DeliveryOutcome[]> {
  const { db } = run;
  const outcomes: DeliveryOutcome[] = [];
  for (const backend of backends) {
    const cached = wantedInstances(db, 'cached').map((inst: InstanceRow) => ({
      inst,
      record: delivery(db, inst.id, backend.name),
      members: applianceMembers(db, inst),
    }));
    outcomes.push(...(await executeAll(run, options, backend, planDeliveries(cached, run.now))));
    announceAppliances(run, backend);
    const held = heldButUnwanted(db, backend.name).flatMap((inst) => {
      const record = delivery(db, inst.id, backend.name);
      return record === undefined ? [] : [{ inst, record }];
    });
    outcomes.push(
      ...(await executeAll(run, options, backend, planRetirements(held, backend.name, options.view))),
    );
  }
  return outcomes;
}
