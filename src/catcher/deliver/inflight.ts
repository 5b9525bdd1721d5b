import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from 'pino';
import { detectFormatFromHeader, HEAD_BYTES } from '../../shared/format/detect.js';
import { compressionOf, createDecompressor } from '../../shared/format/stream-decompress.js';
import { DEFAULT_FORMAT_LIMITS, type DetectedFormat } from '../../shared/format/types.js';
import type { Backend, DiskFormat, ImageRecord, VerifiedBytes } from '../backends/types.js';
import { checkFileFormat, checkUnpackedFormat, PassingBytes } from './stream-checks.js';

/**
 * The download's second destination (issue 14): the bytes of an image go, as they arrive,
 * to every backend that takes them as they are, besides the cache file; a gzip, bzip2 or xz
 * image goes through a decompressor first, in the same pass. The head decides the format. A
 * backend that falls behind for too long, or fails, is dropped from the pass and served from
 * the verified cache file in the delivery phase, as is everything that needs a conversion.
 * This stream never fails the download: its errors stay with it.
 */

export interface InflightOptions {
  backends: readonly Backend[];
  image: ImageRecord;
  log: Logger;
  signal: AbortSignal;
  now: Date;
  /** Where the format check may make its scratch directory. */
  workDir: string;
  /** How long one backend may hold the download back before it is dropped from the pass. */
  stallMs: number;
}

/** A backend that kept the image it received, hidden until delivered. */
export interface Held {
  backend: string;
  refs: string[];
}

/** One destination of the bytes: a backend's upload, or the decompressor in front of others. */
interface Branch {
  label: string;
  sink: Writable;
  commit(verified: VerifiedBytes): Promise<Held[]>;
  abort(reason: Error): Promise<void>;
}

/**
 * Bytes the pass buffers before the slowest destination pushes back. Small, so that a chunk
 * is written out before two young collections promote it (1 MiB here and in the upload:
 * 91-101 MB peak for 1 GiB into Glance, 72-73 MB at 256 KiB for the same time; docs/memory.md).
 */
const BUFFER = 256 * 1024;

/** The disk format a backend would be given for a head, or undefined when it needs work first. */
export function streamableFormat(detected: DetectedFormat): DiskFormat | undefined {
  switch (detected) {
    case 'iso':
      return 'raw'; // raw sectors, as prepare.ts treats it
    case 'raw':
    case 'qcow2':
    case 'vmdk':
    case 'vhdx':
    case 'vdi':
      return detected;
    default:
      // Compressed, archives, descriptors, dynamic VHD: unwrapped or converted from the file.
      return undefined;
  }
}

export class InflightDelivery extends Writable {
  private head: Buffer[] = [];
  private headBytes = 0;
  private branches: Branch[] | undefined;
  /** The backends being opened (images being created): an abort waits for them. */
  private opening: Promise<void> | undefined;
  private readonly dropped: Promise<void>[] = [];
  /** Set when these bytes come out of a decompressor: what went by is checked, not a file. */
  private readonly unpacked: PassingBytes | undefined;

  constructor(
    private readonly options: InflightOptions,
    unpacked = false,
  ) {
    super({ highWaterMark: BUFFER });
    this.unpacked = unpacked ? new PassingBytes(HEAD_BYTES) : undefined;
  }

