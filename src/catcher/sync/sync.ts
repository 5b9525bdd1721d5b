import { VmiError } from '../../shared/errors.js';
import {
  openCacheSession,
  updateCache,
  verifyCachedFiles,
  type CacheOptions,
  type CacheOutcome,
} from '../cache/phase.js';
import type { CacheLayout } from '../cache/layout.js';
import type { Catcher } from '../catcher.js';
import { runDeliveries, type DeliveryOutcome } from '../deliver/execute.js';
import { imageRecord } from '../deliver/record.js';
import { InflightDelivery } from '../deliver/inflight.js';
import { heldBackImages, routeCheck, type HeldBack } from '../deliver/routes.js';
import { recoverDownloads, runDownloads, type DownloadOutcome } from '../download/phase.js';
import { acquireSyncLock } from './lock.js';
import { pollSubscription, type PollOutcome } from './poll.js';
import { pollRegistry } from './registry-poll.js';
import { pendingSha256 } from '../../shared/oci/blob-url.js';
import { lifecycleView, type RunContext } from './run-context.js';
import { databasePath } from '../store/schema.js';
import { dueDownloads, markPurged, type InstanceRow } from '../store/instances.js';
import { listSummaries } from '../store/lists.js';
import { CLAIMED, claimMessage } from '../store/refusals.js';
import { finishRemovals, listSubscriptions, type Subscription } from '../store/subscriptions.js';

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
    /** Backends that took the bytes while they downloaded (issue 14). */
    streamedTo?: string[];
    code?: string;
    message?: string;
  }[];
  /** Images of lists accepted in this run that were refused one by one (claimed identifiers). */
  refusedImages: { subscription: string; identifier: string; code: string; message: string }[];
  expired: string[];
  available: string[];
  corrupted: string[];
  deliveries: DeliveryOutcome[];
  /** Wanted images a backend does not take (its routing), and why: not failures. */
  heldBack: HeldBack[];
  purged: string[];
  /** Subscriptions refused, images that failed, backend operations that failed. */
  failures: number;
}

/** The subscriptions a run covers: all, or the one named by id or URL. */
function chosenSubscriptions(run: RunContext, wanted: string | undefined): Subscription[] {
  const all = listSubscriptions(run.db);
  if (wanted === undefined) return all;
  const chosen = all.filter((s) => s.id === wanted || s.url === wanted);
  if (chosen.length === 0) throw new VmiError('USAGE', `no subscription ${wanted}`);
  return chosen;
}

/** Downloads due now, of the subscriptions polled that did not lapse. */
function dueNow(run: RunContext, polls: readonly Poll[], maxAttempts: number): InstanceRow[] {
  const ids = listSubscriptions(run.db)
    .filter((s) => s.state === 'active' && s.lapsedSince === null && polls.some((p) => p.sub.id === s.id))
    .map((s) => s.id);
  return dueDownloads(run.db, ids, maxAttempts, run.now);
}

function cacheOptions(catcher: Catcher, run: RunContext): CacheOptions {
  const { cache, config, backends } = catcher;
  const lists = listSummaries(run.db);
  return {
    cache,
    exec: backends.exec,
    dirs: {
      cache: cache.cacheDir,
      partial: cache.partialDir,
      expired: cache.expiredDir,
      rdbms: `sqlite:///${databasePath(config)}`,
    },
    view: lifecycleView(
      run,
      config.graceHours * 3600_000,
      backends.delivery.map((b) => b.name),
    ),
    voOf: (id) => lists.get(id)?.vo ?? undefined,
  };
}

/**
 * The backends that take an image's bytes while it downloads (issue 14), when any can: the
 * bytes then reach them in the same pass as the cache file.
 */
function inflightFor(
  catcher: Catcher,
  run: RunContext,
): ((inst: InstanceRow) => InflightDelivery | undefined) | undefined {
  const { backends, cache, config } = catcher;
  const receiving = backends.delivery.filter((b) => b.receive !== undefined);
  if (receiving.length === 0) return undefined;
  const lists = listSummaries(run.db);
  const voOf = (id: string) => lists.get(id)?.vo ?? undefined;
  const routes = routeCheck(run.db, voOf);
  return (inst) => {
    // Only backends that take the image (routing); an unsigned registry image's SHA-512 is
    // known only at its end, so it is delivered from the cache file.
    const takers = receiving.filter((b) => routes(b, inst) === undefined);
    if (takers.length === 0 || pendingSha256(inst.sha512) !== undefined) return undefined;
    return new InflightDelivery({
      backends: takers,
      image: imageRecord(inst, voOf(inst.subscriptionId)),
      log: run.log.child({ image: inst.identifier }),
      signal: run.signal ?? new AbortController().signal,
      now: run.now,
      workDir: cache.partialDir,
      // A backend slower than this leaves the pass before the download's own stall limit.
      stallMs: (config.downloads.stallSeconds * 1000) / 2,
    });
  };
}

/** Purges retired files past the retention period, and what they leave behind in the store. */
async function purge(run: RunContext, cache: CacheLayout): Promise<string[]> {
  const purged = await cache.purge(run.now);
  finishRemovals(run.db);
  markPurged(run.db, purged);
  return purged;
}

