import { stat } from 'node:fs/promises';
import { digestFile } from '../../../shared/digest.js';
import { VmiError } from '../../../shared/errors.js';
import { noAuth, KeystoneAuth, type GlanceAuth } from './auth.js';
import { GlanceClient, type GlanceImage } from './client.js';
import { DISK_FORMATS, resolveGlanceConfig, type ResolvedGlanceConfig } from './config.js';
import { createGlanceHttp } from './http.js';
import { markVerified, storedMatches } from './integrity.js';
import {
  chooseAdopted,
  controlledBy,
  GlanceOwnership,
  holdsMarkedData,
  type DiskDigest,
} from './ownership.js';
import {
  diskIndexOf,
  ENTRY_PROPERTIES,
  entryProperties,
  glanceImageName,
  heldImages,
  isSettled,
  patchTowards,
  PROP,
} from './properties.js';
import { GlanceSharing } from './sharing.js';
import type {
  Backend,
  BackendContext,
  BackendInput,
  DeliveryPayload,
  DiskFormat,
  HeldImage,
  ImageRecord,
  PreparedDisk,
} from '../types.js';

/**
 * OpenStack Glance backend (SPEC.md section 8): one Glance image per disk, streamed into
 * `PUT /v2/images/{id}/file`, checked against Glance's size and hash, labelled with the
 * properties cloud-info-provider reads. Every operation first looks up what Glance already
 * holds for the identifier, so a retry after a crash adopts instead of duplicating; only
 * images that glance-ownership.ts calls ours are adopted, changed or deleted.
 */
export class GlanceBackend implements Backend {
  readonly type = 'glance';
  readonly name: string;
  readonly input: BackendInput;
  private readonly formats: readonly DiskFormat[];
  private readonly sharing: GlanceSharing;
  private readonly ownership: GlanceOwnership;

  constructor(
    private readonly config: ResolvedGlanceConfig,
    private readonly client: GlanceClient,
  ) {
    this.name = config.name;
    this.formats = config.diskFormat === undefined ? DISK_FORMATS : [config.diskFormat];
    this.input = { kind: 'disks', formats: this.formats };
    this.sharing = new GlanceSharing(config, client);
    this.ownership = new GlanceOwnership(config, client);
  }

  async deliver(
    image: ImageRecord,
    payload: DeliveryPayload,
    ctx: BackendContext,
  ): Promise<{ refs: string[] }> {
    const disks = await this.checkDisks(payload.disks);
    const owners = await this.ownership.owners(image.vo, ctx.signal);
    const existing = (await this.sameBytes(image, ctx)).filter((i) => controlledBy(i, owners, ctx.log));
    const refs: string[] = [];
    for (const disk of disks) {
      const candidates = existing.filter((i) => diskIndexOf(i) === disk.index);
      refs.push(await this.deliverDisk(image, disk, disks.length, candidates, payload.file, ctx));
    }
    // Unfinished records beyond the current disk count belong to nothing we deliver now.
    const outside = (i: GlanceImage): boolean => diskIndexOf(i) < 0 || diskIndexOf(i) >= disks.length;
    for (const stray of existing.filter((i) => outside(i) && !isSettled(i))) await this.discard(stray, ctx);
    ctx.log.info(
      { image: { identifier: image.identifier, sha512: image.sha512 }, refs },
      'image delivered to Glance',
    );
    return { refs };
  }

