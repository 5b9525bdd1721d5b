import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { VmiError } from '../errors.js';
import {
  checkedDisk,
  convertDisk,
  discard,
  disksOf,
  targetFormat,
  unwrap,
  type PrepareOptions,
  type Stage,
  type StageContext,
} from './stages.js';
import { DEFAULT_FORMAT_LIMITS, type DiskFormat, type PreparedDisk } from './types.js';

/**
 * The entry point backends use (SPEC.md sections 6 and 8): from a verified image file to
 * the disks a backend can take. Detect, decompress (once), take an OVA apart in OVF order,
 * then for each disk: detect again, refuse what is not self-contained, and convert to the
 * first wanted format unless the disk already is in one of them. One call serves one
 * backend; DiskPreparer (src/catcher/deliver/disks.ts) shares the work of a run.
 */

export type { PrepareOptions } from './stages.js';

async function prepareDisk(
  stage: Stage,
  index: number,
  wanted: readonly DiskFormat[] | 'any',
  ctx: StageContext,
): Promise<PreparedDisk> {
  const disk = await checkedDisk(stage, ctx);
  const target = targetFormat(disk.format, wanted);
  let path = disk.path;
  if (target !== disk.format) {
    path = join(ctx.dir, `disk-${index}.${target}`);
    await convertDisk(disk, target, path, ctx);
    await discard(disk);
  } else if (disk.owned) {
    path = join(ctx.dir, `disk-${index}.${disk.format}`);
    await rename(disk.path, path);
  }
  const { size } = await stat(path);
  return { path, format: target, size, index, name: stage.name };
}

/** Removes everything in `dir` but the prepared disks (emptied OVA folders, leftovers). */
async function removeAllBut(dir: string, keep: readonly PreparedDisk[]): Promise<void> {
  const kept = new Set(keep.map((disk) => disk.path));
  if (!keep.some((disk) => disk.path.startsWith(`${dir}${sep}`))) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    if (!kept.has(path)) await rm(path, { recursive: true, force: true });
  }
}

/**
 * Prepares the disks of the verified image `file` for a backend that takes `wanted` formats
 * (`'any'`: whatever the disk is). Returns them in OVF order. New files are made in a fresh
 * directory under `workDir`; a disk that needed no change is returned at `file` itself, which
 * must then be treated as read-only. On failure nothing made here is left behind.
 */
export async function prepareDisks(
  file: string,
  wanted: readonly DiskFormat[] | 'any',
  workDir: string,
  signal?: AbortSignal,
  options: PrepareOptions = {},
): Promise<PreparedDisk[]> {
  if (wanted !== 'any' && wanted.length === 0) {
    throw new VmiError('CONFIG_INVALID', 'a backend taking disks must accept at least one disk format');
  }
  signal?.throwIfAborted();
  const limits = { ...DEFAULT_FORMAT_LIMITS, ...options.limits };
  const dir = await mkdtemp(join(workDir, 'prepare-'));
  const ctx: StageContext = { dir, limits, signal, options };
  try {
    const image = await unwrap({ path: file, owned: false, name: basename(file) }, ctx);
    const disks = await disksOf(image, ctx);
    const prepared: PreparedDisk[] = [];
    for (const [index, disk] of disks.entries()) prepared.push(await prepareDisk(disk, index, wanted, ctx));
    await removeAllBut(dir, prepared);
    return prepared;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
