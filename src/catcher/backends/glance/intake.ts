import { VmiError } from '../../../shared/errors.js';
import { TailHold } from '../../deliver/tail-hold.js';
import type { GlanceClient, GlanceImage } from './client.js';
import type { ResolvedGlanceConfig } from './config.js';
import type { GlanceListing } from './listing.js';
import type { DiskDigest } from './ownership.js';
import { markVerified, storedMatches } from './integrity.js';
import {
  ENTRY_PROPERTIES,
  entryProperties,
  glanceImageName,
  isSettled,
  patchTowards,
  PROP,
} from './properties.js';
import type { GlanceSharing } from './sharing.js';
import type {
  BackendContextWithoutWork,
  DiskFormat,
  ImageRecord,
  InflightUpload,
  PreparedDisk,
} from '../types.js';

/**
 * How bytes enter Glance (issue 14, docs/glance.md): an image is created hidden
 * (`os_hidden`), private and in the backend's own project, so no VO user sees or boots it;
 * its data goes in; Glance's size and SHA-512 are compared with the expected ones. Only
 * then may the backend release it (owner, visibility, shown). A streamed upload keeps its
 * last bytes back until the download is verified, so Glance never holds a complete body of
 * unverified bytes.
 */

/** Bytes a streamed upload keeps back until the download is verified. */
const TAIL = 64 * 1024;
/** Bytes buffered between the download and the upload (small: see deliver/inflight.ts). */
const BUFFER = 256 * 1024;

export interface DiskShape {
  format: DiskFormat;
  index: number;
  count: number;
}

export class GlanceIntake {
  private streaming = 0;
  /** Images this process is uploading right now: never leftovers. */
  readonly uploading = new Set<string>();
  /** Images this process uploaded and checked, with the digest Glance holds: releasable by ref. */
  readonly checked = new Map<string, DiskDigest>();

  constructor(
    private readonly config: ResolvedGlanceConfig,
    private readonly client: GlanceClient,
    private readonly listing: GlanceListing,
    private readonly sharing: GlanceSharing,
  ) {}

  /** A new image record nobody but the backend's project can see. */
  async createHidden(image: ImageRecord, disk: DiskShape, signal: AbortSignal): Promise<GlanceImage> {
    const created = await this.client.createImage(
      {
        name: glanceImageName(image.title, disk.index, disk.count),
        disk_format: disk.format,
        container_format: 'bare',
        visibility: 'private',
        os_hidden: true,
        ...entryProperties(image, this.config.name),
        [PROP.diskIndex]: String(disk.index),
        [PROP.diskCount]: String(disk.count),
        [PROP.deprecated]: 'false',
      },
      signal,
    );
    this.listing.put(created);
    return created;
  }

  /** Glance's record after an upload, when it holds exactly the expected bytes; throws otherwise. */
  async verify(
    id: string,
    file: string | undefined,
    expected: DiskDigest,
    ctx: BackendContextWithoutWork,
  ): Promise<GlanceImage> {
    const stored = await this.client.getImage(id, ctx.signal);
    if (stored?.status !== 'active') {
      throw new VmiError('BACKEND_FAILED', `Glance image ${id} is ${stored?.status ?? 'gone'} after upload`);
    }
    this.listing.put(stored);
    if (!(await storedMatches(stored, file, expected, ctx.log))) {
      throw new VmiError(
        'BACKEND_FAILED',
        `Glance image ${id} holds ${String(stored.size)} bytes (${String(stored.os_hash_algo)} ` +
          `${String(stored.os_hash_value).slice(0, 16)}...), expected ${expected.size} (sha512 ${expected.sha512.slice(0, 16)}...)`,
      );
    }
    this.checked.set(id, { size: expected.size, sha512: expected.sha512 });
    return stored;
  }

  /** Deletes an image and forgets it in the run's listing (unless Glance refused). */
  async remove(id: string, signal: AbortSignal): Promise<'deleted' | 'absent' | 'refused'> {
    const outcome = await this.client.deleteImage(id, signal);
    if (outcome !== 'refused') this.listing.remove(id);
    return outcome;
  }

  /** Deletes what an upload made; a failure here is only logged (the next run finds it). */
  async discard(id: string, ctx: BackendContextWithoutWork): Promise<void> {
    try {
      const outcome = await this.remove(id, AbortSignal.timeout(this.config.timeoutSeconds * 1000));
      if (outcome === 'refused') ctx.log.warn({ ref: id }, 'Glance refused to delete an unfinished image');
    } catch (err) {
      ctx.log.warn({ ref: id, err }, 'could not delete an unfinished Glance image; the next run will');
    }
  }

