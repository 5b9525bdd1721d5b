import { rm } from 'node:fs/promises';
import type { Got } from 'got';
import type { Logger } from 'pino';
import { prepared, type Db } from '../shared/db.js';
import { asVmiError, type VmiError } from '../shared/errors.js';
import { downloadKey, type CacheLayout } from './cache.js';
import type { CatcherConfig } from './config.js';
import { downloadImage, isRetryable } from './download.js';
import { instances, recordInstanceError, setInstanceState, type InstanceRow } from './store/images.js';

/**
 * Step 10, first part: download every wanted image that is not cached yet, with bounded
 * parallelism (global and per host), retries with exponential backoff and jitter inside
 * the run, and an attempt cap per image and list version across runs.
 */

export interface DownloadOutcome {
  identifier: string;
  ok: boolean;
  bytes: number;
  /** Time spent transferring, over all attempts (backoff waits excluded): for throughput metrics. */
  transferMs: number;
  error?: VmiError;
}

export interface DownloadPhase {
  db: Db;
  http: Got;
  cache: CacheLayout;
  config: CatcherConfig;
  log: Logger;
  now: Date;
  signal?: AbortSignal | undefined;
  /** Counts bytes for metrics. */
  onBytes?: (bytes: number) => void;
}

/** Instances to download now: current, wanted, not lapsed, attempts left, due. */
export function wantedDownloads(
  db: Db,
  config: CatcherConfig,
  now: Date,
  subscriptions: readonly string[],
): InstanceRow[] {
  if (subscriptions.length === 0) return [];
  const marks = subscriptions.map(() => '?').join(', ');
  return instances(
    db,
    `i.current = 1 AND i.state IN ('pending', 'downloading') AND m.unwanted_reason IS NULL
     AND i.subscription_id IN (${marks}) AND i.attempts < ?
     AND (i.next_attempt_at IS NULL OR i.next_attempt_at <= ?)`,
    ...subscriptions,
    config.downloads.attempts,
    now.toISOString(),
  );
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

function backoff(config: CatcherConfig, attempt: number): number {
  const base = config.downloads.backoffSeconds * 1000 * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(base, config.downloads.maxBackoffSeconds * 1000);
  return capped * (0.5 + Math.random() * 0.5); // jitter: spread retries of many sites
}

/** Refuses, for this image only, an identifier that cannot become the file names it needs. */
function refuseUnsafe(phase: DownloadPhase, inst: InstanceRow): DownloadOutcome | undefined {
  try {
    phase.cache.check(inst.identifier);
    return undefined;
  } catch (err) {
    const error = asVmiError(err, 'IMAGE_IDENTIFIER_UNSAFE');
    recordInstanceError(phase.db, inst.id, error.code, error.message, null);
    phase.log.warn({ image: inst.identifier, err: error, code: error.code }, 'image refused');
    return { identifier: inst.identifier, ok: false, bytes: 0, transferMs: 0, error };
  }
}

async function downloadInstance(phase: DownloadPhase, inst: InstanceRow): Promise<DownloadOutcome> {
  const { db, cache, config } = phase;
  const log = phase.log.child({ image: inst.identifier });
  const refused = refuseUnsafe(phase, inst);
  if (refused !== undefined) return refused;
  // vmicast's own names (cache.ts): found again for a resume, unpredictable when new.
  const partialPath = await cache.partialFor(inst);
  const verifiedPath = cache.verifiedFor(partialPath);
  let attempts = inst.attempts;
  let transferred = 0;
  let transferMs = 0;
  let attemptStart = 0;
  setInstanceState(db, inst.id, 'downloading', phase.now);
  for (;;) {
    try {
      attemptStart = performance.now();
      const result = await downloadImage(
        phase.http,
        { uri: inst.uri, size: inst.size, sha512: inst.sha512, partialPath, verifiedPath },
        {
          stallMs: config.downloads.stallSeconds * 1000,
          minBytesPerSecond: config.downloads.minBytesPerSecond,
          windowMs: config.downloads.throughputWindowSeconds * 1000,
          minFreeBytes: config.downloads.minFreeBytes,
        },
        phase.signal,
      );
      transferMs += performance.now() - attemptStart;
      transferred += result.transferred;
      phase.onBytes?.(result.transferred);
      // Verified (and renamed to its `.ok` name): waits for the cache phase and AvailablePrefix.
      setInstanceState(db, inst.id, 'verified', phase.now);
      log.info({ bytes: inst.size, resumedFrom: result.resumedFrom }, 'image downloaded and verified');
      return { identifier: inst.identifier, ok: true, bytes: transferred, transferMs };
    } catch (err) {
      transferMs += performance.now() - attemptStart;
      const error = asVmiError(err, 'FETCH_FAILED');
      attempts += 1;
      const again =
        isRetryable(error) && attempts < config.downloads.attempts && phase.signal?.aborted !== true;
      const delay = backoff(config, attempts);
      recordInstanceError(db, inst.id, error.code, error.message, new Date(phase.now.getTime() + delay));
      log.warn({ err: error, code: error.code, attempts, retry: again }, 'download failed');
      if (!again) return { identifier: inst.identifier, ok: false, bytes: transferred, transferMs, error };
      await sleep(delay, phase.signal);
      setInstanceState(db, inst.id, 'downloading', phase.now);
    }
  }
}

/** Runs downloads with `parallel` workers, at most `perHost` per host at a time. */
export async function runDownloads(phase: DownloadPhase, jobs: InstanceRow[]): Promise<DownloadOutcome[]> {
  const { parallel, perHost } = phase.config.downloads;
  const queue = [...jobs];
  const active = new Map<string, number>();
  const outcomes: DownloadOutcome[] = [];
  const host = (inst: InstanceRow) => {
    try {
      return new URL(inst.uri).host;
    } catch {
      return inst.uri;
    }
  };
  const waiting: (() => void)[] = [];
  const worker = async (): Promise<void> => {
    for (;;) {
      if (phase.signal?.aborted === true) return;
      const index = queue.findIndex((j) => (active.get(host(j)) ?? 0) < perHost);
      if (index < 0) {
        if (queue.length === 0) return;
        await new Promise<void>((resolve) => waiting.push(resolve)); // all runnable hosts are busy
        continue;
      }
      const [job] = queue.splice(index, 1) as [InstanceRow];
      const h = host(job);
      active.set(h, (active.get(h) ?? 0) + 1);
      try {
        outcomes.push(await downloadInstance(phase, job));
      } finally {
        active.set(h, (active.get(h) ?? 1) - 1);
        waiting.splice(0).forEach((wake) => wake());
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(jobs.length, 1)) }, () => worker()));
  return outcomes;
}

