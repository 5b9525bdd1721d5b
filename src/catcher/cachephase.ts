import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { prepared, type Db } from '../shared/db.js';
import { digestFile } from '../shared/digest.js';
import type { ExecConfig } from './backends/config.js';
import type { CacheLayout } from './cache.js';
import { eventEnvironment, type CacheDirs, type EventType } from './events.js';
import { retirementDue, type LifecycleView } from './lifecycle.js';
import { runOutbox } from './outbox.js';
import { insertEvent } from './store/events.js';
import { instances, markExpired, setInstanceState, type InstanceRow } from './store/images.js';

/**
 * Step 10, second part: the cache changes and vmcatcher's events, in vmcatcher's order:
 * ProcessPrefix; every ExpirePrefix/ExpirePostfix pair; every AvailablePrefix (file verified,
 * still in the partial directory) / AvailablePostfix (file in the cache) pair; ProcessPostfix.
 * Each event is written to the durable outbox in the same transaction as the state change it
 * reports, then handed to the exec backends.
 */

export interface CachePhase {
  db: Db;
  cache: CacheLayout;
  exec: readonly ExecConfig[];
  dirs: CacheDirs;
  log: Logger;
  now: Date;
  view: LifecycleView;
  /** list identifier -> VO (`ad:vo`), for VMCATCHER_EVENT_VO. */
  voOf: (subscriptionId: string) => string | undefined;
  verifyCache: boolean;
  /** Downloads instances again (used after --verify-cache found a damaged file). */
  redownload: (instances: InstanceRow[]) => Promise<void>;
  signal?: AbortSignal | undefined;
}

export interface CacheOutcome {
  session: string;
  expired: string[];
  available: string[];
  corrupted: string[];
}

class Emitter {
  readonly session = randomUUID();

  constructor(private readonly phase: CachePhase) {}

  record(type: EventType, inst?: InstanceRow, fileName?: string): void {
    const { phase } = this;
    const image =
      inst === undefined
        ? undefined
        : {
            entry: inst.entry,
            fileName,
            listIdentifier: inst.subscriptionId,
            vo: phase.voOf(inst.subscriptionId),
          };
    insertEvent(
      phase.db,
      phase.exec.map((e) => e.name),
      {
        session: this.session,
        type,
        identifier: inst?.identifier ?? null,
        instanceId: inst?.id ?? null,
        env: eventEnvironment(type, this.session, phase.dirs, image),
      },
      phase.now,
    );
  }

  /** Delivers what is pending to the hooks (failures stay in the outbox). */
  async flush(): Promise<void> {
    await runOutbox(this.phase.db, this.phase.exec, {
      now: this.phase.now,
      log: this.phase.log,
      signal: this.phase.signal,
    });
  }

  async emit(type: EventType, inst?: InstanceRow, fileName?: string, change?: () => void): Promise<void> {
    this.phase.db.transaction(() => {
      change?.();
      this.record(type, inst, fileName);
    })();
    await this.flush();
  }
}

async function expire(phase: CachePhase, emitter: Emitter, inst: InstanceRow): Promise<void> {
  await emitter.emit('ExpirePrefix', inst, inst.identifier);
  const name = await phase.cache.expire(inst.identifier, phase.now);
  await emitter.emit('ExpirePostfix', inst, name ?? inst.identifier, () =>
    markExpired(phase.db, inst.id, name ?? null, phase.now),
  );
}

/** Appliance members wait until every member of their appliance is verified or cached. */
function applianceComplete(db: Db, inst: InstanceRow): boolean {
  if (inst.appliance === null) return true;
  const missing = prepared(
    db,
    `SELECT COUNT(*) AS n FROM appliance_members am
       JOIN appliances a ON a.subscription_id = am.subscription_id AND a.identifier = am.appliance AND a.listed = 1
       LEFT JOIN instances i ON i.subscription_id = am.subscription_id AND i.identifier = am.identifier AND i.current = 1
       WHERE am.subscription_id = ? AND am.appliance = ? AND (i.state IS NULL OR i.state NOT IN ('verified', 'cached'))`,
  ).get(inst.subscriptionId, inst.appliance) as { n: number };
  return missing.n === 0;
}

/** Whether `path` holds the image's bytes (used where no verified file of ours is at hand). */
async function holds(phase: CachePhase, path: string, inst: InstanceRow): Promise<boolean> {
  return (await phase.cache.exists(path)) && (await digestFile(path)).sha512 === inst.sha512;
}

