import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { VmiError } from '../errors.js';
import { decompressFile } from './decompress.js';
import { detectFormatFromHeader, headerRefusal, sampleFile, type FileSample } from './detect.js';
import { readOvaDisks } from './ova.js';
import { qemuImgConvert, qemuImgInfo, selfContainedProblem } from './qemu.js';
import {
  DEFAULT_FORMAT_LIMITS,
  type DetectedFormat,
  type DiskFormat,
  type FormatLimits,
  type PreparedDisk,
} from './types.js';

/**
 * The entry point backends use (SPEC.md sections 6 and 8): from a verified image file to
 * the disks a backend can take. Detect, decompress (once), take an OVA apart in OVF order,
 * then for each disk: detect again, refuse what is not self-contained, and convert to the
 * first wanted format unless the disk already is in one of them.
 */

export interface PrepareOptions {
  limits?: Partial<FormatLimits>;
  /** The qemu-img program (default: `qemu-img` from PATH). */
  qemuImg?: string;
  /** I/O limit for conversions, bytes per second. */
  conversionRateLimit?: number;
}

interface Run {
  dir: string;
  wanted: readonly DiskFormat[] | 'any';
  limits: FormatLimits;
  signal: AbortSignal | undefined;
  options: PrepareOptions;
}

/** A file on the way through the pipeline; `owned` files were made here and may be moved. */
interface Stage {
  path: string;
  owned: boolean;
  name: string;
}

interface Detected extends Stage {
  format: DetectedFormat;
  sample: FileSample;
}

let sequence = 0;

function scratchPath(run: Run, what: string): string {
  sequence += 1;
  return join(run.dir, `${what}-${sequence}`);
}

async function discard(stage: Stage): Promise<void> {
  if (stage.owned) await rm(stage.path, { force: true });
}

/** Detects the format; a compressed file is decompressed once and detected again. */
async function unwrap(stage: Stage, run: Run): Promise<Detected> {
  const sample = await sampleFile(stage.path);
  const format = detectFormatFromHeader(sample.head, sample.tail);
  if (format !== 'gzip' && format !== 'bzip2' && format !== 'xz') return { ...stage, format, sample };
  const output = scratchPath(run, 'decompressed');
  await decompressFile(stage.path, format, output, {
    maxBytes: run.limits.maxDecompressedBytes,
    signal: run.signal,
  });
  await discard(stage);
  const inner: Stage = { path: output, owned: true, name: stage.name };
  const innerSample = await sampleFile(output);
  const innerFormat = detectFormatFromHeader(innerSample.head, innerSample.tail);
  if (innerFormat === 'gzip' || innerFormat === 'bzip2' || innerFormat === 'xz') {
    throw new VmiError(
      'FORMAT_UNSUPPORTED',
      `${stage.name}: compressed twice (${format}, then ${innerFormat})`,
    );
  }
  return { ...inner, format: innerFormat, sample: innerSample };
}

/** The disk format qemu-img is told (`-f`), or a refusal for what is not a disk. */
function diskFormatOf(image: Detected): DiskFormat {
  switch (image.format) {
    case 'iso':
      // An ISO 9660 image is raw sectors; backends see it as a raw disk.
      return 'raw';
    case 'ova':
    case 'tar':
      throw new VmiError('FORMAT_UNSUPPORTED', `${image.name}: an archive inside an OVA`);
    case 'gzip':
    case 'bzip2':
    case 'xz':
      throw new VmiError('FORMAT_UNSUPPORTED', `${image.name}: compressed twice`);
    case 'vmdk-descriptor':
      return 'vmdk';
    default:
      return image.format;
  }
}

/** Checks that a disk stands alone and is not absurdly large; returns its virtual size. */
async function checkDisk(image: Detected, format: DiskFormat, run: Run): Promise<number> {
  const refusal = headerRefusal(image.format, image.sample);
  const notSelfContained = (reason: string): VmiError =>
    new VmiError('FORMAT_UNSUPPORTED', `${image.name}: ${reason}; only self-contained images are accepted`);
  if (refusal !== undefined) throw notSelfContained(refusal);
  let virtualSize = image.sample.size;
  if (format === 'raw') {
    // Anything unrecognised is raw; a disk is whole sectors, so this catches text and junk.
    if (image.sample.size === 0 || image.sample.size % 512 !== 0) {
      throw new VmiError(
        'FORMAT_UNSUPPORTED',
        `${image.name}: not a disk image (no known format, and ${image.sample.size} bytes is not a whole number of 512-byte sectors)`,
      );
    }
  } else {
    const info = await qemuImgInfo(image.path, format, {
      signal: run.signal,
      timeoutMs: run.limits.infoTimeoutMs,
      program: run.options.qemuImg,
    });
    const problem = selfContainedProblem(info);
    if (problem !== undefined) throw notSelfContained(problem);
    virtualSize = info.virtualSize;
  }
  if (virtualSize > run.limits.maxVirtualSize) {
    throw new VmiError(
      'IMAGE_TOO_LARGE',
      `${image.name}: virtual size ${virtualSize} bytes exceeds the limit of ${run.limits.maxVirtualSize}`,
      { details: { limit: run.limits.maxVirtualSize, virtualSize } },
    );
  }
  return virtualSize;
}

async function prepareDisk(stage: Stage, index: number, run: Run): Promise<PreparedDisk> {
  const image = await unwrap(stage, run);
  const format = diskFormatOf(image);
  await checkDisk(image, format, run);
  const target = run.wanted === 'any' || run.wanted.includes(format) ? format : run.wanted[0];
  let path = image.path;
  if (target !== undefined && target !== format) {
    path = join(run.dir, `disk-${index}.${target}`);
    await qemuImgConvert(image.path, format, path, target, {
      signal: run.signal,
      timeoutMs: run.limits.conversionTimeoutMs,
      program: run.options.qemuImg,
      rateLimit: run.options.conversionRateLimit,
    });
    await discard(image);
  } else if (image.owned) {
    path = join(run.dir, `disk-${index}.${format}`);
    await rename(image.path, path);
  }
  const { size } = await stat(path);
  return { path, format: target ?? format, size, index, name: stage.name };
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
  const run: Run = { dir, wanted, limits, signal, options };
  try {
    const image = await unwrap({ path: file, owned: false, name: basename(file) }, run);
    let disks: Stage[] = [image];
    if (image.format === 'ova' || image.format === 'tar') {
      const extracted = await readOvaDisks(image.path, dir, { limits, signal });
      await discard(image);
      disks = extracted.map((disk) => ({ path: disk.path, owned: true, name: disk.name }));
    }
    const prepared: PreparedDisk[] = [];
    for (const [index, disk] of disks.entries()) prepared.push(await prepareDisk(disk, index, run));
    await removeAllBut(dir, prepared);
    return prepared;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
