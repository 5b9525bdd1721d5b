import { execFile, type ExecFileException } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { VmiError } from '../errors.js';
import { DEFAULT_FORMAT_LIMITS, type DiskFormat } from './types.js';

/**
 * The two `qemu-img` calls vmicast makes, always with an argument array (no shell) and
 * always with `-f`: letting qemu-img probe the format of untrusted bytes is how a raw image
 * that looks like qcow2 gets to read host files. Paths are made absolute so that no
 * "protocol:" prefix (`nbd:`, `json:`) can ever be read into a file name.
 */

export interface QemuOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** The qemu-img program (default: `qemu-img` from PATH). */
  program?: string;
}

export interface ConvertOptions extends QemuOptions {
  /** I/O limit in bytes per second (`qemu-img convert -r`), to spare a shared host. */
  rateLimit?: number;
}

/** What `qemu-img info --output=json` says about an image, reduced to what decisions need. */
export interface QemuImageInfo {
  filename: string;
  format: string;
  virtualSize: number;
  backingFile: string | undefined;
  dataFile: string | undefined;
  /** VMDK extent files (the image itself for a monolithic VMDK). */
  extents: string[];
}

/** qemu-img calls VHD "vpc". */
export function qemuFormatName(format: DiskFormat): string {
  return format === 'vhd' ? 'vpc' : format;
}

const OUTPUT_LIMIT = 1024 * 1024;

function run(args: string[], options: QemuOptions, defaultTimeoutMs: number): Promise<string> {
  const program = options.program ?? 'qemu-img';
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const command = args[0] ?? '';
  options.signal?.throwIfAborted();
  return new Promise((resolvePromise, reject) => {
    execFile(
      program,
      args,
      {
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: OUTPUT_LIMIT,
        signal: options.signal,
        env: { ...process.env, LC_ALL: 'C' },
      },
      (err: ExecFileException | null, stdout: string, stderr: string) => {
        if (err === null) {
          resolvePromise(stdout);
        } else if (options.signal?.aborted === true) {
          reject(options.signal.reason as Error);
        } else if (err.code === 'ENOENT') {
          reject(
            new VmiError('CONVERSION_FAILED', `${program} not found (Debian package qemu-utils)`, {
              cause: err,
            }),
          );
        } else if (err.killed === true) {
          reject(
            new VmiError('CONVERSION_FAILED', `qemu-img ${command} timed out after ${timeoutMs} ms`, {
              cause: err,
            }),
          );
        } else if (stderr.includes('No space left on device')) {
          reject(new VmiError('DISK_FULL', `qemu-img ${command}: no space left on device`, { cause: err }));
        } else {
          const reason = stderr.trim().slice(0, 2000) || err.message;
          reject(new VmiError('CONVERSION_FAILED', `qemu-img ${command} failed: ${reason}`, { cause: err }));
        }
      },
    );
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Reads the JSON of `qemu-img info`; anything unexpected is a failed conversion step. */
export function parseQemuInfo(json: string): QemuImageInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new VmiError('CONVERSION_FAILED', 'qemu-img info printed no JSON', { cause: err });
  }
  if (
    !isRecord(parsed) ||
    typeof parsed['virtual-size'] !== 'number' ||
    typeof parsed['format'] !== 'string'
  ) {
    throw new VmiError('CONVERSION_FAILED', 'qemu-img info printed JSON without format and virtual-size');
  }
  const specific = isRecord(parsed['format-specific']) ? parsed['format-specific'] : {};
  const data = isRecord(specific['data']) ? specific['data'] : {};
  const extents = Array.isArray(data['extents']) ? data['extents'] : [];
  return {
    filename: typeof parsed['filename'] === 'string' ? parsed['filename'] : '',
    format: parsed['format'],
    virtualSize: parsed['virtual-size'],
    backingFile:
      optionalString(parsed['backing-filename']) ?? optionalString(parsed['full-backing-filename']),
    dataFile: optionalString(data['data-file']),
    extents: extents.map((extent) =>
      isRecord(extent) && typeof extent['filename'] === 'string' ? extent['filename'] : '',
    ),
  };
}

/** `qemu-img info --output=json -f <format>`; never follows a backing chain. */
export async function qemuImgInfo(
  path: string,
  format: DiskFormat,
  options: QemuOptions = {},
): Promise<QemuImageInfo> {
  const args = ['info', '--output=json', '-f', qemuFormatName(format), '--', resolve(path)];
  return parseQemuInfo(await run(args, options, DEFAULT_FORMAT_LIMITS.infoTimeoutMs));
}

/**
 * Why an image is not self-contained, from its info: a backing file, an external data file,
 * or VMDK extents in other files would all pull bytes of this host into the delivered image.
 */
export function selfContainedProblem(info: QemuImageInfo): string | undefined {
  if (info.backingFile !== undefined) return `image names a backing file ${JSON.stringify(info.backingFile)}`;
  if (info.dataFile !== undefined)
    return `image keeps its data in an external file ${JSON.stringify(info.dataFile)}`;
  const foreign = info.extents.find((extent) => extent !== info.filename);
  if (foreign !== undefined) return `VMDK image reads an extent from another file ${JSON.stringify(foreign)}`;
  return undefined;
}

/**
 * `qemu-img convert -f <from> -O <to>` into `output`, through a partial file renamed at the
 * end: on failure, timeout or abort, `output` does not exist and the partial file is gone.
 */
export async function qemuImgConvert(
  input: string,
  from: DiskFormat,
  output: string,
  to: DiskFormat,
  options: ConvertOptions = {},
): Promise<void> {
  const partial = `${resolve(output)}.partial`;
  const rate =
    options.rateLimit === undefined ? [] : ['-r', String(Math.max(1, Math.floor(options.rateLimit)))];
  const args = [
    'convert',
    '-q',
    '-f',
    qemuFormatName(from),
    '-O',
    qemuFormatName(to),
    ...rate,
    '--',
    resolve(input),
    partial,
  ];
  try {
    await run(args, options, DEFAULT_FORMAT_LIMITS.conversionTimeoutMs);
    await rename(partial, output);
  } finally {
    await rm(partial, { force: true });
  }
}
