import type { GlanceClient, GlanceImage } from './client.js';
import type { GlanceIntake } from './intake.js';
import type { GlanceListing } from './listing.js';
import { holdsDigest, holdsMarkedData, type GlanceOwnership } from './ownership.js';
import { isDeprecated, PROP } from './properties.js';
import type { BackendContextWithoutWork, DiskFormat, ImageRecord } from '../types.js';

/**
 * Taking over a Glance that atrope filled (issue 16, item 4; docs/operations.md "Taking
 * over from atrope"). atrope tags its images (`atrope` by default) and labels them with
 * `appdb_id` (the list's `dc:identifier`) and `image_hash` (`sha512:<hex>`). Before
 * uploading a one-disk image it has none of its own for, the backend looks for such an
 * image and adopts it, in one PATCH and without a byte uploaded, only when all hold:
 *   - it carries the takeover tag, is `active`, and its owner is a project the backend
 *     controls (ownership.ts);
 *   - atrope's label says the list's SHA-512, AND Glance's own hash of the stored data is
 *     that SHA-512 with the list's size: the label alone proves nothing, any project can
 *     write it on other bytes;
 *   - its `disk_format` is the one the backend would deliver.
 * atrope's tag and properties are kept, so an atrope still running does not upload again.
 * Any other atrope image of an identifier the backend now serves with a released image of
 * its own is deleted at the end of the run (make before break), when a project the backend
 * controls owns it; images of other projects, and of identifiers vmicast does not sync,
 * are left alone.
 */

/** atrope's properties. */
export const ATROPE = { identifier: 'appdb_id', hash: 'image_hash' } as const;

export type ReplaceReason =
  | 'hash differs'
  | 'not verified'
  | 'not active'
  | 'format differs'
  | 'duplicate'
  | 'packed appliance'
  | 'vmicast holds its own';
export type LeaveReason = 'owner not controlled' | 'not ours to sync';

export type Verdict =
  { action: 'adopt' } | { action: 'replace'; why: ReplaceReason } | { action: 'leave'; why: LeaveReason };

/** What an atrope image must hold to be adopted: the list's bytes, in the format delivered. */
export interface Expected {
  sha512: string;
  size: number;
  /** The disk format the backend delivers (undefined: not known, not compared). */
  format?: DiskFormat | undefined;
}

export interface TakeoverPlan {
  adopt: { id: string; identifier: string }[];
  replace: { id: string; identifier: string; why: ReplaceReason }[];
  leave: { id: string; identifier: string | null; why: LeaveReason }[];
}

/** Whether an atrope image may be adopted for `expected`, and if not what becomes of it. */
export function judge(found: GlanceImage, expected: Expected, owners: ReadonlySet<string>): Verdict {
  if (typeof found.owner !== 'string' || !owners.has(found.owner))
    return { action: 'leave', why: 'owner not controlled' };
  if (found.status !== 'active') return { action: 'replace', why: 'not active' };
  const label = found[ATROPE.hash];
  if (typeof label !== 'string' || label.toLowerCase() !== `sha512:${expected.sha512}`)
    return { action: 'replace', why: 'hash differs' };
  // Glance's own hash of what it stores: atrope's label is only a claim.
  if (!holdsDigest(found, expected)) return { action: 'replace', why: 'not verified' };
  if (expected.format !== undefined && found.disk_format !== expected.format)
    return { action: 'replace', why: 'format differs' };
  return { action: 'adopt' };
}

