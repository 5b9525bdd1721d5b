import { randomUUID } from 'node:crypto';
import { digestFile } from '../../shared/digest.js';
import type { ExecConfig } from '../backends/config.js';
import type { CacheLayout } from './layout.js';
import { applianceComplete } from '../deliver/plan.js';
import { eventEnvironment, type CacheDirs, type EventType } from '../events/environment.js';
import { retirementDue, type LifecycleView } from '../sync/lifecycle.js';
import { runOutbox } from '../events/outbox.js';
import type { RunContext } from '../sync/run-context.js';
import { insertEvent } from '../store/outbox.js';
import { applianceMembers } from '../store/appliances.js';
import { markAnnounced } from '../store/images.js';
import {
  downloadAgain,
  instancesInState,
  markExpired,
  setInstanceState,
  unannouncedInstances,
  wantedInstances,
  type InstanceRow,
} from '../store/instances.js';

/**
 * Step 10, second part: the cache changes and vmcatcher's events, in vmcatcher's order:
 * ProcessPrefix; every ExpirePrefix/ExpirePostfix pair; every AvailablePrefix (file verified,
 * still in the partial directory) / AvailablePostfix (file in the cache) pair; ProcessPostfix.
 * Each event is written to the durable outbox in the same transaction as the state change it
 * reports, then handed to the exec backends.
 */

export interface CacheOptions {
  cache: CacheLayout;
  exec: readonly ExecConfig[];
  dirs: CacheDirs;
  view: LifecycleView;
  /** subscription -> its effective VO (`ad:vo`), for VMCATCHER_EVENT_VO. */
  voOf: (subscriptionId: string) => string | undefined;
}

export interface CacheOutcome {
  session: string;
  expired: string[];
  available: string[];
}

/**
 * One event session (ProcessPrefix to ProcessPostfix) and the cache changes made in it.
 * Opened with `openCacheSession`, closed by `updateCache`.
 */
export class CacheSession {
  readonly session = randomUUID();

  constructor(
    readonly run: RunContext,
    readonly options: CacheOptions,
  ) {}

  private record(type: EventType, inst?: InstanceRow, fileName?: string): void {
    const { run, options } = this;
    const image =
      inst === undefined
        ? undefined
        : {
            entry: inst.entry,
            fileName,
            listIdentifier: inst.subscriptionId,
            vo: options.voOf(inst.subscriptionId),
          };
    insertEvent(
      run.db,
      options.exec.map((e) => e.name),
      {
        session: this.session,
        type,
        identifier: inst?.identifier ?? null,
        instanceId: inst?.id ?? null,
        env: eventEnvironment(type, this.session, options.dirs, image),
      },
      run.now,
    );
  }

  /** Records the event with the state change it reports, then hands it to the hooks. */
  async emit(type: EventType, inst?: InstanceRow, fileName?: string, change?: () => void): Promise<void> {
    const { run } = this;
    run.db.transaction(() => {
      change?.();
      this.record(type, inst, fileName);
    })();
    // Failures stay in the outbox.
    await runOutbox(run.db, this.options.exec, { now: run.now, log: run.log, signal: run.signal });
  }
}

async function expire(s: CacheSession, inst: InstanceRow): Promise<void> {
  const { db, now } = s.run;
  await s.emit('ExpirePrefix', inst, inst.identifier);
  const name = await s.options.cache.expire(inst.identifier, now);
  await s.emit('ExpirePostfix', inst, name ?? inst.identifier, () =>
    markExpired(db, inst.id, name ?? null, now),
  );
}

/** Whether `path` holds the image's bytes (used where no verified file of ours is at hand). */
async function holds(cache: CacheLayout, path: string, inst: InstanceRow): Promise<boolean> {
  return (await cache.exists(path)) && (await digestFile(path)).sha512 === inst.sha512;
}

