import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VmiError } from '../errors.js';
import { decompressFile } from './decompress.js';
import { detectFormatFromHeader, headerRefusal, sampleFile, type FileSample } from './detect.js';
import { qemuImgConvert, qemuImgInfo, selfContainedProblem } from './qemu.js';
import type { DetectedFormat, DiskFormat, FormatLimits } from './types.js';

/**
 * The steps from a verified image file to disks, one function each, so that prepareDisks
 * (one backend, one call) and DiskPreparer (a run, shared work) chain the same checks:
 * unwrap (detect, decompress once), take an OVA apart, check a disk, convert it.
 */

export interface PrepareOptions {
  limits?: Partial<FormatLimits>;
  /** The qemu-img program (default: `qemu-img` from PATH). */
  qemuImg?: string;
  /** I/O limit for conversions, bytes per second. */
  conversionRateLimit?: number;
}

/** Where and under which bounds the steps work. */
export interface StageContext {
  /** Directory for the files made here. */
  dir: string;
  limits: FormatLimits;
  signal: AbortSignal | undefined;
  options: PrepareOptions;
}

/** A file on the way through the pipeline; `owned` files were made here and may be moved. */
export interface Stage {
  path: string;
  owned: boolean;
  name: string;
}

export interface Detected extends Stage {
  format: DetectedFormat;
  sample: FileSample;
}

/** A disk that passed the checks, in the format qemu-img is told (`-f`). */
export interface CheckedDisk extends Stage {
  format: DiskFormat;
}

let sequence = 0;

export function scratchPath(ctx: StageContext, what: string): string {
  sequence += 1;
  return join(ctx.dir, `${what}-${sequence}`);
}

export async function discard(stage: Stage): Promise<void> {
  if (stage.owned) await rm(stage.path, { force: true });
}

function isCompression(format: DetectedFormat): format is 'gzip' | 'bzip2' | 'xz' {
  return format === 'gzip' || format === 'bzip2' || format === 'xz';
}

/** Detects the format; a compressed file is decompressed once (an owned input is then removed). */
export async function unwrap(stage: Stage, ctx: StageContext): Promise<Detected> {
  const sample = await sampleFile(stage.path);
  const format = detectFormatFromHeader(sample.head, sample.tail);
  if (!isCompression(format)) return { ...stage, format, sample };
  const output = scratchPath(ctx, 'decompressed');
  await decompressFile(stage.path, format, output, {
    maxBytes: ctx.limits.maxDecompressedBytes,
    signal: ctx.signal,
  });
  await discard(stage);
  const innerSample = await sampleFile(output);
  const innerFormat = detectFormatFromHeader(innerSample.head, innerSample.tail);
  if (isCompression(innerFormat)) {
    await rm(output, { force: true });
    throw new VmiError(
      'FORMAT_UNSUPPORTED',
      `${stage.name}: compressed twice (${format}, then ${innerFormat})`,
    );
  }
  return { path: output, owned: true, name: stage.name, format: innerFormat, sample: innerSample };
}

/**
 * The disks an unwrapped image holds: itself, or an OVA's disks in OVF order (the archive,
 * when owned, is removed once taken apart). The disks may still be compressed.
 */
export async function disksOf(image: Detected, ctx: StageContext): Promise<Stage[]> {
  if (image.format !== 'ova' && image.format !== 'tar') return [image];
  // tar-stream is loaded only for an archive, not by every sync.
  const { readOvaDisks } = await import('./ova.js');
  const extracted = await readOvaDisks(image.path, ctx.dir, { limits: ctx.limits, signal: ctx.signal });
  await discard(image);
  return extracted.map((disk) => ({ path: disk.path, owned: true, name: disk.name }));
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

/** Checks that a disk stands alone and is not absurdly large. */
async function checkDisk(image: Detected, format: DiskFormat, ctx: StageContext): Promise<void> {
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
      signal: ctx.signal,
      timeoutMs: ctx.limits.infoTimeoutMs,
      program: ctx.options.qemuImg,
    });
    const problem = selfContainedProblem(info);
    if (problem !== undefined) throw notSelfContained(problem);
    virtualSize = info.virtualSize;
  }
  if (virtualSize > ctx.limits.maxVirtualSize) {
    throw new VmiError(
      'IMAGE_TOO_LARGE',
      `${image.name}: virtual size ${virtualSize} bytes exceeds the limit of ${ctx.limits.maxVirtualSize}`,
      { details: { limit: ctx.limits.maxVirtualSize, virtualSize } },
    );
  }
}

/** Unwraps one disk (an OVA entry may be compressed on its own) and checks it. */
export async function checkedDisk(stage: Stage, ctx: StageContext): Promise<CheckedDisk> {
  const image = await unwrap(stage, ctx);
  try {
    const format = diskFormatOf(image);
    await checkDisk(image, format, ctx);
    return { path: image.path, owned: image.owned, name: image.name, format };
  } catch (err) {
    if (image.path !== stage.path) await discard(image);
    throw err;
  }
}

/** The format a backend taking `wanted` gets for a disk in `format`: its own if taken, else the first. */
export function targetFormat(format: DiskFormat, wanted: readonly DiskFormat[] | 'any'): DiskFormat {
  if (wanted === 'any' || wanted.includes(format)) return format;
  const [first] = wanted;
  if (first === undefined) {
    throw new VmiError('CONFIG_INVALID', 'a backend taking disks must accept at least one disk format');
  }
  return first;
}

/** Converts a checked disk into `output` (which does not exist on failure). */
export async function convertDisk(
  disk: CheckedDisk,
  target: DiskFormat,
  output: string,
  ctx: StageContext,
): Promise<void> {
  await qemuImgConvert(disk.path, disk.format, output, target, {
    signal: ctx.signal,
    timeoutMs: ctx.limits.conversionTimeoutMs,
    program: ctx.options.qemuImg,
    rateLimit: ctx.options.conversionRateLimit,
  });
}
