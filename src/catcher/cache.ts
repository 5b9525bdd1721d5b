import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CatcherConfig } from './config.js';
import { expiredFileName } from './events.js';
import { safeFileName, syncDirectory } from '../shared/fsutil.js';

/**
 * Renames `from` to `to`; across file systems (vmcatcher's directories may be on different
 * ones) copies to a temporary name next to `to`, syncs, renames, then removes `from`.
 */
async function move(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  const tmp = join(dirname(to), `.${basename(to)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await copyFile(from, tmp);
    const handle = await open(tmp, 'r');
    await handle.sync().finally(() => handle.close());
    await rename(tmp, to);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await rm(from, { force: true });
}

/**
 * The vmcatcher-compatible cache layout (SPEC.md section 6): `<cache>/<uuid>` for the
 * current file, `<expired>/<uuid>.<YYYY-mm-dd_HH-MM-SS>` for retired ones, and a partial
 * directory: `<uuid>.<sha512 prefix>.part` while downloading, `<uuid>` once verified.
 */
export class CacheLayout {
  constructor(private readonly dirs: CatcherConfig['cache']) {}

  get cacheDir(): string {
    return this.dirs.dir;
  }

  get partialDir(): string {
    return this.dirs.partialDir;
  }

  get expiredDir(): string {
    return this.dirs.expiredDir;
  }

  async ensure(): Promise<void> {
    for (const dir of [this.dirs.dir, this.dirs.partialDir, this.dirs.expiredDir]) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
    }
  }

  cached(identifier: string): string {
    return join(this.dirs.dir, safeFileName(identifier));
  }

  /** Where a download in progress grows; named per instance so resumes never mix bytes. */
  downloading(identifier: string, sha512: string): string {
    return join(this.dirs.partialDir, `${safeFileName(identifier)}.${sha512.slice(0, 16)}.part`);
  }

  /** A verified file waiting in the partial directory for its AvailablePrefix event. */
  verified(identifier: string): string {
    return join(this.dirs.partialDir, safeFileName(identifier));
  }

  async exists(path: string): Promise<boolean> {
    return stat(path).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** verified -> cache (atomic rename within the same filesystem, else copy+rename). */
  async promote(identifier: string): Promise<void> {
    await move(this.verified(identifier), this.cached(identifier));
    await syncDirectory(this.dirs.dir);
  }

  /** cache -> expired, returning the expired file name (undefined when nothing was cached). */
  async expire(identifier: string, at: Date): Promise<string | undefined> {
    const name = expiredFileName(safeFileName(identifier), at);
    const target = join(this.dirs.expiredDir, name);
    try {
      await move(this.cached(identifier), target);
      // Retention counts from retirement, not from the download (rename keeps the mtime).
      await utimes(target, at, at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return name;
  }

  /** Deletes expired files older than the retention period; returns the names removed. */
  async purge(now: Date): Promise<string[]> {
    const limit = now.getTime() - this.dirs.retentionDays * 86400_000;
    const removed: string[] = [];
    for (const name of await readdir(this.dirs.expiredDir).catch(() => [] as string[])) {
      const path = join(this.dirs.expiredDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile() === true && info.mtimeMs < limit) {
        await rm(path, { force: true });
        removed.push(name);
      }
    }
    return removed;
  }
}
