import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DigestStream } from '../../../shared/digest.js';
import { VmiError } from '../../../shared/errors.js';
import { chunkReleaser } from '../../../shared/memory.js';

/** 256 KiB reads: a chunk is sent before two young collections can promote it. */
const READ_BUFFER = 256 * 1024;

/**
 * A disk file as an upload body: its size, a fresh stream of it for each attempt, and the
 * size and SHA-512 of what the last attempt sent, measured as the bytes went out.
 */
export async function fileBody(file: string): Promise<{
  size: number;
  body: () => Readable;
  sent: () => { bytes: number; sha512: string };
}> {
  const size = await stat(file).then(
    (info) => info.size,
    (err: unknown) => {
      throw new VmiError('BACKEND_FAILED', `cannot read disk for Glance: ${(err as Error).message}`);
    },
  );
  let digest = new DigestStream();
  const body = (): Readable => {
    digest = new DigestStream();
    const source = createReadStream(file, { highWaterMark: READ_BUFFER });
    const release = chunkReleaser(4 * READ_BUFFER);
    source.on('data', (chunk) => release(chunk.length));
    source.once('close', () => release.close());
    source.on('error', (err) => digest.destroy(err));
    // When the request gives up on the body, close the file too.
    digest.on('close', () => source.destroy());
    return source.pipe(digest);
  };
  return { size, body, sent: () => ({ bytes: digest.bytes, sha512: digest.hex() }) };
}
