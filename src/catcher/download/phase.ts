import { rm } from 'node:fs/promises';
import type { HttpClient } from '../../shared/http.js';
import type { Db } from '../../shared/db.js';
import { asVmiError, VmiError } from '../../shared/errors.js';
import { downloadKey, type CacheLayout } from '../cache/layout.js';
import type { CatcherConfig } from '../config.js';
import type { InflightDelivery } from '../deliver/inflight.js';
import { saveDelivery } from '../store/deliveries.js';
import { getSubscription } from '../store/subscriptions.js';
import type { Credentials } from '../../shared/oci/auth.js';
import { pendingSha256, registryBlob, type RegistryBlob } from '../../shared/oci/blob-url.js';
import { RegistryAccess } from './registry.js';
import { downloadImage, isRetryable } from './transfer.js';
import type { RunContext } from '../sync/run-context.js';
import {
  recordInstanceError,
  resetDownloading,
  setInstanceState,
  setMeasuredSha512,
  setPending,
  unusedVerified,
  wantedInstances,
  type InstanceRow,
} from '../store/instances.js';

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
  /** Backends that received the bytes during the download (hidden there until delivered). */
  streamedTo?: string[];
  error?: VmiError;
}

/** The download settings of the configuration (`downloads:`). */
export type DownloadLimits = CatcherConfig['downloads'];

