import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { before, describe, it } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import { HEAD_BYTES } from '../../../src/shared/format/detect.js';
import {
  compressionOf,
  createDecompressor,
  type Decompressor,
} from '../../../src/shared/format/stream-decompress.js';
import type { Compression } from '../../../src/shared/format/types.js';
import { tempDir } from '../../helpers/tmp.js';
import { compressWith, qemuImg, rejectsWith, requireTools, writeRawDisk } from './images.js';

const MiB = 1024 * 1024;
const LIMIT = { maxBytes: 1024 * MiB };
const COMPRESSIONS: readonly Compression[] = ['gzip', 'bzip2', 'xz'];

/** A sink hashing what it gets; `gate` holds back its first write until resolved. */
function hashSink(gate?: Promise<void>): Writable & { digest(): string; bytes: number } {
  const hash = createHash('sha256');
  let opened = gate === undefined;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const take = (): void => {
        hash.update(chunk);
        sink.bytes += chunk.length;
        callback();
      };
      if (opened) take();
      else void gate?.then(() => ((opened = true), take()));
    },
  }) as Writable & { digest(): string; bytes: number };
  sink.bytes = 0;
  sink.digest = () => hash.digest('hex');
  return sink;
}

/** 64 MiB of zeros, compressed as it is made (never held in memory). */
async function compressedZeros(compression: Compression, output: string): Promise<void> {
  const zeros = (): Readable =>
    Readable.from(
      (function* () {
        const block = Buffer.alloc(MiB);
        for (let i = 0; i < 64; i++) yield block;
      })(),
    );
  if (compression === 'gzip') {
    await pipeline(zeros(), createGzip(), createWriteStream(output));
    return;
  }
  const child = spawn(compression, ['-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('close', resolve));
  await Promise.all([pipeline(zeros(), child.stdin), pipeline(child.stdout, createWriteStream(output))]);
  assert.equal(await exited, 0);
}

/** True once the kernel has no trace of the process (a zombie still has its /proc entry). */
function gone(pid: number | undefined): boolean {
  return pid === undefined || !existsSync(`/proc/${pid}`);
}

/** Child processes and pipes this process holds open. */
function processHandles(): string {
  const names = process.getActiveResourcesInfo().filter((name) => /^(ProcessWrap|PipeWrap)$/.test(name));
  return names.sort().join(',');
}

/** Lets handles closed in this turn of the event loop go. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}

describe('decompression inside a stream', () => {
  let dir: string;
  let digest: string;
  const file = (compression: Compression, what = 'disk'): string => join(dir, `${what}.${compression}`);
  before(async () => {
    dir = await tempDir('vmicast-stream-decompress-');
    const raw = join(dir, 'disk.raw');
    digest = createHash('sha256')
      .update(await writeRawDisk(raw, 16 * MiB, 9))
      .digest('hex');
    await writeFile(file('gzip'), gzipSync(await readFile(raw)));
  });

  it('restores the exact bytes of gzip, bzip2 and xz as they arrive in small pieces', async (t) => {
    if (!requireTools(t, 'bzip2', 'xz')) return;
    compressWith('bzip2', join(dir, 'disk.raw'), file('bzip2'));
    compressWith('xz', join(dir, 'disk.raw'), file('xz'));
    for (const compression of COMPRESSIONS) {
      const decompressor = createDecompressor(compression, LIMIT);
      const sink = hashSink();
      await pipeline(createReadStream(file(compression), { highWaterMark: 4096 }), decompressor, sink);
      assert.equal(sink.digest(), digest, compression);
      assert.equal(decompressor.bytesOut, 16 * MiB, compression);
      assert.ok(gone(decompressor.pid), `${compression}: program reaped`);
    }
  });

  it('tells a compressed stream from its first bytes', async (t) => {
    if (!requireTools(t, 'qemu-img', 'bzip2', 'xz')) return;
    for (const compression of COMPRESSIONS) {
      const head = (await readFile(file(compression))).subarray(0, HEAD_BYTES);
      assert.equal(compressionOf(head), compression);
      assert.equal(compressionOf(head.subarray(0, 10)), compression, `${compression}: 10 bytes decide`);
    }
    const qcow2 = join(dir, 'plain.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', qcow2, '1M');
    assert.equal(compressionOf(await readFile(qcow2)), undefined);
    assert.equal(compressionOf((await readFile(join(dir, 'disk.raw'))).subarray(0, HEAD_BYTES)), undefined);
    assert.equal(compressionOf(Buffer.from('BZh9')), undefined, 'too short to be bzip2');
  });

  it('stops at the output cap with IMAGE_TOO_LARGE and reaps the program', async (t) => {
    if (!requireTools(t, 'xz')) return;
    compressWith('xz', join(dir, 'disk.raw'), file('xz', 'cap'));
    for (const input of [file('gzip'), file('xz', 'cap')]) {
      const compression = input.endsWith('gzip') ? 'gzip' : 'xz';
      const decompressor = createDecompressor(compression, { maxBytes: 4 * MiB });
      const sink = hashSink();
      const err = await rejectsWith(
        pipeline(createReadStream(input), decompressor, sink),
        'IMAGE_TOO_LARGE',
        'exceeds the limit of 4194304 bytes',
      );
      assert.deepEqual(err.details, { limit: 4 * MiB });
      assert.ok(sink.bytes <= 4 * MiB, `${sink.bytes} bytes passed the cap`);
      assert.ok(gone(decompressor.pid), `${compression}: program reaped`);
    }
  });

  it('reports corrupt input as CONVERSION_FAILED with the tool message', async (t) => {
    if (!requireTools(t, 'bzip2', 'xz')) return;
    const gz = await readFile(file('gzip'));
    const cases: [Compression, Buffer, string][] = [
      ['gzip', gz.subarray(0, gz.length - 100), 'gzip decompression failed'],
      ['gzip', Buffer.concat([gz.subarray(0, 20), Buffer.alloc(4096, 0x55)]), 'gzip decompression failed'],
      [
        'bzip2',
        Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(100, 0x55)]),
        'bzip2 decompression failed: bzip2:',
      ],
      [
        'xz',
        Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), Buffer.alloc(100, 1)]),
        'xz decompression failed: xz:',
      ],
    ];
    for (const [compression, bytes, fragment] of cases) {
      const decompressor = createDecompressor(compression, LIMIT);
      await rejectsWith(
        pipeline(Readable.from([bytes]), decompressor, hashSink()),
        'CONVERSION_FAILED',
        fragment,
      );
      assert.ok(gone(decompressor.pid), `${compression}: program reaped`);
    }
  });

  it('holds the output back while the reader waits, then delivers it all', async (t) => {
    if (!requireTools(t, 'bzip2', 'xz')) return;
    for (const compression of COMPRESSIONS) {
      await compressedZeros(compression, file(compression, 'zeros'));
      const decompressor = createDecompressor(compression, LIMIT);
      let open!: () => void;
      const sink = hashSink(new Promise<void>((resolve) => (open = resolve)));
      const source = createReadStream(file(compression, 'zeros'), { highWaterMark: 64 * 1024 });
      const flowing = pipeline(source, decompressor, sink);
      await new Promise((resolve) => setTimeout(resolve, 400));
      // 64 MiB would come out; a stalled reader lets a few MiB at most pile up.
      assert.ok(
        decompressor.bytesOut <= 8 * MiB,
        `${compression}: ${decompressor.bytesOut} bytes out while stalled`,
      );
      open();
      await flowing;
      assert.equal(sink.bytes, 64 * MiB, compression);
    }
  });

  it('kills and reaps the program when destroyed or aborted half-way, leaving no handle', async (t) => {
    if (!requireTools(t, 'bzip2', 'xz')) return;
    await settle();
    const handles = processHandles();
    for (const compression of COMPRESSIONS) {
      const zeros = file(compression, 'zeros');
      if (!existsSync(zeros)) await compressedZeros(compression, zeros);
      const decompressor: Decompressor = createDecompressor(compression, LIMIT);
      createReadStream(zeros, { highWaterMark: 64 * 1024 }).pipe(decompressor);
      await new Promise((resolve) => decompressor.once('data', resolve));
      const closed = new Promise((resolve) => decompressor.once('close', resolve));
      decompressor.destroy();
      await closed;
      assert.ok(gone(decompressor.pid), `${compression}: program reaped by 'close'`);

      const controller = new AbortController();
      const aborted = createDecompressor(compression, { ...LIMIT, signal: controller.signal });
      const work = pipeline(createReadStream(zeros), aborted, hashSink());
      await new Promise((resolve) => aborted.once('data', resolve));
      controller.abort(new Error('shutting down'));
      await assert.rejects(work, /shutting down/);
      assert.ok(gone(aborted.pid), `${compression}: program reaped after abort`);
    }
    await settle();
    assert.equal(processHandles(), handles, 'no child process handle left');
  });
});
