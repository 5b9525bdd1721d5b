import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { prepared, type Db } from '../shared/db.js';
import { asVmiError } from '../shared/errors.js';
import { prepareDisks } from '../shared/format/prepare.js';
import type { Backend, BackendContext, ImageRecord } from './backends/types.js';
import type { CacheLayout } from './cache.js';
import { retirementDue, type LifecycleView } from './lifecycle.js';
import { entryKey } from './reconcile.js';
import { delivery, markApplianceAvailable, recordDeliveryError, saveDelivery } from './store/deliveries.js';
import { appliancesOf, instances, type InstanceRow } from './store/images.js';

/**
 * Step 10, last part: each delivery backend receives what is cached and wanted, gets
 * metadata updates, hides what became unwanted, and deletes it when it is due. Each
 * backend has its own delivery records: one failing backend blocks no other.
 */

export interface DeliverPhase {
  db: Db;
  cache: CacheLayout;
  log: Logger;
  now: Date;
  view: LifecycleView;
  voOf: (subscriptionId: string) => string | undefined;
  retryMs: number;
  signal?: AbortSignal | undefined;
}

export interface DeliveryOutcome {
  backend: string;
  identifier: string;
  action: 'deliver' | 'update' | 'deprecate' | 'retire';
  ok: boolean;
  code?: string;
  message?: string;
}

