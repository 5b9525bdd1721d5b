import { createHash } from 'node:crypto';
import { mkdir, rm, statfs } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { dirname } from 'node:path';
import { VmiError } from '../../shared/errors.js';
import { responseOf, transferError, type HttpClient } from '../../shared/http.js';
import { chunkReleaser, RELEASE_EVERY } from '../../shared/memory.js';
import { existingSize, hashPrefix, keepVerified, openPartial } from './partial.js';
import { destroyAndClose, endAndClose, pump } from './pump.js';
import { Watchdog, type DownloadLimits } from './watchdog.js';

/**
 * One image download (SPEC.md section 6): stream into a partial file while hashing, abort
 * at hv:size + 1 byte, refuse an oversized Content-Length before reading, resume with
 * Range, watch for stalls and slow drips. One open file is hashed (a resumed prefix), written
 * and then renamed to the verified name, where its inode is checked: bytes renamed onto the
 * partial name by anyone else are never taken for the ones that were hashed (issue 12).
 */

export interface DownloadJob {
  uri: string;
  size: number;
  /**
   * The SHA-512 the bytes must have; undefined for an unsigned registry image known by its
   * sha256 only (then `sha256` is required, and the SHA-512 is measured and returned).
   */
  sha512: string | undefined;
  /** Resumed when it exists, else created exclusively (O_EXCL). */
  partialPath: string;
  /** Where the file goes once its size and digest passed. */
  verifiedPath: string;
  /** A registry blob's SHA-256 (the digest in its URL), checked with the SHA-512 in the same pass. */
  sha256?: string | undefined;
  /** Request headers (a registry's Authorization for its own origin; the client drops it on a redirect elsewhere). */
  headers?: Record<string, string> | undefined;
  /**
   * Another destination for the bytes of a download from the first byte (issue 14): asked
   * for once the response starts at byte 0. It must never fail; its back-pressure counts.
   */
  tap?: (() => Writable | undefined) | undefined;
}

export type { DownloadLimits } from './watchdog.js';

export interface DownloadResult {
  /** Bytes fetched over the network in this attempt (resumed bytes excluded). */
  transferred: number;
  resumedFrom: number;
  /** The SHA-512 of the whole file, measured in the same pass. */
  sha512: string;
}

async function checkFreeSpace(dir: string, needed: number, margin: number): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < needed + margin) {
    throw new VmiError(
      'DISK_FULL',
      `${dir} has ${free} bytes free; ${needed} needed plus a margin of ${margin}`,
    );
  }
}

/** Parses `Content-Range: bytes START-END/TOTAL` and returns START. */
function rangeStart(header: string | undefined): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header ?? '');
  return m === null ? undefined : Number(m[1]);
}

/**
 * Bytes the file writer may hold before the socket is paused. With the default 16 KiB
 * every socket chunk waited for its write, and receiving, hashing and writing took turns
 * instead of overlapping: about 0.6 of `curl | sha512sum` instead of 1.1 (bench/ingest.ts).
 * Not more: chunks queued longer survive young collections and wait for a full one, which
 * cost 40-55 MB of peak RSS with 8 MiB (docs/memory.md).
 */
const WRITE_BUFFER = 256 << 10;

