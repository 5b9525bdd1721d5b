import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from './scratch.js';
import { sizeLabel } from './stats.js';

/**
 * Random test images, made once and reused: incompressible bytes (an AES-CTR key stream,
 * fast to make, no sparse holes), written to disk with their SHA-512 computed on the way.
 * `bench/run.sh` shares one data directory between all benchmarks (VMICAST_BENCH_DATA)
 * and removes it at the end; a benchmark run on its own uses a directory of its own.
 */

export interface DataFile {
  path: string;
  size: number;
  sha512: string;
  /** File name inside the data directory (for URLs). */
  name: string;
}

let own: string | undefined;

/** The shared data directory (created on demand). */
export function dataDir(): string {
  const shared = process.env['VMICAST_BENCH_DATA'];
  if (shared !== undefined && shared !== '') {
    mkdirSync(shared, { recursive: true, mode: 0o755 });
    return shared;
  }
  own ??= scratchDir('vmicast-bench-data-');
  return own;
}

/** Bytes free on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

/** Throws when `needed` bytes (plus 1 GiB of margin) do not fit. */
export async function ensureSpace(dir: string, needed: number): Promise<void> {
  const free = await freeBytes(dir);
  if (free < needed + 1024 ** 3) {
    throw new SkipError(`${dir} has ${sizeLabel(free)} free; ${sizeLabel(needed)} plus 1 GiB needed`);
  }
}

/** A benchmark that cannot run here (a tool is missing, no disk space): skipped, not failed. */
export class SkipError extends Error {
  override name = 'SkipError';
}

const CHUNK = 8 * 1024 * 1024;

/**
 * A file of `size` random bytes named `random-<size>.bin` in the data directory;
 * `tag` makes another one of the same size (`random-<size>-<tag>.bin`, other bytes).
 */
export async function randomFile(size: number, tag?: string): Promise<DataFile> {
  const dir = dataDir();
  const name = tag === undefined ? `random-${size}.bin` : `random-${size}-${tag}.bin`;
  const path = join(dir, name);
  const sumPath = `${path}.sha512`;
  const existing = await stat(path).catch(() => undefined);
  if (existing?.size === size) {
    const sha512 = (await readFile(sumPath, 'utf8').catch(() => '')).trim();
    if (sha512.length === 128) return { path, size, sha512, name };
  }
  await ensureSpace(dir, size);
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(CHUNK);
  const hash = createHash('sha512');
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    for (let done = 0; done < size; done += CHUNK) {
      const chunk = cipher.update(zeros.subarray(0, Math.min(CHUNK, size - done)));
      hash.update(chunk);
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  const sha512 = hash.digest('hex');
  await rename(tmp, path);
  await writeFile(sumPath, `${sha512}\n`);
  return { path, size, sha512, name };
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** SHA-512 of `length` bytes of `file` from `offset` (for images served as slices of it). */
export async function sliceSha512(file: DataFile, offset: number, length: number): Promise<string> {
  const hash = createHash('sha512');
  const handle = await open(file.path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (let done = 0; done < length;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, length - done), offset + done);
      if (bytesRead === 0) throw new Error(`${file.path} is shorter than ${offset + length} bytes`);
      hash.update(buffer.subarray(0, bytesRead));
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
