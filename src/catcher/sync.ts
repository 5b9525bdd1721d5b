import { prepared, type Db } from '../shared/db.js';
import { VmiError } from '../shared/errors.js';
import type { Catcher } from './catcher.js';
import { runCachePhase } from './cachephase.js';
import { databasePath } from './catcher.js';
import { runDeliverPhase, type DeliveryOutcome } from './deliver.js';
import { recoverDownloads, runDownloads, wantedDownloads, type DownloadOutcome } from './downloads.js';
import type { LifecycleView } from './lifecycle.js';
import { acquireSyncLock } from './lock.js';
import { pollSubscription, type PollContext } from './poll.js';
import { delivery } from './store/deliveries.js';
import { instances } from './store/images.js';
import { CLAIMED, claimMessage } from './store/refusals.js';
import {
  currentListInstance,
  finishRemovals,
  listSubscriptions,
  type Subscription,
} from './store/subscriptions.js';

/**
 * `syncOnce`: one full cycle of SPEC.md section 5, one step per line. Every subscription is
 * polled on its own (one failure never stops the others); then images are downloaded,
 * made available with vmcatcher's events, delivered to backends, and retired.
 */

export interface SyncOptions {
  subscription?: string | undefined;
  now?: Date | undefined;
  verifyCache?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface SyncReport {
  session: string;
  now: string;
  subscriptions: {
    id: string;
    status: 'updated' | 'unchanged' | 'refused';
    version?: string;
    code?: string;
    message?: string;
  }[];
  downloads: {
    identifier: string;
    ok: boolean;
    bytes: number;
    transferMs: number;
    code?: string;
    message?: string;
  }[];
  /** Images of lists accepted in this run that were refused one by one (claimed identifiers). */
  refusedImages: { subscription: string; identifier: string; code: string; message: string }[];
  expired: string[];
  available: string[];
  corrupted: string[];
  deliveries: DeliveryOutcome[];
  purged: string[];
  /** Subscriptions refused, images that failed, backend operations that failed. */
  failures: number;
}

function lifecycleView(catcher: Catcher, now: Date): LifecycleView {
  const { db } = catcher;
  return {
    now,
    graceMs: catcher.config.graceHours * 3600_000,
    deliveryBackends: catcher.backends.delivery.map((b) => b.name),
    current: (sub, id) =>
      instances(db, 'i.subscription_id = ? AND i.identifier = ? AND i.current = 1', sub, id)[0],
    deliveredOn: (instanceId, backend) => delivery(db, instanceId, backend)?.state === 'delivered',
    applianceAvailableOn: (sub, appliance, backend) =>
      prepared(
        db,
        `SELECT 1 FROM appliance_backends ab JOIN appliances a
             ON a.subscription_id = ab.subscription_id AND a.identifier = ab.appliance AND a.version = ab.version
           WHERE ab.subscription_id = ? AND ab.appliance = ? AND ab.backend = ?`,
      ).get(sub, appliance, backend) !== undefined,
  };
}

function voLookup(db: Db): (subscriptionId: string) => string | undefined {
  const cache = new Map<string, string | undefined>();
  return (id) => {
    if (!cache.has(id)) {
      const sub = prepared(db, 'SELECT vo FROM subscriptions WHERE id = ?').get(id) as
        { vo: string | null } | undefined;
      cache.set(id, currentListInstance(db, id)?.vo ?? sub?.vo ?? undefined);
    }
    return cache.get(id);
  };
}

function downloadReport(o: DownloadOutcome): SyncReport['downloads'][number] {
  return {
    identifier: o.identifier,
    ok: o.ok,
    bytes: o.bytes,
    transferMs: Math.round(o.transferMs),
    ...(o.error === undefined ? {} : { code: o.error.code, message: o.error.message }),
  };
}

export async function syncOnce(catcher: Catcher, options: SyncOptions = {}): Promise<SyncReport> {
  const { config, db, cache, log } = catcher;
  const lock = await acquireSyncLock(config.home);
  try {
    // Step 1: one `now` for the whole run.
    const now = options.now ?? catcher.clock();
    const trust = await catcher.trust();
    const http = await catcher.http();
    const poll: PollContext = {
      db,
      http,
      trust,
      vomsDir: await catcher.vomsDir(),
      config,
      log,
      now,
      signal: options.signal,
    };
    const all = listSubscriptions(db);
    const chosen: Subscription[] =
      options.subscription === undefined
        ? all
        : all.filter((s) => s.id === options.subscription || s.url === options.subscription);
    if (options.subscription !== undefined && chosen.length === 0) {
      throw new VmiError('USAGE', `no subscription ${options.subscription}`);
    }
    // Steps 2-9, per subscription.
    const report: SyncReport = {
      session: '',
      now: now.toISOString(),
      subscriptions: [],
      downloads: [],
      refusedImages: [],
      expired: [],
      available: [],
      corrupted: [],
      deliveries: [],
      purged: [],
      failures: 0,
    };
    for (const sub of chosen.filter((s) => s.state === 'active')) {
      const outcome = await pollSubscription(poll, sub);
      if (outcome.status === 'refused') {
        report.subscriptions.push({
          id: sub.id,
          status: 'refused',
          code: outcome.error.code,
          message: outcome.error.message,
        });
      } else {
        report.subscriptions.push({
          id: sub.id,
          status: outcome.status,
          ...(outcome.status === 'updated' ? { version: outcome.version } : {}),
        });
        if (outcome.status === 'updated') {
          for (const c of outcome.plan.conflicts) {
            report.refusedImages.push({
              subscription: sub.id,
              identifier: c.identifier,
              code: CLAIMED,
              message: claimMessage(c.identifier, c.owner, sub.id),
            });
          }
        }
      }
    }
    // Step 10: download what is wanted ...
    await recoverDownloads(db, cache);
    const active = listSubscriptions(db)
      .filter((s) => s.state === 'active' && s.lapsedSince === null && chosen.some((c) => c.id === s.id))
      .map((s) => s.id);
    const downloadPhase = { db, http, cache, config, log, now, signal: options.signal };
    const downloads = await runDownloads(downloadPhase, wantedDownloads(db, config, now, active));
    // ... make verified files available and retire what is due, with vmcatcher's events ...
    const view = lifecycleView(catcher, now);
    const voOf = voLookup(db);
    const cacheOutcome = await runCachePhase({
      db,
      cache,
      exec: catcher.backends.exec,
      log,
      now,
      view,
      voOf,
      verifyCache: options.verifyCache === true,
      signal: options.signal,
      dirs: {
        cache: cache.cacheDir,
        partial: cache.partialDir,
        expired: cache.expiredDir,
        rdbms: `sqlite:///${databasePath(config)}`,
      },
      redownload: async (again) => {
        downloads.push(...(await runDownloads(downloadPhase, again)));
      },
    });
    // ... deliver to backends, and retire there what is due ...
    const deliveries = await runDeliverPhase(
      { db, cache, log, now, view, voOf, retryMs: 300_000, signal: options.signal },
      catcher.backends.delivery,
    );
    // ... and purge retired files past the retention period.
    const purged = await cache.purge(now);
    finishRemovals(db);
    prepared(
      db,
      `UPDATE instances SET state = 'purged' WHERE state = 'expired' AND expired_file IN (SELECT value FROM json_each(?))`,
    ).run(JSON.stringify(purged));
    Object.assign(report, {
      session: cacheOutcome.session,
      downloads: downloads.map(downloadReport),
      expired: cacheOutcome.expired,
      available: cacheOutcome.available,
      corrupted: cacheOutcome.corrupted,
      deliveries,
      purged,
    });
    report.failures =
      report.subscriptions.filter((s) => s.status === 'refused').length +
      report.refusedImages.length +
      downloads.filter((d) => !d.ok).length +
      deliveries.filter((d) => !d.ok).length;
    return report;
  } finally {
    await lock.release();
  }
}
