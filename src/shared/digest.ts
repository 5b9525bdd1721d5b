import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Size and SHA-512 computed while bytes stream past, so an image is read once and never
 * held in memory. `onProgress` lets a caller draw a progress bar.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha512');
  bytes = 0;

  constructor(private readonly onProgress?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onProgress?.(this.bytes);
    callback(null, chunk);
  }

  /** Lowercase hex SHA-512; call once, after the stream ended. */
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** Size and SHA-512 of a file, streaming, with large reads for speed. */
export async function digestFile(
  path: string,
  onProgress?: (bytes: number) => void,
): Promise<{ size: number; sha512: string }> {
  const hash = createHash('sha512');
  let size = 0;
  await pipeline(
    createReadStream(path, { highWaterMark: 4 * 1024 * 1024 }),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        onProgress?.(size);
      }
    },
  );
  return { size, sha512: hash.digest('hex') };
}
