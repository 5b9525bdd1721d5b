import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import type {
  Backend,
  ImageRecord,
  InflightUpload,
  StreamedDisk,
  VerifiedBytes,
} from '../../src/catcher/backends/types.js';
import { InflightDelivery } from '../../src/catcher/deliver/inflight.js';
import { TailHold } from '../../src/catcher/deliver/tail-hold.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The download's second destination (issue 14): bytes reach the backends that take them as
 * they are while the download runs, but the tail of each upload waits for the verdict.
 */

const log = pino({ level: 'silent' });
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');
const image = { identifier: 'img', sha512: 'x', size: 0 } as unknown as ImageRecord;

function chunks(total: number, size: number, fill = 1): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < total; at += size) out.push(Buffer.alloc(Math.min(size, total - at), fill));
  return out;
}

/** Collects what comes out of a readable side. */
function collect(stream: PassThrough | TailHold): { bytes: () => number; ended: Promise<void> } {
  let bytes = 0;
  stream.on('data', (c: Buffer) => (bytes += c.length));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return { bytes: () => bytes, ended };
}

describe('TailHold', () => {
  it('keeps the last bytes back until release, then sends everything', async () => {
    const hold = new TailHold(64 * 1024, 1 << 20);
    const out = collect(hold);
    for (const c of chunks(1 << 20, 16 * 1024)) hold.write(c);
    hold.end();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(out.bytes() <= (1 << 20) - 64 * 1024, `sent ${out.bytes()} before release`);
    assert.ok(out.bytes() >= (1 << 20) - 128 * 1024);
    hold.release();
    await out.ended;
    assert.equal(out.bytes(), 1 << 20);
  });

  it('never sends the tail when aborted', async () => {
    const hold = new TailHold(64 * 1024, 1 << 20);
    const out = collect(hold);
    for (const c of chunks(256 * 1024, 16 * 1024)) hold.write(c);
    hold.end();
    await new Promise((r) => setTimeout(r, 20));
    hold.abort(new Error('digest mismatch'));
    await assert.rejects(out.ended, /digest mismatch/);
    assert.ok(out.bytes() <= 192 * 1024);
  });
});

/** A backend whose uploads are PassThroughs, recording what happened to them. */
function fakeBackend(
  name: string,
  consume = true,
): { backend: Backend; events: string[]; received: () => number } {
  const events: string[] = [];
  let received = 0;
  const backend = {
    name,
    type: 'fake',
    input: { kind: 'disks', formats: ['raw', 'qcow2'] },
    receive: (_image: ImageRecord, disk: StreamedDisk): Promise<InflightUpload> => {
      events.push(`receive ${disk.format}`);
      const sink = new PassThrough({ highWaterMark: 64 * 1024 });
      if (consume) sink.on('data', (c: Buffer) => (received += c.length));
      return Promise.resolve({
        sink,
        commit: (verified: VerifiedBytes) => {
          events.push(verified.file === undefined ? `commit ${verified.size} ${verified.sha512}` : 'commit');
          return Promise.resolve({ refs: [`${name}-ref`] });
        },
        abort: (reason: Error) => {
          events.push(`abort ${reason.message}`);
          return Promise.resolve();
        },
      });
    },
  } as unknown as Backend;
  return { backend, events, received: () => received };
}

async function pass(backends: Backend[], data: Buffer[], stallMs = 5_000): Promise<InflightDelivery> {
  const inflight = new InflightDelivery({
    backends,
    image,
    log,
    signal: new AbortController().signal,
    now: new Date(),
    workDir: await tempDir('vmicast-inflight-'),
    stallMs,
  });
  for (const c of data) {
    if (!inflight.write(c)) await new Promise((r) => inflight.once('drain', r));
  }
  await new Promise<void>((resolve) => inflight.end(() => resolve()));
  return inflight;
}

