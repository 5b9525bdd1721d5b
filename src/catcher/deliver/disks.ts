import { mkdtemp, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { VmiError } from '../../shared/errors.js';
import {
  checkedDisk,
  convertDisk,
  disksOf,
  targetFormat,
  unwrap,
  type CheckedDisk,
  type PrepareOptions,
  type Stage,
  type StageContext,
} from '../../shared/format/stages.js';
import { DEFAULT_FORMAT_LIMITS, type DiskFormat, type PreparedDisk } from '../../shared/format/types.js';

/**
 * The disks of a run's deliveries, prepared once for every backend (SPEC.md sections 6
 * and 8): a cache file is decompressed or taken apart once, each of its disks checked once,
 * and converted once per format, however many backends ask. Concurrent calls share the work
 * in flight. Everything made stays until close(); a disk that needs no change is returned
 * at the cache file itself, which callers must treat as read-only.
 */

/** One disk of an image: its checks and its copies per format, each done once. */
interface DiskWork {
  stage: Stage;
  checked: Promise<CheckedDisk> | undefined;
  copies: Map<DiskFormat, Promise<{ path: string; size: number }>>;
}

interface ImageWork {
  ctx: StageContext;
  disks: DiskWork[];
}

export class DiskPreparer {
  readonly #workDir: string;
  readonly #signal: AbortSignal | undefined;
  readonly #options: PrepareOptions;
  #root: Promise<string> | undefined;
  readonly #images = new Map<string, Promise<ImageWork>>();
  readonly #calls = new Set<Promise<unknown>>();
  #closed = false;

  /** Files are made in a new directory under `workDir`, removed by close(). */
  constructor(workDir: string, signal?: AbortSignal, options: PrepareOptions = {}) {
    this.#workDir = workDir;
    this.#signal = signal;
    this.#options = options;
  }

  /**
   * The disks of the verified image `file` for a backend taking `wanted` formats (`'any'`:
   * as they are), in OVF order; like prepareDisks, with the work shared. Paths stay valid
   * until close(). A refusal (FORMAT_UNSUPPORTED, ARCHIVE_UNSAFE, IMAGE_TOO_LARGE, ...) is
   * given again to every caller asking for the same file in this run, without new work.
   */
  prepare(file: string, wanted: readonly DiskFormat[] | 'any'): Promise<PreparedDisk[]> {
    if (this.#closed) return Promise.reject(new Error('DiskPreparer used after close()'));
    const call = this.#prepare(file, wanted);
    this.#calls.add(call);
    const forget = (): void => {
      this.#calls.delete(call);
    };
    call.then(forget, forget);
    return call;
  }

  /** Waits for the work in flight, then removes every file made here. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#calls]);
    const root = this.#root;
    this.#root = undefined;
    this.#images.clear();
    if (root !== undefined) {
      const dir = await root.catch(() => undefined);
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  }

  async #prepare(file: string, wanted: readonly DiskFormat[] | 'any'): Promise<PreparedDisk[]> {
    if (wanted !== 'any' && wanted.length === 0) {
      throw new VmiError('CONFIG_INVALID', 'a backend taking disks must accept at least one disk format');
    }
    this.#signal?.throwIfAborted();
    const image = await this.#image(file);
    const prepared: PreparedDisk[] = [];
    // One disk after the other, as prepareDisks does: a call never runs two conversions.
    for (const [index, disk] of image.disks.entries()) {
      disk.checked ??= checkedDisk(disk.stage, image.ctx);
      const checked = await disk.checked;
      const format = targetFormat(checked.format, wanted);
      let copy = disk.copies.get(format);
      if (copy === undefined) {
        copy = this.#copy(checked, format, index, image.ctx);
        disk.copies.set(format, copy);
      }
      const { path, size } = await copy;
      prepared.push({ path, format, size, index, name: disk.stage.name });
    }
    return prepared;
  }

  /** The unwrapped (and, for an OVA, extracted) image; a changed file is a new image. */
  async #image(file: string): Promise<ImageWork> {
    const path = resolve(file);
    const { dev, ino, size, mtimeMs } = await stat(path);
    const key = [path, dev, ino, size, mtimeMs].join('\0');
    let image = this.#images.get(key);
    if (image === undefined) {
      image = this.#open(path);
      this.#images.set(key, image);
    }
    return image;
  }

  async #open(file: string): Promise<ImageWork> {
    this.#root ??= mkdtemp(join(this.#workDir, 'disks-'));
    const dir = await mkdtemp(join(await this.#root, 'image-'));
    const limits = { ...DEFAULT_FORMAT_LIMITS, ...this.#options.limits };
    const ctx: StageContext = { dir, limits, signal: this.#signal, options: this.#options };
    try {
      const outer = await unwrap({ path: file, owned: false, name: basename(file) }, ctx);
      const stages = await disksOf(outer, ctx);
      return { ctx, disks: stages.map((stage) => ({ stage, checked: undefined, copies: new Map() })) };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async #copy(
    disk: CheckedDisk,
    format: DiskFormat,
    index: number,
    ctx: StageContext,
  ): Promise<{ path: string; size: number }> {
    let path = disk.path;
    if (format !== disk.format) {
      path = join(ctx.dir, `disk-${index}.${format}`);
      await convertDisk(disk, format, path, ctx);
    }
    return { path, size: (await stat(path)).size };
  }
}
