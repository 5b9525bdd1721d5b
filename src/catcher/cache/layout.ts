import { createHash, randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { CatcherConfig } from '../config.js';
import { expiredFileName } from '../events/environment.js';
import { VmiError } from '../../shared/errors.js';
import { safeFileName, syncDirectory } from '../../shared/fsutil.js';

/**
 * The cache layout (SPEC.md sections 6 and 7, issue 12).
 *
 * Names vmcatcher's hooks know stay as they were: `<cache>/<id>` for the current file,
 * `<expired>/<id>.<YYYY-mm-dd_HH-MM-SS>` for retired ones (injective: the time stamp has a
 * fixed length), and `<partial>/<id>` while the AvailablePrefix event runs.
 *
 * Everything else vmicast keeps in the partial directory lives in a namespace no image
 * identifier can reach: identifiers start with a letter or digit (fsutil.safeFileName), these
 * names start with a dot. A download grows in `.<key>.<random>.part` and, once its size and
 * SHA-512 passed, is renamed to `.<key>.<random>.ok`. The key is a SHA-256 of (list, image,
 * digest), so a resume finds its own file again and two lists never share one; the random part
 * makes the full name unpredictable, and a new file is created with O_EXCL. The `.ok` file is
 * the inode that was written and hashed (download.ts checks this after the rename); it is
 * hard-linked to `<partial>/<id>` for AvailablePrefix and then renamed into the cache, so no
 * file another image can name is ever promoted.
 */

const OWN = /^\.([0-9a-f]{32})\.[0-9a-f]{16}\.(part|ok)$/;
/** Partial files of vmicast before issue 12: `<id>.<sha512 prefix>.part` next to verified files. */
const LEGACY_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*\.[0-9a-f]{16}\.part$/;

/** What identifies one download: the list, the image and its digest. */
export interface DownloadKey {
  subscriptionId: string;
  identifier: string;
  sha512: string;
}

export function downloadKey(key: DownloadKey): string {
  return createHash('sha256')
    .update(JSON.stringify([key.subscriptionId, key.identifier, key.sha512]))
    .digest('hex')
    .slice(0, 32);
}

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
    await copyFile(from, tmp, constants.COPYFILE_EXCL);
    const handle = await open(tmp, 'r');
    await handle.sync().finally(() => handle.close());
    await rename(tmp, to);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await rm(from, { force: true });
}

export class CacheLayout {
  /** Per directory, names that are sub-directories configured here (vmcatcher nests them). */
  private readonly reserved = new Map<string, Set<string>>();