export async function downloadImage(
  http: HttpClient,
  job: DownloadJob,
  limits: DownloadLimits,
  signal?: AbortSignal,
): Promise<DownloadResult> {
  // Bytes checked against nothing are never kept.
  if (job.sha512 === undefined && job.sha256 === undefined)
    throw new VmiError('IMAGE_DIGEST_MISMATCH', `${job.uri}: no digest to check the bytes against`);
  await mkdir(dirname(job.partialPath), { recursive: true });
  const file = await openPartial(job.partialPath);
  // Until the write stream owns the file (and closes it), this function closes it.
  let fileOwned = true;
  let offset = 0;
  let hash = createHash('sha512');
  let hash256 = job.sha256 === undefined ? undefined : createHash('sha256');
  let written: { dev: number; ino: number };
  try {
    offset = await existingSize(file, job.size);
    await checkFreeSpace(dirname(job.partialPath), job.size - offset, limits.minFreeBytes);
    hash = await hashPrefix(file, offset, hash256);
    written = await file.stat();
  } catch (err) {
    await file.close();
    throw diskError(err) ?? err;
  }
  const resumedFrom = offset;
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const request = http.stream(job.uri, {
    headers: { ...job.headers, ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
    signal: controller.signal,
    timeout: {
      lookup: 30_000,
      connect: 30_000,
      secureConnect: 30_000,
      response: Math.max(limits.stallMs, 1000),
    },
  });
  const watchdog = new Watchdog(limits, (err) => request.destroy(err));
  let transferred = 0;
  try {
    const response = await responseOf(request);
    const status = response.statusCode;
    const length = Number(response.headers['content-length'] ?? NaN);
    if (status === 206 && offset > 0 && rangeStart(response.headers['content-range']) === offset) {
      // Resuming: append to what we have.
    } else if (status === 200) {
      if (offset > 0) {
        // The server ignored Range: start over cleanly.
        offset = 0;
        hash = createHash('sha512');
        hash256 = job.sha256 === undefined ? undefined : createHash('sha256');
        await file.truncate(0);
      }
    } else {
      throw new VmiError('HTTP_STATUS', `${job.uri} answered HTTP ${status}`, { details: { status } });
    }
    if (Number.isFinite(length) && offset + length > job.size) {
      throw new VmiError(
        'IMAGE_TOO_LARGE',
        `${job.uri} announces ${offset + length} bytes; the list says ${job.size}`,
      );
    }
    // Positioned writes from `offset` into the very file whose prefix was hashed.
    const out = file.createWriteStream({ start: offset, highWaterMark: WRITE_BUFFER });
    fileOwned = false;
    const tap = offset === 0 ? job.tap?.() : undefined;
    // A chunk that survives two young collections while it waits in a buffer is promoted
    // and then waits for a full one: collect no more often than every few times what the
    // destinations may hold (256 KiB each, the file and the in-flight pass: every MiB).
    const buffered = Math.max(out.writableHighWaterMark, tap?.writableHighWaterMark ?? 0);
    const release = chunkReleaser(Math.max(RELEASE_EVERY, 4 * buffered));
    try {
      await pump(request, tap === undefined ? [out] : [out, tap], (chunk) => {
        transferred += chunk.length;
        watchdog.data(chunk.length);
        if (offset + transferred > job.size) {
          throw new VmiError(
            'IMAGE_TOO_LARGE',
            `${job.uri} sent more than the ${job.size} bytes the list declares`,
          );
        }
        hash.update(chunk);
        hash256?.update(chunk);
        release(chunk.length);
      });
      await endAndClose(out);
      if (tap !== undefined) await new Promise<void>((resolve) => tap.end(() => resolve()));
    } catch (err) {
      // What arrived stays for a resume (bytes that failed verification are deleted below).
      await endAndClose(out).catch(() => destroyAndClose(out));
      throw err;
    } finally {
      release.close();
    }
    const total = offset + transferred;
    if (total !== job.size) {
      throw new VmiError(
        'IMAGE_SIZE_MISMATCH',
        `${job.uri} ended after ${total} bytes; the list says ${job.size}`,
      );
    }
    const digest = hash.digest('hex');
    if (job.sha512 !== undefined && digest !== job.sha512) {
      throw new VmiError(
        'IMAGE_DIGEST_MISMATCH',
        `${job.uri}: SHA-512 ${digest.slice(0, 16)}… differs from the list's ${job.sha512.slice(0, 16)}…`,
      );
    }
    const digest256 = hash256?.digest('hex');
    if (digest256 !== job.sha256) {
      throw new VmiError(
        'IMAGE_DIGEST_MISMATCH',
        `${job.uri}: SHA-256 ${String(digest256).slice(0, 16)}… differs from the digest the URL names`,
      );
    }
    await keepVerified(job, written);
    return { transferred, resumedFrom, sha512: digest };
  } catch (err) {
    if (fileOwned) await file.close().catch(() => undefined);
    fileOwned = false;
    const coded =
      watchdog.reason ?? (err instanceof VmiError ? err : (diskError(err) ?? transferError(err, job.uri)));
    if (['IMAGE_TOO_LARGE', 'IMAGE_SIZE_MISMATCH', 'IMAGE_DIGEST_MISMATCH'].includes(coded.code)) {
      // Bytes that failed verification are never kept, not even for a resume.
      await rm(job.partialPath, { force: true });
    }
    throw coded;
  } finally {
    if (fileOwned) await file.close().catch(() => undefined);
    watchdog.stop();
    signal?.removeEventListener('abort', onAbort);
    request.destroy();
  }
}

function diskError(err: unknown): VmiError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new VmiError('DISK_FULL', `no space left for the download: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return undefined;
}

/** Whether another attempt may succeed (network trouble) or not (the server says no). */
export function isRetryable(err: VmiError): boolean {
  if (err.code === 'HTTP_STATUS') {
    const status = err.details?.['status'];
    return typeof status === 'number' && (status >= 500 || status === 408 || status === 429);
  }
  return err.code !== 'DISK_FULL' && err.code !== 'IMAGE_IDENTIFIER_UNSAFE';
}