async function makeAvailable(phase: CachePhase, emitter: Emitter, inst: InstanceRow): Promise<boolean> {
  const { cache, db, now } = phase;
  // The file the download phase wrote and hashed (cache.ts); a verified file left under
  // vmcatcher's name by a version before issue 12 is hashed again before it is trusted.
  let file = await cache.verifiedOf(inst);
  if (file === undefined && (await holds(phase, cache.exposed(inst.identifier), inst))) {
    file = cache.exposed(inst.identifier);
  }
  if (file === undefined) {
    // A crash after the rename into the cache: check the file there before believing it.
    if (await holds(phase, cache.cached(inst.identifier), inst)) {
      await emitter.emit('AvailablePostfix', inst, inst.identifier, () =>
        setInstanceState(db, inst.id, 'cached', now),
      );
      return true;
    }
    setInstanceState(db, inst.id, 'pending', now);
    return false;
  }
  if (file !== cache.exposed(inst.identifier)) await cache.expose(file, inst.identifier);
  await emitter.emit('AvailablePrefix', inst, inst.identifier);
  await cache.promote(file, inst.identifier);
  await emitter.emit('AvailablePostfix', inst, inst.identifier, () =>
    setInstanceState(db, inst.id, 'cached', now),
  );
  return true;
}

/**
 * Whether the cache may handle this image's files. The download phase refuses identifiers
 * it cannot map (IMAGE_IDENTIFIER_UNSAFE), so only an image cached by a version with laxer
 * rules lands here; it is left where it is, with a warning, and the phase goes on.
 */
function mappable(phase: CachePhase, inst: InstanceRow): boolean {
  try {
    phase.cache.check(inst.identifier);
    return true;
  } catch (err) {
    phase.log.warn(
      { image: inst.identifier, err },
      'image identifier cannot be mapped; its files are left alone',
    );
    return false;
  }
}

/** --verify-cache: re-hash cached files; a damaged or missing one is expired and fetched again. */
async function checkCache(phase: CachePhase, emitter: Emitter): Promise<InstanceRow[]> {
  const damaged: InstanceRow[] = [];
  for (const inst of instances(phase.db, `i.state = 'cached'`)) {
    if (!mappable(phase, inst)) continue;
    const path = phase.cache.cached(inst.identifier);
    const ok = (await phase.cache.exists(path)) && (await digestFile(path)).sha512 === inst.sha512;
    if (ok) continue;
    phase.log.warn({ image: inst.identifier }, 'cached file is damaged or missing; fetching it again');
    await expire(phase, emitter, inst);
    prepared(
      phase.db,
      `UPDATE instances SET state = 'pending', attempts = 0, next_attempt_at = NULL WHERE id = ?`,
    ).run(inst.id);
    damaged.push({ ...inst, state: 'pending' });
  }
  return damaged;
}

export async function runCachePhase(phase: CachePhase): Promise<CacheOutcome> {
  const emitter = new Emitter(phase);
  const outcome: CacheOutcome = { session: emitter.session, expired: [], available: [], corrupted: [] };
  await emitter.emit('ProcessPrefix');
  for (const inst of instances(phase.db, `i.current = 1 AND m.announced = 0`)) {
    await emitter.emit('SubscriptionImageNew', inst, undefined, () =>
      prepared(phase.db, 'UPDATE images SET announced = 1 WHERE subscription_id = ? AND identifier = ?').run(
        inst.subscriptionId,
        inst.identifier,
      ),
    );
  }
  if (phase.verifyCache) {
    const damaged = await checkCache(phase, emitter);
    outcome.corrupted = damaged.map((d) => d.identifier);
    if (damaged.length > 0)
      await phase.redownload(damaged.filter((d) => d.current && d.unwantedReason === null));
  }
  for (const inst of instances(phase.db, `i.state = 'cached'`)) {
    if (!retirementDue(inst, phase.view) || !mappable(phase, inst)) continue;
    await expire(phase, emitter, inst);
    outcome.expired.push(inst.identifier);
  }
  for (const inst of instances(
    phase.db,
    `i.state = 'verified' AND i.current = 1 AND m.unwanted_reason IS NULL`,
  )) {
    if (!applianceComplete(phase.db, inst) || !mappable(phase, inst)) continue;
    if (await makeAvailable(phase, emitter, inst)) outcome.available.push(inst.identifier);
  }
  await emitter.emit('ProcessPostfix');
  return outcome;
}
