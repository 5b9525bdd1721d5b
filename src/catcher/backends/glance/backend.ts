import { routingOf, type Routing } from '../routing.js';
import { digestFile } from '../../../shared/digest.js';
import { GlanceTakeover, type TakeoverPlan } from './adopt.js';
import type { GlanceClient, GlanceImage } from './client.js';
import { DISK_FORMATS, type ResolvedGlanceConfig } from './config.js';
import { checkDisks } from './input.js';
import { GlanceIntake } from './intake.js';
import { GlanceListing } from './listing.js';
import {
  chooseAdopted,
  controlledBy,
  holdsDigest,
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
  BackendContextWithoutWork,
  BackendInput,
  DeliveryPayload,
  DiskFormat,
  HeldImage,
  ImageRecord,
  InflightUpload,
  PreparedDisk,
  StreamedDisk,
} from '../types.js';

/**
 * OpenStack Glance backend (SPEC.md section 8, docs/glance.md): one Glance image per disk,
 * created hidden in the backend's own project, streamed into `PUT /v2/images/{id}/file`
 * (while the download runs when the disk needs no conversion: intake.ts), checked against
 * Glance's size and hash, then released to its VO with the properties cloud-info-provider
 * reads. Every operation first looks at what Glance already holds for the identifier (one
 * listing per run), so a retry after a crash adopts instead of duplicating; only images that
 * ownership.ts calls ours are adopted, changed or deleted.
 */
export class GlanceBackend implements Backend {
  readonly type = 'glance';
  readonly name: string;
  readonly input: BackendInput;
  readonly parallel: number;
  readonly routing: Routing | undefined;
  private readonly formats: readonly DiskFormat[];
  private readonly sharing: GlanceSharing;
  private readonly ownership: GlanceOwnership;
  private readonly listing: GlanceListing;
  private readonly intake: GlanceIntake;
  /** Recognises images atrope made (adopt.ts); undefined when `takeover: false`. */
  private readonly takeover: GlanceTakeover | undefined;

  constructor(
    config: ResolvedGlanceConfig,
    private readonly client: GlanceClient,
  ) {
    this.name = config.name;
    this.formats = config.diskFormat === undefined ? DISK_FORMATS : [config.diskFormat];
    this.input = { kind: 'disks', formats: this.formats };
    this.parallel = config.parallel;
    this.routing = routingOf(config);
    this.sharing = new GlanceSharing(config, client);
    this.ownership = new GlanceOwnership(config, client);
    this.listing = new GlanceListing(client, config.name);
    this.intake = new GlanceIntake(config, client, this.listing, this.sharing);
    const { listing, intake, ownership } = this;
    this.takeover =
      config.takeover === false
        ? undefined
        : new GlanceTakeover(config.takeover.tag, { client, ownership, listing, intake });
  }

  /** Streams a one-disk image in as it downloads, unless Glance already holds it or cannot take it. */
  async receive(
    image: ImageRecord,
    disk: StreamedDisk,
    ctx: BackendContextWithoutWork,
  ): Promise<InflightUpload | undefined> {
    if (!this.formats.includes(disk.format)) return undefined;
    const owners = await this.ownership.owners(image.vo, ctx.signal);
    const held = (await this.sameBytes(image, ctx)).filter(
      (i) => isSettled(i) && controlledBy(i, owners, ctx.log),
    );
    // What Glance holds is adopted (or replaced) by deliver, from the cached file if need be.
    if (held.length > 0) return undefined;
    // An image atrope uploaded with these very bytes is adopted by deliver: nothing to send.
    const plain = image.appliance === undefined && disk.size === image.size;
    if (plain && (await this.takeover?.adoptable(image, disk.format, ctx)) !== undefined) return undefined;
    return this.intake.receive(image, disk.format, disk.size, ctx);
  }

  /** A one-disk image this process streamed in and checked: released (or confirmed) by its ref. */
  async release(
    image: ImageRecord,
    refs: readonly string[],
    ctx: BackendContext,
    publish: boolean,
  ): Promise<{ refs: string[] } | undefined> {
    const [ref] = refs;
    const digest = ref === undefined ? undefined : this.intake.checked.get(ref);
    if (refs.length !== 1 || ref === undefined || digest === undefined) return undefined;
    const owners = await this.ownership.owners(image.vo, ctx.signal);
    const held = (await this.sameBytes(image, ctx)).find((i) => i.id === ref);
    if (held === undefined || !controlledBy(held, owners, ctx.log) || !holdsDigest(held, digest))
      return undefined;
    if (publish) await this.intake.release(held, image, { index: 0, count: 1 }, digest.sha512, ctx);
    return { refs: [ref] };
  }

  deliver(image: ImageRecord, payload: DeliveryPayload, ctx: BackendContext): Promise<{ refs: string[] }> {
    return this.place(image, payload, ctx, true);
  }

  /** Uploads and checks, hidden in the backend's project: an appliance member waiting for the others. */
  stage(image: ImageRecord, payload: DeliveryPayload, ctx: BackendContext): Promise<{ refs: string[] }> {
    return this.place(image, payload, ctx, false);
  }

