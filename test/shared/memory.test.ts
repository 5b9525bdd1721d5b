import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkReleaser, releaserCollections } from '../../src/shared/memory.js';

/** Issue 14, item 6: dead transfer chunks are freed as the bytes flow, not in 60 MB heaps. */

function peakArrayBuffers(onChunk: (bytes: number) => void): number {
  let peak = 0;
  // 256 MiB in 64 KiB chunks, each dropped at once, the way a hashed and written body chunk is.
  for (let i = 0; i < 4096; i++) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    chunk[0] = i & 0xff;
    onChunk(chunk.length);
    if (i % 16 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }
  return peak;
}

describe('chunkReleaser (src/shared/memory.ts)', () => {
  it('keeps dead chunk buffers below a few MiB', () => {
    const release = chunkReleaser(4 << 20);
    const peak = peakArrayBuffers(release);
    release.close();
    assert.ok(peak < 24 * 1024 * 1024, `peak arrayBuffers ${Math.round(peak / 1048576)} MB`);
  });

  it('frees chunks that lived long enough to be promoted (a slow receiver)', () => {
    const release = chunkReleaser(1 << 20);
    // Each chunk waits behind 3 MiB of others: it outlives several young collections.
    const waiting: Buffer[] = [];
    let peak = 0;
    for (let i = 0; i < 8192; i++) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      chunk[0] = i & 0xff;
      waiting.push(chunk);
      if (waiting.length > 48) waiting.shift();
      release(chunk.length);
      if (i % 16 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    release.close();
    // Measured: 8 MB; with young collections alone, 73 MB.
    assert.ok(peak < 24 * 1024 * 1024, `peak arrayBuffers ${Math.round(peak / 1048576)} MB`);
  });

  it('transfers running at once share one interval, the sum of theirs', () => {
    const MiB = 1 << 20;
    const a = chunkReleaser(MiB);
    const b = chunkReleaser(MiB);
    const before = releaserCollections();
    // 8 MiB in all, alternating: every 2 MiB of the two together, not every MiB of each.
    for (let i = 0; i < 64; i++) (i % 2 === 0 ? a : b)(128 * 1024);
    assert.equal(releaserCollections() - before, 4);
    b.close();
    b.close(); // closing twice gives nothing back twice
    const alone = releaserCollections();
    for (let i = 0; i < 32; i++) a(128 * 1024);
    assert.equal(releaserCollections() - alone, 4, 'every MiB once the other ended');
    a.close();
  });

  it('leaves the program global without gc', () => {
    chunkReleaser().close();
    assert.equal((globalThis as { gc?: unknown }).gc, undefined);
  });
});
