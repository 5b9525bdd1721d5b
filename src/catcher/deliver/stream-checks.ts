import { createHash, type Hash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VmiError } from '../../shared/errors.js';
import { detectFormatFromHeader, headerRefusal, TAIL_BYTES } from '../../shared/format/detect.js';
import { prepareDisks } from '../../shared/format/prepare.js';
import { DEFAULT_FORMAT_LIMITS, type DiskFormat } from '../../shared/format/types.js';

/**
 * The format checks a disk passes before a backend may keep the bytes it received during the
 * download (issue 14): the same rules as any delivery (prepare.ts), on the verified cache file
 * when the bytes went as they are, or on what went by when they were decompressed on the way.
 */

/** Proves that the whole verified file is the disk its first bytes showed, as prepare.ts sees it. */
export async function checkFileFormat(
  file: string,
  format: DiskFormat,
  workDir: string,
  signal: AbortSignal,
): Promise<void> {
  const dir = await mkdtemp(join(workDir, '.check-'));
  try {
    const disks = await prepareDisks(file, [format], dir, signal);
    const [disk] = disks;
    if (disks.length !== 1 || disk?.path !== file || disk.format !== format) {
      throw new VmiError(
        'FORMAT_UNSUPPORTED',
        `the whole file is not the ${format} disk its first bytes showed`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Size, SHA-512, head and tail of decompressed bytes as they go by. */
export class PassingBytes {
  size = 0;
  private readonly hash: Hash = createHash('sha512');
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);

  constructor(private readonly headBytes: number) {}

  add(chunk: Buffer): void {
    this.size += chunk.length;
    this.hash.update(chunk);
    if (this.head.length < this.headBytes) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, this.headBytes - this.head.length)]);
    }
    const joined = chunk.length >= TAIL_BYTES ? chunk : Buffer.concat([this.tail, chunk]);
    this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - TAIL_BYTES)));
  }

  /** Call once, after the last byte. */
  digest(): { size: number; sha512: string; head: Buffer; tail: Buffer } {
    return { size: this.size, sha512: this.hash.digest('hex'), head: this.head, tail: this.tail };
  }
}

/**
 * The checks prepare.ts makes, judged from the headers alone (the bytes are gone): only raw
 * and qcow2 are taken this way. Throws FORMAT_UNSUPPORTED or IMAGE_TOO_LARGE.
 */
export function checkUnpackedFormat(
  format: DiskFormat,
  seen: { size: number; head: Buffer; tail: Buffer },
): void {
  const detected = detectFormatFromHeader(seen.head, seen.tail);
  const as = detected === 'iso' ? 'raw' : detected;
  if (as !== format || (format !== 'raw' && format !== 'qcow2')) {
    throw new VmiError(
      'FORMAT_UNSUPPORTED',
      `decompressed bytes are ${detected}, not the ${format} they began as`,
    );
  }
  const refusal = headerRefusal(detected, seen);
  if (refusal !== undefined)
    throw new VmiError('FORMAT_UNSUPPORTED', `${refusal}; only self-contained images are accepted`);
  const limit = DEFAULT_FORMAT_LIMITS.maxVirtualSize;
  const virtualSize = format === 'qcow2' ? Number(seen.head.readBigUInt64BE(24)) : seen.size;
  if (format === 'raw' && (seen.size === 0 || seen.size % 512 !== 0)) {
    throw new VmiError(
      'FORMAT_UNSUPPORTED',
      `not a disk image (${seen.size} bytes is not a whole number of sectors)`,
    );
  }
  if (virtualSize > limit) {
    throw new VmiError('IMAGE_TOO_LARGE', `virtual size ${virtualSize} bytes exceeds the limit of ${limit}`, {
      details: { limit, virtualSize },
    });
  }
}