  private async place(
    image: ImageRecord,
    payload: DeliveryPayload,
    ctx: BackendContext,
    release: boolean,
  ): Promise<{ refs: string[] }> {
    const disks = await checkDisks(payload.disks, this.formats, this.name);
    const owners = await this.ownership.owners(image.vo, ctx.signal);
    const existing = (await this.sameBytes(image, ctx)).filter((i) => controlledBy(i, owners, ctx.log));
    const refs: string[] = [];
    for (const disk of disks) {
      const candidates = existing.filter((i) => diskIndexOf(i) === disk.index);
      const shape = { disk, count: disks.length, release };
      refs.push(await this.deliverDisk(image, shape, candidates, payload.file, ctx));
    }
    // Unfinished records beyond the current disk count belong to nothing we deliver now.
    const outside = (i: GlanceImage): boolean => diskIndexOf(i) < 0 || diskIndexOf(i) >= disks.length;
    for (const stray of existing.filter((i) => outside(i) && !isSettled(i))) await this.discard(stray, ctx);
    ctx.log.info(
      { image: { identifier: image.identifier, sha512: image.sha512 }, refs },
      release
        ? 'image delivered to Glance'
        : 'image staged in Glance, hidden until its appliance is complete',
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
      if (ops.length > 0) this.listing.put(await this.client.patchImage(target.id, ops, ctx.signal));
    }
  }

  async deprecate(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<void> {
    for (const target of await this.targets(image, refs, ctx)) {
      const desired: Record<string, unknown> = { [PROP.deprecated]: 'true' };
      if ('os_hidden' in target) desired['os_hidden'] = true;
      const ops = patchTowards(target, desired);
      if (ops.length === 0) continue;
      ops.push({ op: 'add', path: `/${PROP.deprecatedAt}`, value: ctx.now.toISOString() });
      this.listing.put(await this.client.patchImage(target.id, ops, ctx.signal));
    }
  }

  async retire(image: ImageRecord, refs: string[], ctx: BackendContext): Promise<{ done: boolean }> {
    let done = true;
    for (const target of await this.targets(image, refs, ctx)) {
      const outcome = await this.client.deleteImage(target.id, ctx.signal);
      if (outcome !== 'refused') {
        this.listing.remove(target.id);
        continue;
      }
      // Still in use or protected: make it unusable now and delete it on a later run.
      done = false;
      await this.sharing.withdraw(target, ctx.signal);
      this.listing.invalidate();
      ctx.log.warn(
        { image: { identifier: image.identifier }, ref: target.id },
        'Glance refused deletion; deactivated',
      );
    }
    return { done };
  }

  /** Unfinished uploads left behind (intake.ts), in projects this backend controls. */
  async sweep(ctx: BackendContext): Promise<void> {
    await this.intake.sweep(ctx, async (image) => {
      const vo = image[PROP.vo];
      const owners = await this.ownership.owners(typeof vo === 'string' ? vo : undefined, ctx.signal);
      return controlledBy(image, owners, ctx.log);
    });
    // atrope images this backend now serves with its own (make before break).
    await this.takeover?.replace(ctx);
  }

  /** The dry run of `vmicatcher takeover`: what a sync would do with atrope's images. */
  takeoverPlan(
    wanted: readonly ImageRecord[],
    ctx: BackendContextWithoutWork,
  ): Promise<TakeoverPlan> | undefined {
    return this.takeover?.plan(wanted, this.formats.length === 1 ? this.formats[0] : undefined, ctx);
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

  /** Images labelled for this identifier and list SHA-512, any status, whoever owns them. */
  private sameBytes(image: ImageRecord, ctx: BackendContextWithoutWork): Promise<GlanceImage[]> {
    return this.listing.sameBytes(image.identifier, image.sha512, ctx.now, ctx.signal);
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
    shape: { disk: PreparedDisk; count: number; release: boolean },
    candidates: GlanceImage[],
    file: string,
    ctx: BackendContext,
  ): Promise<string> {
    const { disk } = shape;
    // The unchanged cache file is the list's bytes; a converted or extracted disk is hashed.
    const digestOf = async (): Promise<DiskDigest> =>
      disk.path === file ? { size: disk.size, sha512: image.sha512 } : await digestFile(disk.path);
    const { kept, digest, discard } = await chooseAdopted(candidates, digestOf, ctx.log);
    for (const leftover of discard) await this.discard(leftover, ctx);
    if (kept === undefined || digest === undefined) {
      // A one-disk image delivered as the list's file: atrope's copy of it is adopted if verified.
      const whole = shape.release && shape.count === 1 && disk.path === file;
      const atrope = whole ? await this.takeover?.adoptable(image, disk.format, ctx) : undefined;
      if (atrope !== undefined && this.takeover !== undefined) return this.takeover.adopt(atrope, image, ctx);
      return this.intake.upload(image, shape, ctx);
    }
    if (shape.release)
      await this.intake.release(kept, image, { index: disk.index, count: shape.count }, digest.sha512, ctx);
    else if (kept[PROP.diskSha512] !== digest.sha512) await this.intake.mark(kept.id, digest.sha512, ctx);
    return kept.id;
  }

  private async discard(image: GlanceImage, ctx: BackendContext): Promise<void> {
    if ((await this.intake.remove(image.id, ctx.signal)) === 'refused') {
      ctx.log.warn({ ref: image.id, status: image.status }, 'Glance refused to delete a leftover image');
    }
  }
}