describe('InflightDelivery', () => {
  it('sends a raw disk to every backend and commits with the verified file', async () => {
    const dir = await tempDir('vmicast-inflight-file-');
    const data = chunks(1 << 20, 64 * 1024, 7);
    const file = join(dir, 'disk');
    await writeFile(file, Buffer.concat(data));
    const a = fakeBackend('a');
    const b = fakeBackend('b');
    const inflight = await pass([a.backend, b.backend], data);
    assert.equal(a.received(), 1 << 20);
    assert.equal(b.received(), 1 << 20);
    assert.deepEqual(await inflight.commit(file), [
      { backend: 'a', refs: ['a-ref'] },
      { backend: 'b', refs: ['b-ref'] },
    ]);
    assert.deepEqual(a.events, ['receive raw', 'commit']);
  });

  it('decompresses a gzip image on the way and commits on what came out', async () => {
    const raw = Buffer.concat(chunks(2 << 20, 64 * 1024, 9));
    const a = fakeBackend('a');
    const inflight = await pass([a.backend], chunks(0, 1).concat([gzipSync(raw)]));
    assert.deepEqual(await inflight.commit('/nonexistent: the unpacked bytes are checked, not the file'), [
      { backend: 'a', refs: ['a-ref'] },
    ]);
    assert.equal(a.received(), raw.length);
    assert.deepEqual(a.events, ['receive raw', `commit ${raw.length} ${sha512(raw)}`]);
  });

  it('refuses decompressed bytes that are no disk: nothing kept', async () => {
    const odd = Buffer.concat([Buffer.alloc(1 << 20, 9), Buffer.from('x')]);
    const a = fakeBackend('a');
    const inflight = await pass([a.backend], [gzipSync(odd)]);
    assert.deepEqual(await inflight.commit('/nonexistent'), []);
    assert.match(a.events.at(-1) ?? '', /^abort not a disk image/);
  });

  it('aborts when the whole file is not the disk the head showed', async () => {
    const dir = await tempDir('vmicast-inflight-odd-');
    const data = chunks(128 * 1024, 64 * 1024, 1);
    const file = join(dir, 'disk');
    // Not whole 512-byte sectors: prepare.ts refuses it as a raw disk.
    await writeFile(file, Buffer.concat([...data, Buffer.from('x')]));
    const a = fakeBackend('a');
    const inflight = await pass([a.backend], data);
    assert.deepEqual(await inflight.commit(file), []);
    assert.equal(a.events[0], 'receive raw');
    assert.match(a.events[1] ?? '', /^abort /);
  });

  it('drops a backend that takes nothing for too long; the download goes on', async () => {
    const slow = fakeBackend('slow', false);
    const fast = fakeBackend('fast');
    const data = chunks(4 << 20, 64 * 1024, 3);
    const inflight = await pass([slow.backend, fast.backend], data, 200);
    assert.equal(fast.received(), 4 << 20);
    assert.match(slow.events[1] ?? '', /^abort backend took nothing/);
    assert.deepEqual(inflight.receiving, ['fast']);
  });

  it('aborts an upload that was still being opened when the download failed', async () => {
    const a = fakeBackend('a');
    const receive = a.backend.receive?.bind(a.backend);
    const slow = {
      ...a.backend,
      receive: async (...args: Parameters<NonNullable<Backend['receive']>>) => {
        await new Promise((r) => setTimeout(r, 100));
        return receive?.(...args);
      },
    } as Backend;
    const inflight = new InflightDelivery({
      backends: [slow],
      image,
      log,
      signal: new AbortController().signal,
      now: new Date(),
      workDir: await tempDir('vmicast-inflight-'),
      stallMs: 5_000,
    });
    inflight.write(Buffer.alloc(64 * 1024));
    await new Promise((r) => setTimeout(r, 10));
    await inflight.abort(new Error('cut'));
    assert.deepEqual(a.events, ['receive raw', 'abort cut']);
  });

  it('aborts every upload when the download fails', async () => {
    const a = fakeBackend('a');
    const inflight = await pass([a.backend], chunks(256 * 1024, 64 * 1024));
    await inflight.abort(new Error('IMAGE_DIGEST_MISMATCH'));
    assert.deepEqual(a.events, ['receive raw', 'abort IMAGE_DIGEST_MISMATCH']);
  });
});