  async updateMetadata(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<void> {
    for (const target of await this.targets(image, refs, ctx)) {
      const count = Number(target[PROP.diskCount] ?? '1');
      const desired = {
        ...entryProperties(image, this.name),
        name: glanceImageName(image.title, diskIndexOf(target), count),
      };
      const ops = patchTowards(target, desired, ENTRY_PROPERTIES);
      if (ops.length > 0) await this.client.patchImage(target.id, ops, ctx.signal);
    }
  }

  async deprecate(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<void> {
    for (const target of await this.targets(image, refs, ctx)) {
      const desired: Record<string, unknown> = { [PROP.deprecated]: 'true' };
      if ('os_hidden' in target) desired['os_hidden'] = true;
      const ops = patchTowards(target, desired);
      if (ops.length === 0) continue;
      ops.push({ op: 'add', path: `/${PROP.deprecatedAt}`, value: ctx.now.toISOString() });
      await this.client.patchImage(target.id, ops, ctx.signal);
    }
  }

  async retire(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<{ done: boolean }> {
    let done = true;
    for (const target of await this.targets(image, refs, ctx)) {
      const outcome = await this.client.deleteImage(target.id, ctx.signal);
      if (outcome !== 'refused') continue;
      // Still in use or protected: make it unusable now and delete it on a later run.
      done = false;
      await this.sharing.withdraw(target, ctx.signal);
      ctx.log.warn(
        { image: { identifier: image.identifier }, ref: target.id },
        'Glance refused deletion; deactivated',
      );
    }
    return { done };
  }

  /** Our complete images: in a project we control, holding the data we checked and marked. */
  async list(ctx: BackendContext): Promise<HeldImage[]> {
    const found = await this.client.listImages({ [PROP.backend]: this.name }, ctx.signal);
    const ours: GlanceImage[] = [];
    for (const image of found) {
      const vo = image[PROP.vo];
      const owners = await this.ownership.owners(typeof vo === 'string' ? vo : undefined, ctx.signal);
      if (controlledBy(image, owners, ctx.log) && holdsMarkedData(image)) ours.push(image);
    }
    return heldImages(ours);
  }

  /** Refuses bad input before anything is created in Glance. */
  private async checkDisks(disks: PreparedDisk[]): Promise<PreparedDisk[]> {
    const sorted = [...disks].sort((a, b) => a.index - b.index);
    if (sorted.length === 0) throw new VmiError('BACKEND_FAILED', 'no disk to deliver to Glance');
    for (const [position, disk] of sorted.entries()) {
      if (disk.index !== position) {
        throw new VmiError(
          'BACKEND_FAILED',
          `disk indexes must be 0..${sorted.length - 1}, got ${disk.index}`,
        );
      }
      if (!this.formats.includes(disk.format)) {
        throw new VmiError('FORMAT_UNSUPPORTED', `backend ${this.name} does not take ${disk.format} disks`);
      }
      const info = await stat(disk.path).catch(() => undefined);
      if (info?.isFile() !== true) {
        throw new VmiError('BACKEND_FAILED', `disk ${disk.name} is not a readable file`);
      }
    }
    return sorted;
  }

  /** Images labelled for this identifier and list SHA-512, any status, whoever owns them. */
  private async sameBytes(image: ImageRecord, ctx: BackendContext): Promise<GlanceImage[]> {
    const filters = { [PROP.backend]: this.name, [PROP.identifier]: image.identifier };
    const found = await this.client.listImages(filters, ctx.signal);
    return found.filter((i) => i[PROP.sha512] === image.sha512);
  }

  /**
   * The caller's refs plus the images of ours Glance holds for the image (checked and
   * marked); refs that are not ours are left alone.
   */
  private async targets(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<GlanceImage[]> {
    const owners = await this.ownership.owners(image.vo, ctx.signal);
    const ours = (await this.sameBytes(image, ctx)).filter(
      (i) => controlledBy(i, owners, ctx.log) && holdsMarkedData(i),
    );
    const byId = new Map(ours.map((i) => [i.id, i]));
    for (const ref of refs.filter((r) => !byId.has(r))) {
      const found = await this.client.getImage(ref, ctx.signal);
      if (found === undefined) continue;
      const labelled = found[PROP.backend] === this.name && found[PROP.identifier] === image.identifier;
      if (labelled && controlledBy(found, owners, ctx.log)) {
        byId.set(ref, found);
      } else {
        ctx.log.warn({ ref }, 'Glance image is not one this backend made for the identifier; left alone');
      }
    }
    return [...byId.values()];
  }

  private async deliverDisk(
    image: ImageRecord,
    disk: PreparedDisk,
    count: number,
    candidates: GlanceImage[],
    file: string,
    ctx: BackendContext,
  ): Promise<string> {
    // The unchanged cache file is the list's bytes; a converted or extracted disk is hashed.
    const digestOf = async (): Promise<DiskDigest> =>
      disk.path === file ? { size: disk.size, sha512: image.sha512 } : await digestFile(disk.path);
    const { kept, digest, discard } = await chooseAdopted(candidates, digestOf, ctx.log);
    for (const leftover of discard) await this.discard(leftover, ctx);
    if (kept === undefined || digest === undefined) return this.upload(image, disk, count, ctx);
    if (kept[PROP.diskSha512] !== digest.sha512) {
      await this.client.patchImage(kept.id, [markVerified(digest.sha512)], ctx.signal);
    }
    await this.refresh(kept, image, disk, count, ctx);
    return kept.id;
  }

  private async upload(
    image: ImageRecord,
    disk: PreparedDisk,
    count: number,
    ctx: BackendContext,
  ): Promise<string> {
    const created = await this.client.createImage(
      {
        name: glanceImageName(image.title, disk.index, count),
        disk_format: disk.format,
        container_format: 'bare',
        ...this.sharing.placement(image),
        ...entryProperties(image, this.name),
        [PROP.diskIndex]: String(disk.index),
        [PROP.diskCount]: String(count),
        [PROP.deprecated]: 'false',
      },
      ctx.signal,
    );
    try {
      const sent = await this.client.uploadFile(created.id, disk.path, ctx.signal);
      const stored = await this.client.getImage(created.id, ctx.signal);
      if (stored?.status !== 'active') {
        throw new VmiError(
          'BACKEND_FAILED',
          `Glance image ${created.id} is ${stored?.status ?? 'gone'} after upload`,
        );
      }
      if (!(await storedMatches(stored, disk.path, { size: sent.bytes, sha512: sent.sha512 }, ctx.log))) {
        throw new VmiError(
          'BACKEND_FAILED',
          `Glance image ${created.id} holds ${String(stored.size)} bytes (${String(stored.os_hash_algo)} ` +
            `${String(stored.os_hash_value).slice(0, 16)}...), sent ${sent.bytes} (sha512 ${sent.sha512.slice(0, 16)}...)`,
        );
      }
      await this.client.patchImage(created.id, [markVerified(sent.sha512)], ctx.signal);
    } catch (err) {
      // Leave nothing half-made behind; the caller retries the delivery later.
      await this.discard(created, { ...ctx, signal: AbortSignal.timeout(this.config.timeoutSeconds * 1000) });
      throw err;
    }
    await this.sharing.share(created.id, image, ctx);
    return created.id;
  }

  /** Brings an adopted image up to date: metadata, visible again, active, shared. */
  private async refresh(
    kept: GlanceImage,
    image: ImageRecord,
    disk: PreparedDisk,
    count: number,
    ctx: BackendContext,
  ): Promise<void> {
    const desired: Record<string, unknown> = {
      name: glanceImageName(image.title, disk.index, count),
      ...this.sharing.placement(image),
      ...entryProperties(image, this.name),
      [PROP.diskIndex]: String(disk.index),
      [PROP.diskCount]: String(count),
      [PROP.deprecated]: 'false',
    };
    if ('os_hidden' in kept) desired['os_hidden'] = false;
    const ops = patchTowards(kept, desired, [...ENTRY_PROPERTIES, PROP.deprecatedAt, PROP.retirePending]);
    if (ops.length > 0) await this.client.patchImage(kept.id, ops, ctx.signal);
    if (kept.status === 'deactivated') await this.client.reactivate(kept.id, ctx.signal);
    await this.sharing.share(kept.id, image, ctx);
  }

  private async discard(image: GlanceImage, ctx: BackendContext): Promise<void> {
    const outcome = await this.client.deleteImage(image.id, ctx.signal);
    if (outcome === 'refused') {
      ctx.log.warn({ ref: image.id, status: image.status }, 'Glance refused to delete a leftover image');
    }
  }
}

/** Builds the backend from its configuration block (validated here if it was not already). */
export function createGlanceBackend(
  raw: unknown,
  deps: { auth?: GlanceAuth; clock?: () => number } = {},
): GlanceBackend {
  const config = resolveGlanceConfig(raw);
  const http = createGlanceHttp(config.caFile);
  const timeoutMs = config.timeoutSeconds * 1000;
  const auth =
    deps.auth ??
    (config.auth === undefined
      ? noAuth(config.endpoint ?? '', config.testIdentity)
      : new KeystoneAuth(config.auth, {
          http,
          timeoutMs,
          endpointOverride: config.endpoint,
          ...(deps.clock === undefined ? {} : { clock: deps.clock }),
        }));
  return new GlanceBackend(config, new GlanceClient(auth, http, timeoutMs));
}
