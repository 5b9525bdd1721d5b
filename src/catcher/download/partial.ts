import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { VmiError } from '../../shared/errors.js';

/**
 * The partial file of one download (issue 12): opened once, without following links, and
 * created exclusively when new; a resumed prefix is hashed through the same open file that
 * is then written; the verified rename is checked to have moved that very inode.
 */

/**
 * Opens the partial file: the existing one (never through a symbolic link) for a resume, or
 * a new one that nobody else created first.
 */
export async function openPartial(path: string): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDWR | constants.O_NOFOLLOW).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  });
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new VmiError('FETCH_FAILED', `${path} is not a regular file`);
  }
  return handle;
}

/** The size to resume from; a file longer than the image starts over. */
export async function existingSize(file: FileHandle, max: number): Promise<number> {
  const { size } = await file.stat();
  if (size <= max) return size;
  await file.truncate(0);
  return 0;
}

/** SHA-512 of the first `length` bytes (and the same bytes into `also`, e.g. a registry blob's SHA-256). */
export async function hashPrefix(
  file: FileHandle,
  length: number,
  also?: ReturnType<typeof createHash>,
): Promise<ReturnType<typeof createHash>> {
  const hash = createHash('sha512');
  const buffer = Buffer.alloc(Math.min(length, 4 << 20));
  for (let position = 0; position < length;) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, length - position), position);
    if (bytesRead === 0) throw new Error(`the partial file ended at ${position} bytes while hashing`);
    hash.update(buffer.subarray(0, bytesRead));
    also?.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash;
}

/**
 * Renames the verified partial file to its verified name and checks that the name now holds
 * the inode that was written and hashed; anything else is removed and refused.
 */
export async function keepVerified(
  job: { uri: string; size: number; partialPath: string; verifiedPath: string },
  written: { dev: number; ino: number },
): Promise<void> {
  await rename(job.partialPath, job.verifiedPath);
  const info = await lstat(job.verifiedPath).catch(() => undefined);
  if (
    info?.isFile() !== true ||
    info.dev !== written.dev ||
    info.ino !== written.ino ||
    info.size !== job.size
  ) {
    await rm(job.verifiedPath, { force: true });
    throw new VmiError(
      'IMAGE_DIGEST_MISMATCH',
      `${job.uri}: the partial file was replaced during the download; the bytes were not kept`,
    );
  }
}
