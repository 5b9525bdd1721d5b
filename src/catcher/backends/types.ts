import type { Routing } from './routing.js';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { DiskFormat, PreparedDisk } from '../../shared/format/types.js';
import type { JsonObject } from '../../shared/imagelist/model.js';

/**
 * The backend contract (SPEC.md section 8). A backend makes verified images usable in one
 * cloud. Every operation is idempotent by image identifier and SHA-512: calling it again
 * after a crash or a retry must not create a second copy.
 */

export type { DiskFormat, PreparedDisk } from '../../shared/format/types.js';

/** What a backend knows about an image: the verified list entry and where it came from. */
export interface ImageRecord {
  identifier: string;
  /** Subscription (list) identifier. */
  listIdentifier: string;
  vo: string | undefined;
  title: string;
  description: string;
  version: string;
  sha512: string;
  size: number;
  /** `hv:format` as the list wrote it (informational: the real format is detected). */
  declaredFormat: string | undefined;
  appliance: string | undefined;
  supersedes: string[];
  /** The complete image entry from the verified list, unknown keys included. */
  entry: JsonObject;
}

export interface DeliveryPayload {
  /** The verified file in the cache (exact bytes of `hv:uri`). */
  file: string;
  /** Disks prepared for this backend, when its input kind is `disks`. */
  disks: PreparedDisk[];
}

export interface BackendContext {
  log: Logger;
  signal: AbortSignal;
  now: Date;
  /** A scratch directory for this operation, removed afterwards. */
  workDir: string;
}

/** An image a backend holds, as its `list` reports it (to reconcile after a crash). */
export interface HeldImage {
  identifier: string;
  sha512: string;
  /** Backend-local references (Glance image IDs, file paths), one per disk. */
  refs: string[];
  deprecated: boolean;
}

/**
 * A backend's receiving end of a download in flight (issue 14): the bytes of a disk that
 * needs no conversion, as they arrive. What it makes stays unusable (hidden, in the
 * backend's own place) until `deliver` releases it.
 */
export interface InflightUpload {
  /** Takes the bytes in order; its back-pressure slows the download. */
  readonly sink: Writable;
  /**
   * The download passed its size, digest and format checks: let the upload finish and
   * check what the backend stored against `verified`. Resolves to the references held.
   */
  commit(verified: VerifiedBytes): Promise<{ refs: string[] }>;
  /** The bytes failed or the download gave up: the upload never completes, and what it made is removed. */
  abort(reason: Error): Promise<void>;
}

/** What the bytes that went by were: their size and SHA-512, and a file holding them when there is one. */
export interface VerifiedBytes {
  size: number;
  sha512: string;
  /** The verified cache file, when the bytes went to the backend as they are in it. */
  file?: string | undefined;
}

/** A disk as it streams by: its format (from its first bytes) and size (when known). */
export interface StreamedDisk {
  format: DiskFormat;
  size: number | undefined;
}

export type BackendContextWithoutWork = Omit<BackendContext, 'workDir'>;

export type BackendInput = { kind: 'file' } | { kind: 'disks'; formats: readonly DiskFormat[] };

export interface Backend {
  readonly name: string;
  readonly type: string;
  readonly input: BackendInput;
  /** Operations on different images this backend may run at once (default 1). */
  readonly parallel?: number;
  /** Which images it takes (routing.ts); undefined: every image. */
  readonly routing?: Routing | undefined;
  /**
   * Optional: takes a one-disk image's bytes while they download; undefined when it will not
   * (format not taken, too many at once, the image already held).
   */
  receive?(
    image: ImageRecord,
    disk: StreamedDisk,
    ctx: BackendContextWithoutWork,
  ): Promise<InflightUpload | undefined>;
  /**
   * Optional: puts the image in place without making it usable yet, so that the members of
   * an appliance appear together; `deliver` then releases it. Without it, `deliver` alone is used.
   */
  stage?(image: ImageRecord, payload: DeliveryPayload, ctx: BackendContext): Promise<{ refs: string[] }>;
  /**
   * Optional: makes usable (`publish`) or just confirms (staging) an image this process
   * received as it downloaded, by its refs; undefined when the refs do not hold it (then the
   * caller delivers from the cache file).
   */
  release?(
    image: ImageRecord,
    refs: readonly string[],
    ctx: BackendContext,
    publish: boolean,
  ): Promise<{ refs: string[] } | undefined>;
  /** Makes the image available; returns the backend-local references. */
  deliver(image: ImageRecord, payload: DeliveryPayload, ctx: BackendContext): Promise<{ refs: string[] }>;
  /** The list changed metadata but not the bytes. */
  updateMetadata(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<void>;
  /** Hide or deactivate: superseded or removed, kept during the grace period. */
  deprecate(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<void>;
  /** Delete. `done: false` when still in use: deactivated now, to be retried on a later run. */
  retire(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<{ done: boolean }>;
  list(ctx: BackendContext): Promise<HeldImage[]>;
  /**
   * Optional, after a run's deliveries: removes what interrupted operations left behind
   * (unfinished uploads) that no delivery of this run looked at.
   */
  sweep?(ctx: BackendContext): Promise<void>;
  close?(): Promise<void>;
}
