import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkReleaser } from '../../src/shared/memory.js';

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
    const peak = peakArrayBuffers(chunkReleaser(4 << 20));
    assert.ok(peak < 24 * 1024 * 1024, `peak arrayBuffers ${Math.round(peak / 1048576)} MB`);
  });

  it('leaves the program global without gc', () => {
    chunkReleaser();
    assert.equal((globalThis as { gc?: unknown }).gc, undefined);
  });
});
