import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { VmiError } from '../errors.js';
import type { Compression } from './types.js';

/**
 * Streaming decompression of a whole image into a file of the work directory: node:zlib for
 * gzip, the Debian `bzip2` and `xz` programs for the others (fed from the file descriptor,
 * read from a pipe). Memory stays flat whatever the image size. Output is capped (a few KiB
 * of xz can expand to terabytes) and written sparse: disk images are mostly zeros, and a
 * hole costs no disk space.
 */

export interface DecompressOptions {
  /** Most bytes the output may reach (`IMAGE_TOO_LARGE` beyond). */
  maxBytes: number;
  signal?: AbortSignal;
}

const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);
export const STDERR_LIMIT = 4096;
export const CHUNK = 1024 * 1024;

/** Writes a stream to a file, leaving holes for all-zero 4 KiB blocks, up to `maxBytes`. */
class SparseFileSink extends Writable {
  bytes = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly maxBytes: number,
  ) {
    super({ highWaterMark: CHUNK });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Trailing holes: only the length records them.
    this.handle.truncate(this.bytes).then(() => callback(), callback);
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    const start = this.bytes;
    if (start + chunk.length > this.maxBytes) {
      throw new VmiError(
        'IMAGE_TOO_LARGE',
        `decompressed image exceeds the limit of ${this.maxBytes} bytes`,
        {
          details: { limit: this.maxBytes },
        },
      );
    }
    this.bytes += chunk.length;
    let runStart = -1;
    let position = 0;
    while (position < chunk.length) {
      // Blocks are aligned to the file, not to the chunk, so holes line up with filesystem blocks.
      const end = Math.min(chunk.length, (Math.floor((start + position) / BLOCK) + 1) * BLOCK - start);
      const zero = chunk.compare(ZEROS, 0, end - position, position, end) === 0;
      if (zero && runStart !== -1) {
        await this.writeFully(chunk, runStart, position, start);
        runStart = -1;
      } else if (!zero && runStart === -1) {
        runStart = position;
      }
      position = end;
    }
    if (runStart !== -1) await this.writeFully(chunk, runStart, chunk.length, start);
  }

  private async writeFully(chunk: Buffer, from: number, to: number, fileOffset: number): Promise<void> {
    let offset = from;
    while (offset < to) {
      const { bytesWritten } = await this.handle.write(chunk, offset, to - offset, fileOffset + offset);
      offset += bytesWritten;
    }
  }
}

/** The Debian programs that decompress bzip2 and xz, stdin (or a file descriptor) to stdout. */
export const DECOMPRESSION_TOOLS: Record<
  Exclude<Compression, 'gzip'>,
  { program: string; args: readonly string[]; debian: string }
> = {
  bzip2: { program: 'bzip2', args: ['--decompress', '--stdout'], debian: 'bzip2' },
  // The memory limit stops a stream that asks for a huge dictionary.
  xz: {
    program: 'xz',
    args: ['--decompress', '--stdout', '--format=xz', '--memlimit-decompress=1GiB'],
    debian: 'xz-utils',
  },
};

async function decompressWithProgram(
  compression: Exclude<Compression, 'gzip'>,
  file: string,
  sink: SparseFileSink,
  signal: AbortSignal | undefined,
): Promise<void> {
  const tool = DECOMPRESSION_TOOLS[compression];
  const input = await open(file, 'r');
  try {
    const child = spawn(tool.program, [...tool.args], { stdio: [input.fd, 'pipe', 'pipe'] });
    const { stdout, stderr: errors } = child;
    if (stdout === null || errors === null) throw new Error('spawn gave no pipes');
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    let stderr = '';
    errors.setEncoding('utf8');
    errors.on('data', (text: string) => {
      if (stderr.length < STDERR_LIMIT) stderr += text;
    });
    try {
      await pipeline(stdout, sink, { signal });
    } catch (err) {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
      throw err;
    }
    let code: number | null;
    try {
      code = await exited;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new VmiError(
        'CONVERSION_FAILED',
        `${tool.program} is not installed (Debian package ${tool.debian})`,
        {
          cause: err,
        },
      );
    }
    if (code !== 0) {
      const reason = stderr.trim() || `exit status ${String(code)}`;
      throw new VmiError('CONVERSION_FAILED', `${compression} decompression failed: ${reason}`);
    }
  } finally {
    await input.close();
  }
}

/** The error to report for what stopped a decompression (abort, full disk, corrupt data). */
export function decompressionFailure(
  err: unknown,
  compression: Compression,
  signal: AbortSignal | undefined,
): unknown {
  if (err instanceof VmiError) return err;
  if (signal?.aborted === true) return signal.reason;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC')
    return new VmiError('DISK_FULL', 'no space left to decompress the image', { cause: err });
  if (typeof code === 'string' && code.startsWith('Z_')) {
    const message = err instanceof Error ? err.message : String(err);
    return new VmiError('CONVERSION_FAILED', `${compression} decompression failed: ${message}`, {
      cause: err,
    });
  }
  return err;
}

/**
 * Decompresses `file` into `output` (created, never overwritten) and returns the size
 * written. On any failure, including abort, `output` does not exist afterwards.
 */
export async function decompressFile(
  file: string,
  compression: Compression,
  output: string,
  options: DecompressOptions,
): Promise<number> {
  const { signal } = options;
  signal?.throwIfAborted();
  const handle = await open(output, 'wx', 0o600);
  let written: number | undefined;
  try {
    const sink = new SparseFileSink(handle, options.maxBytes);
    if (compression === 'gzip') {
      // 1 MiB output chunks: the default 16 KiB made gunzip several times slower here.
      const gunzip = createGunzip({ chunkSize: CHUNK });
      await pipeline(createReadStream(file, { highWaterMark: CHUNK }), gunzip, sink, { signal });
    } else {
      await decompressWithProgram(compression, file, sink, signal);
    }
    written = sink.bytes;
    return written;
  } catch (err) {
    throw decompressionFailure(err, compression, signal);
  } finally {
    await handle.close();
    if (written === undefined) await rm(output, { force: true });
  }
}
