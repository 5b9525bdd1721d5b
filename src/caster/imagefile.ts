import { createHash, type Hash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { VmiError } from '../shared/errors.js';
import { createHttpClient, transferError } from '../shared/http.js';
import { VERSION } from '../shared/version.js';
import { HEADER_BYTES, TAIL_BYTES } from './format.js';

/**
 * Size, SHA-512 and the first bytes of an image, read exactly once and never held in
 * memory: the facts `image add` writes into the list. Also the benchmark hook that is
 * compared with `sha512sum`.
 */

export interface ImageFacts {
  size: number;
  sha512: string;
  /** The first bytes (up to HEADER_BYTES), for format detection. */
  header: Uint8Array;
  /** The last bytes (up to TAIL_BYTES): a fixed VHD has its only signature there. */
  tail: Uint8Array;
}

export type Progress = (bytes: number) => void;

/** Large reads; two buffers so that the next read runs while the current one is hashed. */
const READ_CHUNK = 8 * 1024 * 1024;

/** One pass over an image: size, SHA-512, head and tail (also used by the registry commands). */
export class Measure {
  private readonly hash: Hash = createHash('sha512');
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer = Buffer.alloc(0);
  size = 0;

  constructor(private readonly onProgress?: Progress) {}

  add(chunk: Uint8Array): void {
    this.hash.update(chunk);
    if (this.headBytes < HEADER_BYTES) {
      const part = Buffer.from(chunk.subarray(0, HEADER_BYTES - this.headBytes));
      this.head.push(Buffer.from(part)); // a copy: read buffers are reused
      this.headBytes += part.length;
    }
    this.tail =
      chunk.length >= TAIL_BYTES
        ? Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES))
        : Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES);
    this.size += chunk.length;
    this.onProgress?.(this.size);
  }

  facts(): ImageFacts {
    return {
      size: this.size,
      sha512: this.hash.digest('hex'),
      header: new Uint8Array(Buffer.concat(this.head)),
      tail: new Uint8Array(this.tail),
    };
  }
}

/** Measures a local file in one pass (the `image add --file` path). */
export async function measureFile(path: string, onProgress?: Progress): Promise<ImageFacts> {
  const info = await stat(path).catch((err: unknown) => {
    throw new VmiError('USAGE', `cannot read image file ${path}: ${(err as Error).message}`, { cause: err });
  });
  if (!info.isFile()) throw new VmiError('USAGE', `${path} is not a regular file`);
  const measure = new Measure(onProgress);
  const handle = await open(path, 'r');
  try {
    const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
    let index = 0;
    let pending = handle.read(buffers[0] as Buffer, 0, READ_CHUNK, null);
    for (;;) {
      const { bytesRead, buffer } = await pending;
      if (bytesRead === 0) break;
      index ^= 1;
      pending = handle.read(buffers[index] as Buffer, 0, READ_CHUNK, null);
      measure.add(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return measure.facts();
}

/** Image URLs must be http or https: they end up in `hv:uri`, which readers require so. */
export function checkImageUrl(value: string, what = 'image URL'): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new VmiError('USAGE', `${what} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new VmiError('USAGE', `${what} must be http or https: ${JSON.stringify(value)}`);
  }
  return url;
}

/**
 * Measures an image served over HTTP(S) while it streams, with the shared HTTP client: TLS
 * always verified (system CAs plus NODE_EXTRA_CA_CERTS), proxies from the environment, no
 * downgrade on redirects, no retries, no decompression.
 */
export async function measureUrl(
  url: string,
  onProgress?: Progress,
  options: { connectTimeoutMs?: number; idleTimeoutMs?: number } = {},
): Promise<ImageFacts> {
  checkImageUrl(url);
  const measure = new Measure(onProgress);
  try {
    const stream = createHttpClient({ userAgent: `vmicaster/${VERSION}` }).stream(url, {
      timeout: { connect: options.connectTimeoutMs ?? 30_000, socket: options.idleTimeoutMs ?? 120_000 },
    });
    stream.on('response', (response: { statusCode: number }) => {
      if (response.statusCode < 200 || response.statusCode > 299) {
        stream.destroy(new VmiError('HTTP_STATUS', `${url}: HTTP ${response.statusCode}`));
      }
    });
    for await (const chunk of stream) measure.add(chunk as Buffer);
  } catch (err) {
    throw transferError(err, url);
  }
  return measure.facts();
}