/** After a crash: downloads marked in progress are pending again (their partial files resume). */
export async function recoverDownloads(db: Db, cache: CacheLayout): Promise<void> {
  prepared(db, `UPDATE instances SET state = 'pending' WHERE state = 'downloading'`).run();
  // A verified file of an instance the list no longer names, or nobody wants, is of no use.
  for (const inst of instances(
    db,
    `i.state = 'verified' AND (i.current = 0 OR m.unwanted_reason IS NOT NULL)`,
  )) {
    await cache.discard(inst);
    // Its name shown for AvailablePrefix (or the verified file of a version before issue 12).
    const shown = (() => {
      try {
        return cache.exposed(inst.identifier);
      } catch {
        return undefined; // an identifier refused now never had a file there
      }
    })();
    if (shown !== undefined) await rm(shown, { force: true });
    prepared(db, `UPDATE instances SET state = 'pending' WHERE id = ?`).run(inst.id);
  }
  // A resumable partial file of a download nobody wants any more (removed from the list
  // before it was cached, or replaced meanwhile) would stay for ever (found by issue 8).
  const wanted = (state: string) =>
    new Set(
      instances(db, `i.current = 1 AND i.state = ? AND m.unwanted_reason IS NULL`, state).map((i) =>
        downloadKey(i),
      ),
    );
  await cache.sweep({ part: wanted('pending'), ok: wanted('verified') });
}
