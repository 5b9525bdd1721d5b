import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  downloadImage,
  isRetryable,
  type DownloadJob,
  type DownloadLimits,
} from '../../src/catcher/download/transfer.js';
import { VmiError } from '../../src/shared/errors.js';
import { createHttpClient } from '../../src/shared/http.js';
import { TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { rejectsWith } from '../helpers/rejects.js';

/**
 * One image download (src/catcher/download/transfer.ts) against a real local server: resume, size
 * caps, digest, stalls and slow drips. Bytes that failed verification are never kept.
 */

const http = createHttpClient();
const LIMITS: DownloadLimits = { stallMs: 10_000, minBytesPerSecond: 0, windowMs: 60_000, minFreeBytes: 0 };
const IMAGE = randomBytes(300_000);
const SHA512 = createHash('sha512').update(IMAGE).digest('hex');

describe('downloadImage', () => {
  let server: TestServer;
  let uri: string;
  let count = 0;
  /** A job in a fresh directory: `partial` and `verified` next to each other. */
  const job = async (overrides: Partial<DownloadJob> = {}): Promise<DownloadJob> => {
    const dir = await tempDir('vmicast-download-');
    return {
      uri,
      size: IMAGE.length,
      sha512: SHA512,
      partialPath: join(dir, `partial/${++count}.part`),
      verifiedPath: join(dir, `${count}.img`),
      ...overrides,
    };
  };

  /** A partial file left by an earlier attempt. */
  const seed = async (j: DownloadJob, bytes: Uint8Array) => {
    await mkdir(dirname(j.partialPath), { recursive: true });
    await writeFile(j.partialPath, bytes);
  };

  before(async () => {
    server = await TestServer.start();
    uri = server.set('/image.img', IMAGE);
  });
  after(() => server.stop());

  it('fetches the image, checks size and digest, and renames it to the verified name', async () => {
    const j = await job();
    const result = await downloadImage(http, j, LIMITS);
    assert.deepEqual(result, { transferred: IMAGE.length, resumedFrom: 0, sha512: SHA512 });
    assert.ok((await readFile(j.verifiedPath)).equals(IMAGE));
    assert.equal(existsSync(j.partialPath), false);
  });

  it('resumes a partial file with Range and hashes the prefix already there', async () => {
    const j = await job();
    await seed(j, IMAGE.subarray(0, 100_000));
    const result = await downloadImage(http, j, LIMITS);
    assert.deepEqual(result, { transferred: IMAGE.length - 100_000, resumedFrom: 100_000, sha512: SHA512 });
    assert.equal(server.requests('/image.img').at(-1)?.headers.range, 'bytes=100000-');
    assert.ok((await readFile(j.verifiedPath)).equals(IMAGE));
  });

  it('starts over when the server ignores Range', async () => {
    const j = await job();
    await seed(j, IMAGE.subarray(0, 1000));
    server.fault('/image.img', { kind: 'ignore-range' });
    const result = await downloadImage(http, j, LIMITS);
    // The prefix found is reported; every byte of the image came over the network again.
    assert.deepEqual(result, { transferred: IMAGE.length, resumedFrom: 1000, sha512: SHA512 });
    assert.ok((await readFile(j.verifiedPath)).equals(IMAGE));
  });

  it('starts over when the partial file is longer than the image', async () => {
    const j = await job();
    await seed(j, Buffer.concat([IMAGE, Buffer.from('more')]));
    const result = await downloadImage(http, j, LIMITS);
    assert.equal(result.resumedFrom, 0);
    assert.ok((await readFile(j.verifiedPath)).equals(IMAGE));
  });

  it('keeps the bytes of a broken connection for a resume', async () => {
    const j = await job();
    server.fault('/image.img', { kind: 'reset', afterBytes: 120_000 });
    await rejectsWith(downloadImage(http, j, LIMITS), 'FETCH_FAILED');
    const kept = await readFile(j.partialPath);
    assert.ok(kept.length > 0 && kept.equals(IMAGE.subarray(0, kept.length)));
    assert.equal((await downloadImage(http, j, LIMITS)).resumedFrom, kept.length);
  });

  it('refuses an announced length over hv:size before reading, and deletes the partial file', async () => {
    const j = await job({ size: IMAGE.length - 1 });
    const err = await rejectsWith(downloadImage(http, j, LIMITS), 'IMAGE_TOO_LARGE');
    assert.match(err.message, /announces/);
    assert.equal(existsSync(j.partialPath), false);
  });

  it('stops a body without a length at the first byte over hv:size', async () => {
    const j = await job({ size: 1000 });
    server.fault('/image.img', { kind: 'endless' });
    const err = await rejectsWith(downloadImage(http, j, LIMITS), 'IMAGE_TOO_LARGE');
    assert.match(err.message, /sent more than/);
    assert.equal(existsSync(j.partialPath), false);
  });

  it('refuses a body shorter than hv:size', async () => {
    const j = await job({ size: IMAGE.length + 10 });
    await rejectsWith(downloadImage(http, j, LIMITS), 'IMAGE_SIZE_MISMATCH');
    assert.equal(existsSync(j.partialPath), false);
    assert.equal(existsSync(j.verifiedPath), false);
  });

  it('refuses bytes whose SHA-512 differs, and keeps none of them', async () => {
    const j = await job({ sha512: '0'.repeat(128) });
    await rejectsWith(downloadImage(http, j, LIMITS), 'IMAGE_DIGEST_MISMATCH');
    assert.equal(existsSync(j.partialPath), false);
    assert.equal(existsSync(j.verifiedPath), false);
  });

  it('reports an HTTP error status with the status in its details', async () => {
    const err = await rejectsWith(
      downloadImage(http, await job({ uri: server.url('/none') }), LIMITS),
      'HTTP_STATUS',
    );
    assert.equal(err.details?.['status'], 404);
    assert.equal(isRetryable(err), false);
  });

  it('stops a download that stalls', async () => {
    const j = await job();
    server.fault('/image.img', { kind: 'stall', afterBytes: 50_000 });
    const started = Date.now();
    const err = await rejectsWith(downloadImage(http, j, { ...LIMITS, stallMs: 400 }), 'STALLED');
    assert.match(err.message, /no data/);
    assert.ok(Date.now() - started < 5_000);
    assert.ok(existsSync(j.partialPath), 'what arrived stays for a resume');
  });

  it('stops a drip below the throughput floor', async () => {
    const j = await job();
    server.fault('/image.img', { kind: 'drip', bytesPerSecond: 2000 });
    const limits = { ...LIMITS, stallMs: 5_000, windowMs: 500, minBytesPerSecond: 100_000 };
    const err = await rejectsWith(downloadImage(http, j, limits), 'STALLED');
    assert.match(err.message, /below the floor/);
  });

  it('refuses to start without room for the image plus the margin', async () => {
    const j = await job();
    await rejectsWith(
      downloadImage(http, j, { ...LIMITS, minFreeBytes: Number.MAX_SAFE_INTEGER }),
      'DISK_FULL',
    );
  });

  it('stops when the run is aborted', async () => {
    const j = await job();
    server.fault('/image.img', { kind: 'stall', afterBytes: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const err = await downloadImage(http, j, LIMITS, controller.signal).then(
      () => assert.fail('expected an abort'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof VmiError, String(err));
  });
});

describe('isRetryable', () => {
  const err = (code: string, status?: number) =>
    new VmiError(code as never, 'x', status === undefined ? {} : { details: { status } });
  it('retries network trouble and server-side statuses, not refusals', () => {
    assert.equal(isRetryable(err('FETCH_FAILED')), true);
    assert.equal(isRetryable(err('STALLED')), true);
    assert.equal(isRetryable(err('HTTP_STATUS', 503)), true);
    assert.equal(isRetryable(err('HTTP_STATUS', 429)), true);
    assert.equal(isRetryable(err('HTTP_STATUS', 408)), true);
    assert.equal(isRetryable(err('HTTP_STATUS', 403)), false);
    assert.equal(isRetryable(err('DISK_FULL')), false);
    assert.equal(isRetryable(err('IMAGE_IDENTIFIER_UNSAFE')), false);
  });
});