  constructor(private readonly dirs: CatcherConfig['cache']) {
    const all = [dirs.dir, dirs.partialDir, dirs.expiredDir].map((d) => resolve(d));
    for (const parent of all) {
      const names = new Set(all.filter((d) => dirname(d) === parent).map((d) => basename(d)));
      this.reserved.set(parent, names);
    }
  }

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
    const all = [this.dirs.dir, this.dirs.partialDir, this.dirs.expiredDir].map((d) => resolve(d));
    if (new Set(all).size !== all.length) {
      // One directory for two roles: `<id>` in one would be `<id>` in the other.
      throw new VmiError('CONFIG_INVALID', 'cache.dir, cache.partialDir and cache.expiredDir must differ');
    }
    for (const dir of [this.dirs.dir, this.dirs.partialDir, this.dirs.expiredDir]) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
    }
  }

  /** `name` inside `dir`, refused (IMAGE_IDENTIFIER_UNSAFE) when it is a configured directory. */
  private place(dir: string, name: string, identifier: string): string {
    if (this.reserved.get(resolve(dir))?.has(name) === true) {
      throw new VmiError(
        'IMAGE_IDENTIFIER_UNSAFE',
        `identifier ${JSON.stringify(identifier)} names the directory ${join(dir, name)}`,
      );
    }
    return join(dir, name);
  }

  /** Throws IMAGE_IDENTIFIER_UNSAFE unless every name derived from `identifier` is safe. */
  check(identifier: string): void {
    this.cached(identifier);
    this.exposed(identifier);
  }

  cached(identifier: string): string {
    return this.place(this.dirs.dir, safeFileName(identifier), identifier);
  }

  /** Where a verified file shows under vmcatcher's name while AvailablePrefix runs. */
  exposed(identifier: string): string {
    return this.place(this.dirs.partialDir, safeFileName(identifier), identifier);
  }

  /** vmicast's own files of a download (`suffix` part or ok), oldest name first. */
  private async own(key: DownloadKey, suffix: 'part' | 'ok'): Promise<string[]> {
    const k = downloadKey(key);
    const names = await readdir(this.dirs.partialDir).catch(() => [] as string[]);
    return names
      .filter((n) => OWN.exec(n)?.[1] === k && n.endsWith(`.${suffix}`))
      .sort()
      .map((n) => join(this.dirs.partialDir, n));
  }

  /** The partial file to resume, or a new unpredictable name to create exclusively. */
  async partialFor(key: DownloadKey): Promise<string> {
    const [found] = await this.own(key, 'part');
    return found ?? join(this.dirs.partialDir, `.${downloadKey(key)}.${randomBytes(8).toString('hex')}.part`);
  }

  /** A download's partial file, if one is kept for a resume. */
  async partialOf(key: DownloadKey): Promise<string | undefined> {
    return (await this.own(key, 'part'))[0];
  }

  /** The verified file a partial file becomes. */
  verifiedFor(partialPath: string): string {
    return partialPath.replace(/\.part$/, '.ok');
  }

  /** The verified file of a download waiting for its AvailablePrefix event. */
  async verifiedOf(key: DownloadKey): Promise<string | undefined> {
    return (await this.own(key, 'ok'))[0];
  }

  /**
   * The verified file of a download under the key of another digest, same random part: an
   * unsigned registry image's key changes when its measured SHA-512 replaces the placeholder.
   */
  async rekey(verifiedPath: string, key: DownloadKey): Promise<string> {
    const name = basename(verifiedPath);
    const own = OWN.exec(name);
    if (own === null || own[2] !== 'ok') throw new Error(`not a verified download file: ${name}`);
    const target = join(dirname(verifiedPath), `.${downloadKey(key)}${name.slice(1 + 32)}`);
    await rename(verifiedPath, target);
    await syncDirectory(dirname(target));
    return target;
  }

  async exists(path: string): Promise<boolean> {
    return stat(path).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** Shows the verified file `file` as `<partial>/<id>` for AvailablePrefix. */
  async expose(file: string, identifier: string): Promise<void> {
    const target = this.exposed(identifier);
    await rm(target, { force: true });
    await link(file, target).catch(() => copyFile(file, target, constants.COPYFILE_EXCL));
  }

  /** The verified file -> the cache; the name shown for AvailablePrefix goes first. */
  async promote(file: string, identifier: string): Promise<void> {
    const target = this.cached(identifier);
    const shown = this.exposed(identifier);
    if (shown !== file) await rm(shown, { force: true });
    await move(file, target);
    await syncDirectory(this.dirs.dir);
  }

  /** Removes what vmicast keeps of a download: partial and verified files. */
  async discard(key: DownloadKey): Promise<void> {
    for (const path of [...(await this.own(key, 'part')), ...(await this.own(key, 'ok'))]) {
      await rm(path, { force: true });
    }
  }

  /**
   * Cleans the partial directory: own files whose key is not in `keep` (by suffix), and
   * partial files of the layout before issue 12, which no version resumes any more.
   */
  async sweep(keep: { part: Set<string>; ok: Set<string> }): Promise<void> {
    const seen = new Set<string>();
    for (const name of (await readdir(this.dirs.partialDir).catch(() => [] as string[])).sort()) {
      const own = OWN.exec(name);
      const wanted =
        own !== null &&
        keep[own[2] as 'part' | 'ok'].has(own[1] as string) &&
        !seen.has(`${own[1]}.${own[2]}`);
      if (own !== null) seen.add(`${own[1]}.${own[2]}`);
      if ((own !== null && !wanted) || LEGACY_PART.test(name)) {
        await rm(join(this.dirs.partialDir, name), { force: true });
      }
    }
  }

  /** cache -> expired, returning the expired file name (undefined when nothing was cached). */
  async expire(identifier: string, at: Date): Promise<string | undefined> {
    const name = expiredFileName(safeFileName(identifier), at);
    const target = this.place(this.dirs.expiredDir, name, identifier);
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
