import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decompressFile } from '../../../src/shared/format/decompress.js';
import { tempDir } from '../../helpers/tmp.js';
import { compressWith, listTree, rejectsWith, requireTools, writeRawDisk } from './images.js';

const MiB = 1024 * 1024;
const LIMIT = { maxBytes: 64 * MiB };

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('streaming decompression', () => {
  let dir: string;
  let raw: string;
  let rawDigest: string;
  before(async () => {
    dir = await tempDir('vmicast-decompress-');
    raw = join(dir, 'disk.raw');
    // 16 MiB with data only in the first and last MiB, like a mostly empty disk.
    rawDigest = sha256(await writeRawDisk(raw, 16 * MiB, 5));
    await writeFile(join(dir, 'disk.gz'), gzipSync(await readFile(raw)));
  });

  it('restores the exact bytes from gzip, bzip2 and xz, writing zero runs as holes', async (t) => {
    if (!requireTools(t, 'bzip2', 'xz')) return;
    compressWith('bzip2', raw, join(dir, 'disk.bz2'));
    compressWith('xz', raw, join(dir, 'disk.xz'));
    for (const compression of ['gzip', 'bzip2', 'xz'] as const) {
      const input = join(dir, { gzip: 'disk.gz', bzip2: 'disk.bz2', xz: 'disk.xz' }[compression]);
      const output = join(dir, `out-${compression}.raw`);
      const bytes = await decompressFile(input, compression, output, LIMIT);
      assert.equal(bytes, 16 * MiB, compression);
      assert.equal(sha256(await readFile(output)), rawDigest, compression);
      const { blocks } = await stat(output);
      // 2 MiB of data; the 14 MiB of zeros in between are holes (allow filesystem overhead).
      assert.ok(blocks * 512 < 8 * MiB, `${compression}: ${blocks * 512} bytes allocated for 2 MiB of data`);
    }
  });

  it('stops at the size cap with IMAGE_TOO_LARGE and leaves no output', async (t) => {
    if (!requireTools(t, 'xz')) return;
    compressWith('xz', raw, join(dir, 'cap.xz'));
    for (const [compression, input] of [
      ['gzip', 'disk.gz'],
      ['xz', 'cap.xz'],
    ] as const) {
      const output = join(dir, `capped-${compression}.raw`);
      const err = await rejectsWith(
        decompressFile(join(dir, input), compression, output, { maxBytes: 4 * MiB }),
        'IMAGE_TOO_LARGE',
        'exceeds the limit of 4194304 bytes',
      );
      assert.deepEqual(err.details, { limit: 4 * MiB });
      await assert.rejects(stat(output), { code: 'ENOENT' });
    }
  });

  it('reports corrupt data as CONVERSION_FAILED with the tool message, leaving no output', async (t) => {
    if (!requireTools(t, 'bzip2', 'xz')) return;
    const gz = await readFile(join(dir, 'disk.gz'));
    await writeFile(join(dir, 'truncated.gz'), gz.subarray(0, gz.length - 100));
    await rejectsWith(
      decompressFile(join(dir, 'truncated.gz'), 'gzip', join(dir, 'bad-gz.raw'), LIMIT),
      'CONVERSION_FAILED',
      'gzip decompression failed',
    );
    const fake = join(dir, 'fake.bz2');
    await writeFile(fake, Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(100, 0x55)]));
    await rejectsWith(
      decompressFile(fake, 'bzip2', join(dir, 'bad-bz.raw'), LIMIT),
      'CONVERSION_FAILED',
      'bzip2 decompression failed: bzip2:',
    );
    const fakeXz = join(dir, 'fake.xz');
    await writeFile(
      fakeXz,
      Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), Buffer.alloc(100, 1)]),
    );
    await rejectsWith(
      decompressFile(fakeXz, 'xz', join(dir, 'bad-xz.raw'), LIMIT),
      'CONVERSION_FAILED',
      'xz decompression failed: xz:',
    );
    const left = (await listTree(dir)).filter((name) => name.startsWith('bad-'));
    assert.deepEqual(left, []);
  });

  it('leaves no output when aborted, before or during the work', async (t) => {
    if (!requireTools(t, 'xz')) return;
    const before = new AbortController();
    before.abort(new Error('stop now'));
    await assert.rejects(
      decompressFile(join(dir, 'disk.gz'), 'gzip', join(dir, 'abort-1.raw'), {
        ...LIMIT,
        signal: before.signal,
      }),
      /stop now/,
    );
    compressWith('xz', raw, join(dir, 'abort.xz'));
    for (const [compression, input] of [
      ['gzip', 'disk.gz'],
      ['xz', 'abort.xz'],
    ] as const) {
      const during = new AbortController();
      const output = join(dir, `abort-${compression}.raw`);
      const work = decompressFile(join(dir, input), compression, output, { ...LIMIT, signal: during.signal });
      during.abort(new Error('shutting down'));
      await assert.rejects(work, /shutting down/);
      await assert.rejects(stat(output), { code: 'ENOENT' });
    }
    await assert.rejects(stat(join(dir, 'abort-1.raw')), { code: 'ENOENT' });
  });

  it('never overwrites an existing output', async () => {
    const output = join(dir, 'exists.raw');
    await writeFile(output, 'keep me');
    await assert.rejects(decompressFile(join(dir, 'disk.gz'), 'gzip', output, LIMIT), { code: 'EEXIST' });
    assert.equal(await readFile(output, 'utf8'), 'keep me');
  });
});