export interface DownloadOptions {
  http: HttpClient;
  cache: CacheLayout;
  limits: DownloadLimits;
  /** Counts bytes for metrics. */
  onBytes?: (bytes: number) => void;
  /** The backends that take this image's bytes while it downloads (issue 14). */
  inflight?: ((inst: InstanceRow) => InflightDelivery | undefined) | undefined;
  /** Registry access for images named by a registry blob URL (made on first use). */
  registries?: RegistryAccess | undefined;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

function backoff(limits: DownloadLimits, attempt: number): number {
  const base = limits.backoffSeconds * 1000 * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(base, limits.maxBackoffSeconds * 1000);
  return capped * (0.5 + Math.random() * 0.5); // jitter: spread retries of many sites
}

/** Refuses, for this image only, an identifier that cannot become the file names it needs. */
function refuseUnsafe(run: RunContext, cache: CacheLayout, inst: InstanceRow): DownloadOutcome | undefined {
  try {
    cache.check(inst.identifier);
    return undefined;
  } catch (err) {
    const error = asVmiError(err, 'IMAGE_IDENTIFIER_UNSAFE');
    recordInstanceError(run.db, inst.id, error.code, error.message, null);
    run.log.warn({ image: inst.identifier, err: error, code: error.code }, 'image refused');
    return { identifier: inst.identifier, ok: false, bytes: 0, transferMs: 0, error };
  }
}

/**
 * The credentials of a registry subscription, for blobs of its own registry only: a list's
 * Basic credentials are for its list server and never go to a registry it names.
 */
function registryCredentials(db: Db, inst: InstanceRow, blob: RegistryBlob): Credentials | undefined {
  const sub = getSubscription(db, inst.subscriptionId);
  if (sub?.registry == null || sub.registry.registry !== blob.registry) return undefined;
  if (sub.username === null || sub.password === null) return undefined;
  return { username: sub.username, password: sub.password };
}

async function downloadInstance(
  run: RunContext,
  options: DownloadOptions,
  inst: InstanceRow,
): Promise<DownloadOutcome> {
  const { db, now, signal } = run;
  const { cache, limits } = options;
  const log = run.log.child({ image: inst.identifier });
  const refused = refuseUnsafe(run, cache, inst);
  if (refused !== undefined) return refused;
  // vmicast's own names (cache.ts): found again for a resume, unpredictable when new.
  const partialPath = await cache.partialFor(inst);
  const verifiedPath = cache.verifiedFor(partialPath);
  let attempts = inst.attempts;
  let transferred = 0;
  let transferMs = 0;
  let attemptStart = 0;
  // A registry blob: its digest is checked too, and its registry may want a token.
  const blob = registryBlob(inst.uri);
  const access = blob === undefined ? undefined : registryCredentials(db, inst, blob);
  // An unsigned registry image is known by its layer's sha256 only: its SHA-512 is measured.
  const pending = pendingSha256(inst.sha512);
  setInstanceState(db, inst.id, 'downloading', now);
  for (;;) {
    let inflight: InflightDelivery | undefined;
    const tap = options.inflight === undefined ? undefined : () => (inflight = options.inflight?.(inst));
    try {
      attemptStart = performance.now();
      if (blob !== undefined) options.registries ??= new RegistryAccess(options.http);
      const headers = blob === undefined ? undefined : await options.registries?.headers(blob, access);
      const pinned = { sha256: blob?.sha256, headers };
      if (pending !== undefined && blob?.sha256 !== pending)
        throw new VmiError(
          'IMAGE_DIGEST_MISMATCH',
          `${inst.uri} does not name the layer digest the registry gave`,
        );
      const sha512 = pending === undefined ? inst.sha512 : undefined;
      const result = await downloadImage(
        options.http,
        { uri: inst.uri, size: inst.size, sha512, partialPath, verifiedPath, tap, ...pinned },
        {
          stallMs: limits.stallSeconds * 1000,
          minBytesPerSecond: limits.minBytesPerSecond,
          windowMs: limits.throughputWindowSeconds * 1000,
          minFreeBytes: limits.minFreeBytes,
        },
        signal,
      );
      // The backends that received the bytes hold them hidden; delivery releases them.
      const streamed = (await inflight?.commit(verifiedPath)) ?? [];
      for (const held of streamed) {
        const record = { instanceId: inst.id, backend: held.backend, state: 'pending' as const };
        saveDelivery(db, { ...record, refs: held.refs, metadataSha256: null }, now);
      }
      transferMs += performance.now() - attemptStart;
      transferred += result.transferred;
      options.onBytes?.(result.transferred);
      if (pending !== undefined) {
        // Renamed before the row changes: a crash in between leaves a file no key wants (swept).
        await cache.rekey(verifiedPath, { ...inst, sha512: result.sha512 });
        setMeasuredSha512(db, inst.id, result.sha512);
      }
      // Verified (and renamed to its `.ok` name): waits for the cache phase and AvailablePrefix.
      setInstanceState(db, inst.id, 'verified', now);
      log.info({ bytes: inst.size, resumedFrom: result.resumedFrom }, 'image downloaded and verified');
      const streamedTo = streamed.map((h) => h.backend);
      return { identifier: inst.identifier, ok: true, bytes: transferred, transferMs, streamedTo };
    } catch (err) {
      transferMs += performance.now() - attemptStart;
      const error = asVmiError(err, 'FETCH_FAILED');
      await inflight?.abort(error);
      attempts += 1;
      const again = isRetryable(error) && attempts < limits.attempts && signal?.aborted !== true;
      const delay = backoff(limits, attempts);
      recordInstanceError(db, inst.id, error.code, error.message, new Date(now.getTime() + delay));
      log.warn({ err: error, code: error.code, attempts, retry: again }, 'download failed');
      if (!again) return { identifier: inst.identifier, ok: false, bytes: transferred, transferMs, error };
      await sleep(delay, signal);
      setInstanceState(db, inst.id, 'downloading', now);
    }
  }
}

/** Runs downloads with `parallel` workers, at most `perHost` per host at a time. */
export async function runDownloads(
  run: RunContext,
  options: DownloadOptions,
  jobs: readonly InstanceRow[],
): Promise<DownloadOutcome[]> {
  const { parallel, perHost } = options.limits;
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
      if (run.signal?.aborted === true) return;
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
        outcomes.push(await downloadInstance(run, options, job));
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
export async function recoverDownloads(run: RunContext, cache: CacheLayout): Promise<void> {
  const { db } = run;
  resetDownloading(db);
  // A verified file of an instance the list no longer names, or nobody wants, is of no use.
  for (const inst of unusedVerified(db)) {
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
    setPending(db, inst.id);
  }
  // A resumable partial file of a download nobody wants any more (removed from the list
  // before it was cached, or replaced meanwhile) would stay for ever (found by issue 8).
  const wanted = (state: 'pending' | 'verified') => new Set(wantedInstances(db, state).map(downloadKey));
  await cache.sweep({ part: wanted('pending'), ok: wanted('verified') });
}