async function makeAvailable(s: CacheSession, inst: InstanceRow): Promise<boolean> {
  const { db, now } = s.run;
  const { cache } = s.options;
  // The file the download phase wrote and hashed (cache.ts); a verified file left under
  // vmcatcher's name by a version before issue 12 is hashed again before it is trusted.
  let file = await cache.verifiedOf(inst);
  if (file === undefined && (await holds(cache, cache.exposed(inst.identifier), inst))) {
    file = cache.exposed(inst.identifier);
  }
  if (file === undefined) {
    // A crash after the rename into the cache: check the file there before believing it.
    if (await holds(cache, cache.cached(inst.identifier), inst)) {
      await s.emit('AvailablePostfix', inst, inst.identifier, () =>
        setInstanceState(db, inst.id, 'cached', now),
      );
      return true;
    }
    setInstanceState(db, inst.id, 'pending', now);
    return false;
  }
  if (file !== cache.exposed(inst.identifier)) await cache.expose(file, inst.identifier);
  await s.emit('AvailablePrefix', inst, inst.identifier);
  await cache.promote(file, inst.identifier);
  await s.emit('AvailablePostfix', inst, inst.identifier, () => setInstanceState(db, inst.id, 'cached', now));
  return true;
}

/**
 * Whether the cache may handle this image's files. The download phase refuses identifiers
 * it cannot map (IMAGE_IDENTIFIER_UNSAFE), so only an image cached by a version with laxer
 * rules lands here; it is left where it is, with a warning, and the phase goes on.
 */
function mappable(s: CacheSession, inst: InstanceRow): boolean {
  try {
    s.options.cache.check(inst.identifier);
    return true;
  } catch (err) {
    s.run.log.warn(
      { image: inst.identifier, err },
      'image identifier cannot be mapped; its files are left alone',
    );
    return false;
  }
}

/** Opens the session: ProcessPrefix, then SubscriptionImageNew for images not announced yet. */
export async function openCacheSession(run: RunContext, options: CacheOptions): Promise<CacheSession> {
  const s = new CacheSession(run, options);
  await s.emit('ProcessPrefix');
  for (const inst of unannouncedInstances(run.db)) {
    await s.emit('SubscriptionImageNew', inst, undefined, () =>
      markAnnounced(run.db, inst.subscriptionId, inst.identifier),
    );
  }
  return s;
}

/**
 * --verify-cache: re-hashes cached files; a damaged or missing one is expired and made
 * pending again. Returns them: those still wanted are for the download phase.
 */
export async function verifyCachedFiles(s: CacheSession): Promise<InstanceRow[]> {
  const { cache } = s.options;
  const damaged: InstanceRow[] = [];
  for (const inst of instancesInState(s.run.db, 'cached')) {
    if (!mappable(s, inst)) continue;
    const path = cache.cached(inst.identifier);
    if (await holds(cache, path, inst)) continue;
    s.run.log.warn({ image: inst.identifier }, 'cached file is damaged or missing; fetching it again');
    await expire(s, inst);
    downloadAgain(s.run.db, inst.id);
    damaged.push({ ...inst, state: 'pending' });
  }
  return damaged;
}

/**
 * Retires from the cache what is due, makes verified downloads available (an appliance's
 * members once all are verified), and closes the session with ProcessPostfix.
 */
export async function updateCache(s: CacheSession): Promise<CacheOutcome> {
  const { db } = s.run;
  const outcome: CacheOutcome = { session: s.session, expired: [], available: [] };
  for (const inst of instancesInState(db, 'cached')) {
    if (!retirementDue(inst, s.options.view) || !mappable(s, inst)) continue;
    await expire(s, inst);
    outcome.expired.push(inst.identifier);
  }
  const ready = (m: InstanceRow) => m.state === 'verified' || m.state === 'cached';
  for (const inst of wantedInstances(db, 'verified')) {
    if (!applianceComplete(applianceMembers(db, inst), ready) || !mappable(s, inst)) continue;
    if (await makeAvailable(s, inst)) outcome.available.push(inst.identifier);
  }
  await s.emit('ProcessPostfix');
  return outcome;
}