interface Poll {
  sub: Subscription;
  outcome: PollOutcome;
}

function subscriptionReport(sub: Subscription, outcome: PollOutcome): SyncReport['subscriptions'][number] {
  if (outcome.status === 'refused')
    return { id: sub.id, status: 'refused', code: outcome.error.code, message: outcome.error.message };
  return {
    id: sub.id,
    status: outcome.status,
    ...(outcome.status === 'updated' ? { version: outcome.version } : {}),
  };
}

function refusedImages(sub: Subscription, outcome: PollOutcome): SyncReport['refusedImages'] {
  if (outcome.status !== 'updated') return [];
  return outcome.plan.conflicts.map((c) => ({
    subscription: sub.id,
    identifier: c.identifier,
    code: CLAIMED,
    message: claimMessage(c.identifier, c.owner, sub.id),
  }));
}

function syncReport(
  run: RunContext,
  polls: readonly Poll[],
  downloads: readonly DownloadOutcome[],
  step10: CacheOutcome & {
    corrupted: InstanceRow[];
    deliveries: DeliveryOutcome[];
    heldBack: HeldBack[];
    purged: string[];
  },
): SyncReport {
  const report: SyncReport = {
    session: step10.session,
    now: run.now.toISOString(),
    subscriptions: polls.map((p) => subscriptionReport(p.sub, p.outcome)),
    downloads: downloads.map(downloadReport),
    refusedImages: polls.flatMap((p) => refusedImages(p.sub, p.outcome)),
    expired: step10.expired,
    available: step10.available,
    corrupted: step10.corrupted.map((d) => d.identifier),
    deliveries: step10.deliveries,
    heldBack: step10.heldBack,
    purged: step10.purged,
    failures: 0,
  };
  return { ...report, failures: failures(report) };
}

function downloadReport(o: DownloadOutcome): SyncReport['downloads'][number] {
  return {
    identifier: o.identifier,
    ok: o.ok,
    bytes: o.bytes,
    transferMs: Math.round(o.transferMs),
    ...(o.streamedTo === undefined || o.streamedTo.length === 0 ? {} : { streamedTo: o.streamedTo }),
    ...(o.error === undefined ? {} : { code: o.error.code, message: o.error.message }),
  };
}

/** Of damaged cached files, the ones still wanted: they are downloaded again. */
function stillWanted(damaged: readonly InstanceRow[]): InstanceRow[] {
  return damaged.filter((d) => d.current && d.unwantedReason === null);
}

export async function syncOnce(catcher: Catcher, options: SyncOptions = {}): Promise<SyncReport> {
  const { config, cache, backends } = catcher;
  const lock = await acquireSyncLock(config.home);
  try {
    // Step 1: one `now` for the whole run.
    const run: RunContext = {
      db: catcher.db,
      log: catcher.log,
      now: options.now ?? catcher.clock(),
      signal: options.signal,
    };
    const http = await catcher.http();
    const poll = { ...run, http, trust: await catcher.trust(), vomsDir: await catcher.vomsDir(), config };
    // Steps 2-9 (poll.ts), each subscription on its own: fetch, verify, accept, store, reconcile.
    const polls: Poll[] = [];
    for (const sub of chosenSubscriptions(run, options.subscription)) {
      if (sub.state !== 'active') continue;
      const outcome =
        sub.registry === null ? await pollSubscription(poll, sub) : await pollRegistry(poll, sub);
      polls.push({ sub, outcome });
    }
    // Step 10: download what is wanted (section 6), after what a crash left half done ...
    await recoverDownloads(run, cache);
    const fetch = { http, cache, limits: config.downloads, inflight: inflightFor(catcher, run) };
    const downloads = await runDownloads(run, fetch, dueNow(run, polls, config.downloads.attempts));
    // ... make it available in the cache, with vmcatcher's events (ProcessPrefix to ProcessPostfix) ...
    const session = await openCacheSession(run, cacheOptions(catcher, run));
    const corrupted = options.verifyCache === true ? await verifyCachedFiles(session) : [];
    downloads.push(...(await runDownloads(run, fetch, stillWanted(corrupted))));
    const cached = await updateCache(session);
    // ... deliver to backends (section 8), then retire what is no longer wanted.
    const deliveries = await runDeliveries(run, backends.delivery, { ...session.options, retryMs: 300_000 });
    const heldBack = heldBackImages(run.db, backends.delivery, session.options.voOf);
    const purged = await purge(run, cache);
    return syncReport(run, polls, downloads, { ...cached, corrupted, deliveries, heldBack, purged });
  } finally {
    await lock.release();
  }
}

/** Subscriptions refused, images refused or failed, backend operations that failed. */
function failures(report: SyncReport): number {
  return (
    report.subscriptions.filter((s) => s.status === 'refused').length +
    report.refusedImages.length +
    report.downloads.filter((d) => !d.ok).length +
    report.deliveries.filter((d) => !d.ok).length
  );
}