function identifierOf(image: GlanceImage): string | undefined {
  const value = image[ATROPE.identifier];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function oldestFirst(a: GlanceImage, b: GlanceImage): number {
  const at = (i: GlanceImage) => (typeof i['created_at'] === 'string' ? i['created_at'] : '');
  return at(a).localeCompare(at(b));
}

export class GlanceTakeover {
  private run: number | undefined;
  private listed: Promise<Map<string, GlanceImage>> | undefined;

  constructor(
    private readonly tag: string,
    private readonly deps: {
      client: GlanceClient;
      ownership: GlanceOwnership;
      listing: GlanceListing;
      intake: GlanceIntake;
    },
  ) {}

  /**
   * The atrope image a one-disk delivery adopts, fetched afresh and judged again, or
   * undefined when none may be.
   */
  async adoptable(
    image: ImageRecord,
    format: DiskFormat,
    ctx: BackendContextWithoutWork,
  ): Promise<GlanceImage | undefined> {
    const owners = await this.deps.ownership.owners(image.vo, ctx.signal);
    const expected = { sha512: image.sha512, size: image.size, format };
    const found = (await this.atropeImages(ctx)).filter((i) => identifierOf(i) === image.identifier);
    for (const candidate of found.sort(oldestFirst)) {
      const verdict = judge(candidate, expected, owners);
      if (verdict.action !== 'adopt') {
        ctx.log.info({ ref: candidate.id, ...verdict }, 'atrope image not adopted');
        continue;
      }
      const fresh = await this.deps.client.getImage(candidate.id, ctx.signal);
      if (fresh !== undefined && this.tagged(fresh) && identifierOf(fresh) === image.identifier) {
        if (judge(fresh, expected, owners).action === 'adopt') return fresh;
      }
    }
    return undefined;
  }

  /** Adopts an atrope image for a one-disk image: one PATCH (release), no data sent. */
  async adopt(found: GlanceImage, image: ImageRecord, ctx: BackendContextWithoutWork): Promise<string> {
    await this.deps.intake.release(found, image, { index: 0, count: 1 }, image.sha512, ctx);
    this.forget(found.id);
    ctx.log.info(
      { image: { identifier: image.identifier, sha512: image.sha512 }, ref: found.id },
      'adopted the image atrope uploaded: not a byte sent',
    );
    return found.id;
  }

  /**
   * End of a run: atrope images of identifiers this backend now serves with a released
   * image of its own are deleted (make before break) when a project it controls owns them.
   */
  async replace(ctx: BackendContextWithoutWork): Promise<void> {
    if ((await this.atropeImages(ctx)).length === 0) return;
    const ours = await this.released(ctx);
    for (const found of await this.atropeImages(ctx)) {
      const identifier = identifierOf(found);
      const own = identifier === undefined ? undefined : ours.get(identifier);
      if (own === undefined) continue;
      const owners = await this.deps.ownership.owners(voOf(own), ctx.signal);
      if (typeof found.owner !== 'string' || !owners.has(found.owner)) {
        ctx.log.info(
          { ref: found.id, owner: found.owner, identifier },
          'atrope image in a project this backend does not control; left alone',
        );
        continue;
      }
      const outcome = await this.deps.intake.remove(found.id, ctx.signal);
      if (outcome === 'refused') {
        ctx.log.warn({ ref: found.id, identifier }, 'Glance refused to delete a replaced atrope image');
        continue;
      }
      this.forget(found.id);
      ctx.log.info({ ref: found.id, identifier, by: own.id }, 'replaced atrope image deleted');
    }
  }

  /** What a sync would do with each atrope image (the dry run): nothing is changed. */
  async plan(
    wanted: readonly ImageRecord[],
    format: DiskFormat | undefined,
    ctx: BackendContextWithoutWork,
  ): Promise<TakeoverPlan> {
    const plan: TakeoverPlan = { adopt: [], replace: [], leave: [] };
    const ours = await this.released(ctx);
    const adopted = new Set<string>();
    for (const found of (await this.atropeImages(ctx)).sort(oldestFirst)) {
      const identifier = identifierOf(found);
      const image = wanted.find((w) => w.identifier === identifier);
      if (identifier === undefined || image === undefined) {
        plan.leave.push({ id: found.id, identifier: identifier ?? null, why: 'not ours to sync' });
        continue;
      }
      let verdict = judge(
        found,
        { ...image, format },
        await this.deps.ownership.owners(image.vo, ctx.signal),
      );
      if (verdict.action !== 'leave') {
        if (ours.has(identifier)) verdict = { action: 'replace', why: 'vmicast holds its own' };
        else if (verdict.action === 'adopt' && packed(image))
          verdict = { action: 'replace', why: 'packed appliance' };
        else if (verdict.action === 'adopt' && adopted.has(identifier))
          verdict = { action: 'replace', why: 'duplicate' };
      }
      if (verdict.action === 'adopt') {
        adopted.add(identifier);
        plan.adopt.push({ id: found.id, identifier });
      } else if (verdict.action === 'replace')
        plan.replace.push({ id: found.id, identifier, why: verdict.why });
      else plan.leave.push({ id: found.id, identifier, why: verdict.why });
    }
    return plan;
  }

  private tagged(image: GlanceImage): boolean {
    return Array.isArray(image['tags']) && image['tags'].includes(this.tag);
  }

  /** Images of ours that VO users can use now, by identifier. */
  private async released(ctx: BackendContextWithoutWork): Promise<Map<string, GlanceImage>> {
    const ours = new Map<string, GlanceImage>();
    for (const image of await this.deps.listing.all(ctx.now, ctx.signal)) {
      const identifier = image[PROP.identifier];
      const usable = image.status === 'active' && image.os_hidden !== true && !isDeprecated(image);
      if (typeof identifier !== 'string' || !usable || !holdsMarkedData(image)) continue;
      const owners = await this.deps.ownership.owners(voOf(image), ctx.signal);
      if (typeof image.owner === 'string' && owners.has(image.owner)) ours.set(identifier, image);
    }
    return ours;
  }

  /**
   * Images with the takeover tag that vmicast has not labelled (once adopted, an image is
   * the backend's own and managed as such), listed once per run.
   */
  private async atropeImages(ctx: BackendContextWithoutWork): Promise<GlanceImage[]> {
    const run = ctx.now.getTime();
    if (this.listed === undefined || this.run !== run) {
      this.run = run;
      const listed = this.deps.client
        .listImages({ tag: this.tag }, ctx.signal)
        .then((all) => new Map(all.filter((i) => i[PROP.backend] === undefined).map((i) => [i.id, i])));
      listed.catch(() => {
        if (this.listed === listed) this.listed = undefined;
      });
      this.listed = listed;
    }
    return [...(await this.listed).values()].filter((i) => this.tagged(i));
  }

  private forget(id: string): void {
    void this.listed?.then((all) => all.delete(id));
  }
}

function voOf(image: GlanceImage): string | undefined {
  const vo = image[PROP.vo];
  return typeof vo === 'string' ? vo : undefined;
}

/** An image delivered from disks unpacked from its file: the file atrope uploaded is not one. */
function packed(image: ImageRecord): boolean {
  return image.declaredFormat?.toLowerCase() === 'ova';
}