function metadataHash(inst: InstanceRow): string {
  return createHash('sha256').update(entryKey(inst.entry)).digest('hex');
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
  phase: DeliverPhase,
  backend: Backend,
  fn: (ctx: BackendContext) => Promise<T>,
): Promise<T> {
  const workDir = await mkdtemp(join(phase.cache.partialDir, `.work-${backend.name}-`));
  try {
    return await fn({
      log: phase.log.child({ backend: backend.name }),
      signal: phase.signal ?? new AbortController().signal,
      now: phase.now,
      workDir,
    });
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function due(inst: InstanceRow, backend: string, phase: DeliverPhase): boolean {
  const d = delivery(phase.db, inst.id, backend);
  return d?.nextAttemptAt == null || new Date(d.nextAttemptAt).getTime() <= phase.now.getTime();
}

/** Appliance members are delivered together: all members must be cached first. */
function applianceCached(phase: DeliverPhase, inst: InstanceRow): boolean {
  if (inst.appliance === null) return true;
  const appliance = appliancesOf(phase.db, inst.subscriptionId).find(
    (a) => a.identifier === inst.appliance && a.listed,
  );
  if (appliance === undefined) return true;
  return appliance.members.every(
    (m) => phase.view.current(inst.subscriptionId, m.identifier)?.state === 'cached',
  );
}

async function act(
  phase: DeliverPhase,
  backend: Backend,
  inst: InstanceRow,
  action: DeliveryOutcome['action'],
  fn: (ctx: BackendContext, image: ImageRecord) => Promise<void>,
): Promise<DeliveryOutcome> {
  const image = imageRecord(inst, phase.voOf(inst.subscriptionId));
  try {
    await withContext(phase, backend, (ctx) => fn(ctx, image));
    return { backend: backend.name, identifier: inst.identifier, action, ok: true };
  } catch (err) {
    const error = asVmiError(err, 'BACKEND_FAILED');
    recordDeliveryError(
      phase.db,
      inst.id,
      backend.name,
      error,
      new Date(phase.now.getTime() + phase.retryMs),
      phase.now,
    );
    phase.log.warn(
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

async function deliverWanted(phase: DeliverPhase, backend: Backend): Promise<DeliveryOutcome[]> {
  const out: DeliveryOutcome[] = [];
  for (const inst of instances(
    phase.db,
    `i.state = 'cached' AND i.current = 1 AND m.unwanted_reason IS NULL`,
  )) {
    const record = delivery(phase.db, inst.id, backend.name);
    const hash = metadataHash(inst);
    if (record?.state === 'delivered') {
      if (record.metadataSha256 === hash || !due(inst, backend.name, phase)) continue;
      out.push(
        await act(phase, backend, inst, 'update', async (ctx, image) => {
          await backend.updateMetadata(image, record.refs, ctx);
          saveDelivery(
            phase.db,
            {
              instanceId: inst.id,
              backend: backend.name,
              state: 'delivered',
              refs: record.refs,
              metadataSha256: hash,
            },
            phase.now,
          );
        }),
      );
      continue;
    }
    if (!due(inst, backend.name, phase) || !applianceCached(phase, inst)) continue;
    out.push(
      await act(phase, backend, inst, 'deliver', async (ctx, image) => {
        const file = phase.cache.cached(inst.identifier);
        const disks =
          backend.input.kind === 'disks'
            ? await prepareDisks(file, backend.input.formats, ctx.workDir, ctx.signal)
            : [];
        const { refs } = await backend.deliver(image, { file, disks }, ctx);
        saveDelivery(
          phase.db,
          { instanceId: inst.id, backend: backend.name, state: 'delivered', refs, metadataSha256: hash },
          phase.now,
        );
      }),
    );
  }
  return out;
}

async function retireUnwanted(phase: DeliverPhase, backend: Backend): Promise<DeliveryOutcome[]> {
  const out: DeliveryOutcome[] = [];
  const held = instances(
    phase.db,
    `EXISTS (SELECT 1 FROM deliveries d WHERE d.instance_id = i.id AND d.backend = ? AND d.state IN ('delivered', 'deprecated'))
     AND (i.current = 0 OR m.unwanted_reason IS NOT NULL OR i.state IN ('expired', 'purged'))`,
    backend.name,
  );
  for (const inst of held) {
    const record = delivery(phase.db, inst.id, backend.name);
    if (record === undefined || !due(inst, backend.name, phase)) continue;
    if (retirementDue(inst, phase.view, backend.name)) {
      out.push(
        await act(phase, backend, inst, 'retire', async (ctx, image) => {
          const { done } = await backend.retire(image, record.refs, ctx);
          saveDelivery(
            phase.db,
            {
              instanceId: inst.id,
              backend: backend.name,
              state: done ? 'retired' : 'deprecated',
              refs: done ? [] : record.refs,
              metadataSha256: record.metadataSha256,
            },
            phase.now,
          );
          if (!done)
            ctx.log.info(
              { image: inst.identifier },
              'image still in use; deactivated, deletion retried on a later run',
            );
        }),
      );
    } else if (record.state === 'delivered' && inst.current) {
      out.push(
        await act(phase, backend, inst, 'deprecate', async (ctx, image) => {
          await backend.deprecate(image, record.refs, ctx);
          saveDelivery(
            phase.db,
            {
              instanceId: inst.id,
              backend: backend.name,
              state: 'deprecated',
              refs: record.refs,
              metadataSha256: record.metadataSha256,
            },
            phase.now,
          );
        }),
      );
    }
  }
  return out;
}

/** Records appliance versions whose every member is delivered to the backend. */
function announceAppliances(phase: DeliverPhase, backend: Backend): void {
  const subs = prepared(phase.db, 'SELECT id FROM subscriptions').all() as { id: string }[];
  for (const { id } of subs) {
    for (const appliance of appliancesOf(phase.db, id).filter((a) => a.listed)) {
      const complete = appliance.members.every((m) => {
        const inst = phase.view.current(id, m.identifier);
        return inst !== undefined && phase.view.deliveredOn(inst.id, backend.name);
      });
      if (complete)
        markApplianceAvailable(
          phase.db,
          id,
          appliance.identifier,
          appliance.version,
          backend.name,
          phase.now,
        );
    }
  }
}

export async function runDeliverPhase(
  phase: DeliverPhase,
  backends: readonly Backend[],
): Promise<DeliveryOutcome[]> {
  const outcomes: DeliveryOutcome[] = [];
  for (const backend of backends) {
    outcomes.push(...(await deliverWanted(phase, backend)));
    announceAppliances(phase, backend);
    outcomes.push(...(await retireUnwanted(phase, backend)));
  }
  return outcomes;
}