  /** Hidden upload into the backend's project, checked; released at once unless staged. */
  async upload(
    image: ImageRecord,
    shape: { disk: PreparedDisk; count: number; release: boolean },
    ctx: BackendContextWithoutWork,
  ): Promise<string> {
    const { disk, count } = shape;
    const created = await this.createHidden(
      image,
      { format: disk.format, index: disk.index, count },
      ctx.signal,
    );
    let stored: GlanceImage;
    let sha512: string;
    try {
      const sent = await this.client.uploadFile(created.id, disk.path, ctx.signal);
      stored = await this.verify(created.id, disk.path, { size: sent.bytes, sha512: sent.sha512 }, ctx);
      sha512 = sent.sha512;
    } catch (err) {
      // Leave nothing half-made behind; the caller retries the delivery later.
      await this.discard(created.id, ctx);
      throw err;
    }
    if (shape.release) await this.release(stored, image, { index: disk.index, count }, sha512, ctx);
    else await this.mark(stored.id, sha512, ctx);
    return created.id;
  }

  /**
   * Deletes unfinished uploads (`queued`, `saving`) of this backend in projects it controls
   * (`ours`) that no upload of this process is writing: what a crash or a refused deletion
   * left, whichever image they were for. The backend name is unique per Glance and one sync
   * runs at a time, so nobody else is writing them. Released images are never touched.
   */
  async sweep(ctx: BackendContextWithoutWork, ours: (image: GlanceImage) => Promise<boolean>): Promise<void> {
    for (const image of await this.listing.all(ctx.now, ctx.signal)) {
      if (isSettled(image) || this.uploading.has(image.id) || !(await ours(image))) continue;
      ctx.log.info({ ref: image.id, status: image.status }, 'deleting an unfinished upload left behind');
      if ((await this.remove(image.id, ctx.signal)) === 'refused') {
        ctx.log.warn({ ref: image.id, status: image.status }, 'Glance refused to delete a leftover image');
      }
    }
  }

  /** Records on a checked image that its data was checked (a staged appliance member). */
  async mark(id: string, sha512: string, ctx: BackendContextWithoutWork): Promise<void> {
    this.listing.put(await this.client.patchImage(id, [markVerified(sha512)], ctx.signal));
  }

  /**
   * Gives a checked image to its VO in one PATCH (owner, visibility, shown, properties and
   * the mark of the check), active again if it was deactivated, and shared.
   */
  async release(
    kept: GlanceImage,
    image: ImageRecord,
    shape: { index: number; count: number },
    sha512: string,
    ctx: BackendContextWithoutWork,
  ): Promise<void> {
    const desired: Record<string, unknown> = {
      name: glanceImageName(image.title, shape.index, shape.count),
      ...this.sharing.placement(image),
      ...entryProperties(image, this.config.name),
      [PROP.diskIndex]: String(shape.index),
      [PROP.diskCount]: String(shape.count),
      [PROP.deprecated]: 'false',
      [PROP.diskSha512]: sha512,
    };
    if ('os_hidden' in kept) desired['os_hidden'] = false;
    const ops = patchTowards(kept, desired, [...ENTRY_PROPERTIES, PROP.deprecatedAt, PROP.retirePending]);
    if (ops.length > 0) this.listing.put(await this.client.patchImage(kept.id, ops, ctx.signal));
    if (kept.status === 'deactivated') await this.client.reactivate(kept.id, ctx.signal);
    await this.sharing.share(kept.id, image, ctx);
  }

  /**
   * Opens a streamed upload of a one-disk image, or undefined when too many run already.
   * The image is created at once; the bytes follow as the download delivers them (of
   * unknown size when they are being decompressed: then sent chunked).
   */
  async receive(
    image: ImageRecord,
    format: DiskFormat,
    size: number | undefined,
    ctx: BackendContextWithoutWork,
  ): Promise<InflightUpload | undefined> {
    if (this.streaming >= this.config.parallel) return undefined;
    this.streaming += 1;
    let created: GlanceImage;
    try {
      created = await this.createHidden(image, { format, index: 0, count: 1 }, ctx.signal);
    } catch (err) {
      this.streaming -= 1;
      throw err;
    }
    const sink = new TailHold(TAIL, BUFFER);
    const sent = this.client.uploadStream(created.id, sink, size, ctx.signal);
    // Seen by commit or abort; never an unhandled rejection meanwhile.
    sent.catch(() => undefined);
    let settled = false;
    this.uploading.add(created.id);
    const finish = () => {
      if (!settled) this.streaming -= 1;
      this.uploading.delete(created.id);
      settled = true;
    };
    return {
      sink,
      commit: async (verified) => {
        try {
          sink.release();
          await sent;
          await this.verify(created.id, verified.file, verified, ctx);
          ctx.log.info(
            { image: image.identifier, ref: created.id },
            'streamed into Glance, hidden until released',
          );
          return { refs: [created.id] };
        } catch (err) {
          await this.discard(created.id, ctx);
          throw err;
        } finally {
          finish();
        }
      },
      abort: async (reason) => {
        if (settled) return;
        finish();
        sink.abort(reason);
        await sent.catch(() => undefined);
        await this.discard(created.id, ctx);
      },
    };
  }
}
