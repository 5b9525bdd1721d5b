import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { VmiError } from './errors.js';

/**
 * Writes `data` to `path` so that readers see either the old file or the new one, never
 * a torn one: temporary file in the same directory, fsync, rename, fsync of the directory.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new VmiError('DISK_FULL', `no space left to write ${path}`, { cause: err });
    }
    throw err;
  }
  await syncDirectory(dir);
}

/** Makes a rename durable: fsync the directory entry (a no-op where not supported). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await handle.close();
  }
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/**
 * Suffixes vmicast adds to an identifier for another file in the same directory (the
 * directory backend's `<id>.json` sidecar). An identifier ending in one could take that
 * file of another image, so it is refused; compared without case for file systems that
 * fold it.
 */
const DERIVED_SUFFIXES = ['.json'];

/**
 * An image identifier (a string from a list) may only become a file name when it cannot
 * escape its directory, hide, or equal a name vmicast derives for another image: a letter
 * or digit first (every name vmicast keeps for itself starts with a dot), no separators,
 * no `..`, a bounded length, no derived suffix. Anything else is refused for that image
 * with IMAGE_IDENTIFIER_UNSAFE.
 */
export function safeFileName(value: string, what = 'identifier'): string {
  const lower = value.toLowerCase();
  if (
    !SAFE_NAME.test(value) ||
    value.includes('..') ||
    DERIVED_SUFFIXES.some((suffix) => lower.endsWith(suffix))
  ) {
    throw new VmiError(
      'IMAGE_IDENTIFIER_UNSAFE',
      `${what} ${JSON.stringify(value)} cannot be used as a file name`,
    );
  }
  return value;
}
