import { spawn } from 'node:child_process';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { VmiError } from '../errors.js';
import {
  CHUNK,
  DECOMPRESSION_TOOLS,
  STDERR_LIMIT,
  decompressionFailure,
  type DecompressOptions,
} from './decompress.js';
import { detectFormatFromHeader } from './detect.js';
import type { Compression } from './types.js';

/**
 * Decompression in the middle of a stream: compressed bytes are written in as they arrive
 * (from the network), decompressed bytes are read out (into an upload), with no file in
 * between. The same engines and bounds as decompress.ts: node:zlib for gzip, the Debian
 * `bzip2` and `xz` programs (stdin to stdout, fixed arguments, no shell) for the others, and
 * the output cap checked on every chunk that comes out. Back-pressure goes all the way: a
 * slow reader pauses the program's stdout, which stops the program, which stops taking input.
 */

/** Bytes of a stream's head that decide whether it is compressed (the bzip2 magic is 10). */
export const COMPRESSION_HEAD_BYTES = 10;

/**
 * The compression of a stream from its first bytes (`COMPRESSION_HEAD_BYTES` at least,
 * unless the stream is shorter; up to detect.ts's HEAD_BYTES), or undefined when the
 * bytes are not gzip, bzip2 or xz.
 */
export function compressionOf(head: Uint8Array): Compression | undefined {
  const format = detectFormatFromHeader(head);
  return format === 'gzip' || format === 'bzip2' || format === 'xz' ? format : undefined;
}

/** What does the work: bytes go into `input`, come out of `output`. */
interface Engine {
  input: Writable;
  output: Readable;
  /** Settles once the engine is gone (a program reaped): resolves on success only. */
  done: Promise<void>;
  /** Stops at once; `done` settles afterwards. */
  stop(): void;
  pid: number | undefined;
}

function gzipEngine(): Engine {
  // 1 MiB output chunks, as in decompress.ts (16 KiB made gunzip several times slower).
  const gunzip = createGunzip({ chunkSize: CHUNK });
  return {
    input: gunzip,
    output: gunzip,
    done: finished(gunzip),
    stop: () => gunzip.destroy(),
    pid: undefined,
  };
}

function programEngine(compression: Exclude<Compression, 'gzip'>): Engine {
  const tool = DECOMPRESSION_TOOLS[compression];
  const child = spawn(tool.program, [...tool.args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const { stdin, stdout, stderr } = child;
  let stopped = false;
  let errorText = '';
  // A program that quit early breaks its stdin pipe (EPIPE): its exit status says why.
  stdin.on('error', () => undefined);
  stdout.on('error', () => undefined);
  stderr.setEncoding('utf8');
  stderr.on('data', (text: string) => {
    if (errorText.length < STDERR_LIMIT) errorText += text;
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      // Only a failed start ends here; a failed kill of a running program waits for 'close'.
      if (child.pid !== undefined) return;
      const message =
        err.code === 'ENOENT'
          ? `${tool.program} is not installed (Debian package ${tool.debian})`
          : `${tool.program} could not be started: ${err.message}`;
      reject(new VmiError('CONVERSION_FAILED', message, { cause: err }));
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else if (stopped) reject(new Error(`${tool.program} stopped`));
      else {
        const reason = errorText.trim() || `exit status ${String(code ?? signal)}`;
        reject(new VmiError('CONVERSION_FAILED', `${compression} decompression failed: ${reason}`));
      }
    });
  });
  const stop = (): void => {
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // 'close' waits for stdout to end: unread output must not hold it back.
    stdin.destroy();
    stdout.destroy();
  };
  return { input: stdin, output: stdout, done, stop, pid: child.pid };
}

/**
 * A Duplex: write compressed bytes, read decompressed ones. Fails with `IMAGE_TOO_LARGE`
 * past `maxBytes` of output, `CONVERSION_FAILED` on corrupt input, or the signal's reason;
 * the readable side ends only after the engine finished cleanly (a program exited 0).
 * Destroying it (or a failure) kills the program, and 'close' comes once it is reaped.
 * A Decompressor that is neither ended nor destroyed keeps its program waiting for input.
 */
export class Decompressor extends Duplex {
  readonly #engine: Engine;
  readonly #maxBytes: number;
  readonly #signal: AbortSignal | undefined;
  #produced = 0;
  #pendingWrite: (() => void) | undefined;
  readonly #onAbort = (): void => {
    this.destroy(this.#signal?.reason as Error);
  };

  constructor(
    readonly compression: Compression,
    options: DecompressOptions,
  ) {
    super({ readableHighWaterMark: CHUNK, writableHighWaterMark: CHUNK });
    this.#maxBytes = options.maxBytes;
    this.#signal = options.signal;
    const engine = compression === 'gzip' ? gzipEngine() : programEngine(compression);
    this.#engine = engine;
    const release = (): void => {
      const callback = this.#pendingWrite;
      this.#pendingWrite = undefined;
      callback?.();
    };
    engine.input.on('drain', release);
    engine.input.on('close', release);
    engine.output.on('data', (chunk: Buffer) => this.#take(chunk));
    engine.done.then(
      () => {
        if (!this.destroyed) this.push(null);
      },
      (err: unknown) => {
        if (!this.destroyed) this.destroy(decompressionFailure(err, compression, this.#signal) as Error);
      },
    );
    if (this.#signal?.aborted === true) this.#onAbort();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Decompressed bytes produced so far. */
  get bytesOut(): number {
    return this.#produced;
  }

  /** The decompressing program's process id (undefined for gzip, done in this process). */
  get pid(): number | undefined {
    return this.#engine.pid;
  }

  #take(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.#produced + chunk.length > this.#maxBytes) {
      const limit = this.#maxBytes;
      this.destroy(
        new VmiError('IMAGE_TOO_LARGE', `decompressed image exceeds the limit of ${limit} bytes`, {
          details: { limit },
        }),
      );
      return;
    }
    this.#produced += chunk.length;
    if (!this.push(chunk)) this.#engine.output.pause();
  }

  override _read(): void {
    this.#engine.output.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const { input } = this.#engine;
    // An engine that stopped taking input has failed or finished: its outcome decides.
    if (input.destroyed || input.writableEnded || input.write(chunk)) {
      callback();
      return;
    }
    this.#pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#engine.input.destroyed) this.#engine.input.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#pendingWrite = undefined;
    this.#engine.stop();
    const settle = (): void => callback(error);
    this.#engine.done.then(settle, settle);
  }
}

/** A stream that decompresses `compression` as bytes are written to it (see Decompressor). */
export function createDecompressor(compression: Compression, options: DecompressOptions): Decompressor {
  return new Decompressor(compression, options);
}
