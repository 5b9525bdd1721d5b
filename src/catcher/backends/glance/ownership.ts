import { voProject } from '../routing.js';
import type { Logger } from 'pino';
import type { GlanceClient, GlanceImage } from './client.js';
import type { ResolvedGlanceConfig } from './config.js';
import { isSettled, PROP } from './properties.js';

export interface DiskDigest {
  size: number;
  sha512: string;
}

/**
 * Which Glance images the backend may treat as its own. Properties are no proof: any
 * project can set `vmicast_backend` or `vmcatcher_event_dc_identifier` on its images, and
 * an admin account sees them all. An image counts only when
 *   - its owner is a project the backend controls: the project its credentials are scoped
 *     to, or the project mapped to the image's VO (another VO's project does not count); and
 *   - Glance's own hash of its data is a SHA-512 equal to the digest of the disk being
 *     delivered (or, where no disk is at hand, to the `vmicast_disk_sha512` mark the
 *     backend wrote after checking it).
 * Anything else is left alone: never adopted, patched, shared or deleted. Without a known
 * project of its own (no-auth mode without a test identity) only mapped VO projects count,
 * so images without an owner are never taken.
 */
export class GlanceOwnership {
  constructor(
    private readonly config: ResolvedGlanceConfig,
    private readonly client: GlanceClient,
  ) {}

  /** Projects whose images of this VO may be ours: our own and the VO's mapped project. */
  async owners(vo: string | undefined, signal?: AbortSignal): Promise<ReadonlySet<string>> {
    const owners = new Set<string>();
    const own = await this.client.ownProject(signal);
    if (own !== undefined && own !== '') owners.add(own);
    const project = voProject(this.config, vo);
    if (project !== undefined) owners.add(project);
    return owners;
  }
}

/** Whether a project we control owns the image; logs the ones left alone. */
export function controlledBy(image: GlanceImage, owners: ReadonlySet<string>, log: Logger): boolean {
  if (typeof image.owner === 'string' && owners.has(image.owner)) return true;
  log.warn(
    { ref: image.id, owner: image.owner },
    'Glance image carries our properties but belongs to a project this backend does not control; left alone',
  );
  return false;
}

/** Whether Glance's SHA-512 and size of the image's data equal a disk's. */
export function holdsDigest(image: GlanceImage, disk: DiskDigest): boolean {
  return (
    image.os_hash_algo === 'sha512' &&
    typeof image.os_hash_value === 'string' &&
    image.os_hash_value === disk.sha512 &&
    image.size === disk.size
  );
}

/** Whether the image's data is the one the backend checked and marked (no disk at hand). */
export function holdsMarkedData(image: GlanceImage): boolean {
  const mark = image[PROP.diskSha512];
  return (
    typeof mark === 'string' &&
    image.os_hash_algo === 'sha512' &&
    typeof image.os_hash_value === 'string' &&
    image.os_hash_value === mark
  );
}

/**
 * Among one disk's images in projects we control: the one to adopt (the oldest holding the
 * disk's data), and what to delete (unfinished records of an interrupted delivery, later
 * copies of the same data). Complete images with other data are left alone. The disk is
 * hashed only when a complete candidate needs it.
 */
export async function chooseAdopted(
  candidates: readonly GlanceImage[],
  digestOf: () => Promise<DiskDigest>,
  log: Logger,
): Promise<{ kept: GlanceImage | undefined; digest: DiskDigest | undefined; discard: GlanceImage[] }> {
  const ordered = [...candidates].sort((a, b) => createdAt(a).localeCompare(createdAt(b)));
  let digest: DiskDigest | undefined;
  let kept: GlanceImage | undefined;
  const discard: GlanceImage[] = [];
  for (const candidate of ordered) {
    if (!isSettled(candidate)) {
      discard.push(candidate);
      continue;
    }
    digest ??= await digestOf();
    if (!holdsDigest(candidate, digest)) {
      log.warn(
        { ref: candidate.id, algo: candidate.os_hash_algo },
        'Glance image does not hold the SHA-512 of the disk delivered; not adopted, left alone',
      );
    } else if (kept === undefined) {
      kept = candidate;
    } else {
      discard.push(candidate);
    }
  }
  return { kept, digest, discard };
}

function createdAt(image: GlanceImage): string {
  return typeof image['created_at'] === 'string' ? image['created_at'] : '';
}
