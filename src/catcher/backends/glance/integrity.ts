import { createHash, getHashes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Logger } from 'pino';
import type { GlanceImage, PatchOp } from './client.js';
import { PROP } from './properties.js';

/**
 * Whether Glance holds exactly the bytes of a disk: its `size`, and its `os_hash_value`
 * (SHA-512 by default since Glance 17, the multihash of Image API 2.7). The
 * `vmicast_disk_sha512` mark says the check passed once, so an adopted image need not be
 * read again.
 */

/** The patch operation that records a passed check. */
export function markVerified(sha512: string): PatchOp {
  return { op: 'add', path: `/${PROP.diskSha512}`, value: sha512 };
}

/** Compares what Glance stored with a local disk's size and SHA-512 (re-reading it for another algorithm). */
export async function storedMatches(
  stored: GlanceImage,
  path: string | undefined,
  local: { size: number; sha512: string },
  log: Logger,
): Promise<boolean> {
  if (stored.size !== local.size) return false;
  const algo = stored.os_hash_algo;
  const value = stored.os_hash_value;
  if (typeof algo !== 'string' || typeof value !== 'string') {
    log.warn(
      { ref: stored.id },
      'Glance reports no os_hash_value (Image API before 2.7); only the size was compared',
    );
    return true;
  }
  if (algo === 'sha512') return value === local.sha512;
  if (path === undefined) {
    log.warn(
      { algo },
      'Glance hashes with another algorithm and no file is at hand to compare; not accepted',
    );
    return false;
  }
  const other = await hashFile(path, algo);
  if (other === undefined) {
    log.warn({ algo }, 'Glance hash algorithm unknown here; only the size was compared');
  }
  return other === undefined || other === value;
}

/** Hex digest of a file with a hash Glance named (hashlib names); undefined when Node lacks it. */
export async function hashFile(path: string, algo: string): Promise<string | undefined> {
  const name = algo.toLowerCase().replace(/_/g, '-');
  if (!getHashes().includes(name)) return undefined;
  const hash = createHash(name);
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}