  /** The destinations still receiving. */
  get receiving(): string[] {
    return (this.branches ?? []).map((b) => b.label);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.unpacked?.add(chunk);
    if (this.branches !== undefined) {
      void this.forward(chunk).then(() => callback());
      return;
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes < HEAD_BYTES) {
      callback();
      return;
    }
    void this.openWithHead().then(() => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    const opened = this.branches === undefined ? this.openWithHead() : Promise.resolve();
    void opened.then(() => {
      for (const b of this.branches ?? []) b.sink.end();
      callback();
    });
  }

  /**
   * The download was verified and `file` holds it: each backend checks the format once more,
   * then completes its upload. Returns the backends that now hold the image (hidden).
   */
  commit(file: string): Promise<Held[]> {
    const { image } = this.options;
    return this.commitBranches({ size: image.size, sha512: image.sha512, file });
  }

  /** The download failed: no backend gets the rest, and what they made is removed. */
  async abort(reason: Error): Promise<void> {
    await this.opening;
    const branches = this.branches ?? [];
    this.branches = [];
    await Promise.all([...branches.map((b) => b.abort(reason).catch(() => undefined)), ...this.dropped]);
    if (!this.destroyed) this.destroy();
  }

  private async commitBranches(verified: VerifiedBytes): Promise<Held[]> {
    const branches = this.branches ?? [];
    this.branches = [];
    const held = await Promise.all(
      branches.map(async (b) => {
        try {
          return await b.commit(verified);
        } catch (err) {
          this.options.log.warn(
            { backend: b.label, err },
            'streamed upload not kept; the delivery phase sends the cached file',
          );
          await b.abort(err as Error).catch(() => undefined);
          return [];
        }
      }),
    );
    await Promise.all(this.dropped);
    return held.flat();
  }

  private openWithHead(): Promise<void> {
    const head = Buffer.concat(this.head);
    this.head = [];
    this.opening = this.open(head).then(async (branches) => {
      this.branches = branches;
      if (head.length > 0) await this.forward(head);
    });
    return this.opening;
  }

  private async open(head: Buffer): Promise<Branch[]> {
    const { signal } = this.options;
    if (signal.aborted || head.length === 0) return [];
    const compression = this.unpacked === undefined ? compressionOf(head) : undefined;
    if (compression !== undefined) return [this.unpackBranch(compression)];
    let format = streamableFormat(detectFormatFromHeader(head));
    // Decompressed bytes are checked from their headers alone: raw and qcow2 only.
    if (this.unpacked !== undefined && format !== 'raw' && format !== 'qcow2') format = undefined;
    return format === undefined ? [] : this.openBackends(format);
  }

  private async openBackends(format: DiskFormat): Promise<Branch[]> {
    const { backends, image, log, signal, now } = this.options;
    const size = this.unpacked === undefined ? image.size : undefined;
    const branches: Branch[] = [];
    for (const backend of backends) {
      if (backend.receive === undefined) continue;
      try {
        const ctx = { log: log.child({ backend: backend.name }), signal, now };
        const upload = await backend.receive(image, { format, size }, ctx);
        if (upload === undefined) continue;
        // Its failures are seen through `destroyed`/`errored` and its own upload call.
        upload.sink.on('error', () => undefined);
        branches.push({
          label: backend.name,
          sink: upload.sink,
          abort: (reason) => upload.abort(reason),
          commit: async (verified) => {
            if (verified.file !== undefined) {
              await checkFileFormat(verified.file, format, this.options.workDir, signal);
            }
            return [{ backend: backend.name, refs: (await upload.commit(verified)).refs }];
          },
        });
      } catch (err) {
        log.warn({ backend: backend.name, err }, 'backend cannot take the download as it arrives');
      }
    }
    return branches;
  }

  /** A decompressor feeding an inner pass; that pass is committed on what came out of it. */
  private unpackBranch(compression: 'gzip' | 'bzip2' | 'xz'): Branch {
    const { signal } = this.options;
    const maxBytes = DEFAULT_FORMAT_LIMITS.maxDecompressedBytes;
    const decompressor = createDecompressor(compression, { maxBytes, signal });
    const inner = new InflightDelivery(this.options, true);
    decompressor.on('error', (err: Error) => void inner.abort(err));
    decompressor.pipe(inner);
    return {
      label: `${compression} decompression`,
      sink: decompressor,
      abort: async (reason) => {
        decompressor.destroy();
        await inner.abort(reason);
      },
      commit: async () => {
        await finished(inner);
        return inner.commitUnpacked();
      },
    };
  }

  /** Commits the backends behind a decompressor once what came out passed the header checks. */
  private async commitUnpacked(): Promise<Held[]> {
    const seen = (this.unpacked as PassingBytes).digest();
    // Every backend was given the format the head showed.
    const format = streamableFormat(detectFormatFromHeader(seen.head));
    if ((this.branches ?? []).length > 0) {
      try {
        if (format === undefined) throw new Error('decompressed bytes are no disk this pass takes');
        checkUnpackedFormat(format, seen);
      } catch (err) {
        await this.abort(err as Error);
        throw err;
      }
    }
    return this.commitBranches({ size: seen.size, sha512: seen.sha512 });
  }

  /** Writes to every destination, waiting for each to take it; one too slow or failing is dropped. */
  private async forward(chunk: Buffer): Promise<void> {
    const branches = this.branches ?? [];
    await Promise.all(
      branches.map(async (b) => {
        if (b.sink.destroyed) return this.drop(b, b.sink.errored ?? new Error('upload closed'));
        if (b.sink.write(chunk)) return;
        const outcome = await drainOrStall(b.sink, this.options.stallMs);
        if (outcome !== 'drain') this.drop(b, outcome);
      }),
    );
  }

  private drop(b: Branch, reason: Error): void {
    if (this.branches === undefined || !this.branches.includes(b)) return;
    this.branches = this.branches.filter((x) => x !== b);
    this.options.log.warn(
      { backend: b.label, err: reason },
      'dropped from the download pass; the delivery phase sends the cached file',
    );
    this.dropped.push(b.abort(reason).catch(() => undefined));
  }
}

function drainOrStall(sink: Writable, stallMs: number): Promise<'drain' | Error> {
  return new Promise((resolve) => {
    const done = (outcome: 'drain' | Error) => {
      clearTimeout(timer);
      sink.off('drain', onDrain);
      sink.off('close', onClose);
      resolve(outcome);
    };
    const onDrain = () => done('drain');
    const onClose = () => done(sink.errored ?? new Error('upload closed'));
    const timer = setTimeout(() => done(new Error(`backend took nothing for ${stallMs} ms`)), stallMs);
    sink.once('drain', onDrain);
    sink.once('close', onClose);
  });
}
