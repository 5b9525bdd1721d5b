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

export type BackendInput = { kind: 'file' } | { kind: 'disks'; formats: readonly DiskFormat[] };

export interface Backend {
  readonly name: string;
  readonly type: string;
  readonly input: BackendInput;
  /** Makes the image available; returns the backend-local references. */
  deliver(image: ImageRecord, payload: DeliveryPayload, ctx: BackendContext): Promise<{ refs: string[] }>;
  /** The list changed metadata but not the bytes. */
  updateMetadata(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<void>;
  /** Hide or deactivate: superseded or removed, kept during the grace period. */
  deprecate(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<void>;
  /** Delete. `done: false` when still in use: deactivated now, to be retried on a later run. */
  retire(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<{ done: boolean }>;
  list(ctx: BackendContext): Promise<HeldImage[]>;
  close?(): Promise<void>;
}
