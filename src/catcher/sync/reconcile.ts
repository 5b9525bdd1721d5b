import type { Appliance, ImageEntry, ImageList, Json, JsonObject } from '../../shared/imagelist/model.js';

/**
 * Reconcile (SPEC.md section 5 step 9): what a newly accepted list means for the images a
 * subscription already knows. Pure: stored state and the verified list in, a plan out;
 * the store applies the plan in one transaction.
 */

export type NewImagePolicy = 'refuse' | 'accept' | 'subscribe';
export type UnwantedReason = 'removed' | 'superseded' | 'expired' | 'deselected' | 'lapsed';

/** What the store knows about one image definition. */
export interface StoredImage {
  identifier: string;
  selected: boolean;
  listed: boolean;
  unwantedReason: UnwantedReason | null;
  unwantedSince: Date | null;
  /** SHA-512 and entry of the instance the previous list named. */
  current: { sha512: string; entryJson: string } | null;
}

export type ImageChange = 'new' | 'bytes' | 'metadata' | 'unchanged';

export interface ImagePlan {
  image: ImageEntry;
  change: ImageChange;
  selected: boolean;
  /** Image-level `dc:date:expires` has passed. */
  expired: boolean;
  /** The newest listed image that names this one in `vmi:supersedes`, if any. */
  supersededBy: string | undefined;
  /** Why the image is not wanted under this list, or null when it is. */
  unwantedReason: UnwantedReason | null;
}

export interface UnlistedPlan {
  identifier: string;
  reason: 'removed' | 'superseded';
  supersededBy: string | undefined;
}

export interface ReconcilePlan {
  images: ImagePlan[];
  /** Stored images the list no longer names. */
  unlisted: UnlistedPlan[];
  /** New identifiers the `refuse` policy kept out. */
  refused: string[];
  /** Identifiers another subscription holds (they name its cache file): refused here. */
  conflicts: { identifier: string; owner: string }[];
  appliances: Appliance[];
  warnings: string[];
}

export interface ReconcileInput {
  list: ImageList;
  stored: readonly StoredImage[];
  newImages: NewImagePolicy;
  now: Date;
  /** identifier -> owning subscription, for identifiers of other subscriptions. */
  owners: ReadonlyMap<string, string>;
}

function sorted(value: Json): Json {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sorted(value[k] as Json)]),
  );
}

/** Canonical text of an entry (sorted keys), to tell a metadata change from no change. */
export function entryKey(entry: JsonObject): string {
  return JSON.stringify(sorted(entry));
}

/** ancestor -> the listed image that supersedes it (the first in list order wins). */
function successorMap(images: readonly ImageEntry[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const image of images) {
    for (const ancestor of image.supersedes) {
      if (!map.has(ancestor) && ancestor !== image.identifier) map.set(ancestor, image.identifier);
    }
  }
  return map;
}

function classify(image: ImageEntry, stored: StoredImage | undefined): ImageChange {
  if (stored?.current == null) return 'new';
  if (stored.current.sha512 !== image.sha512) return 'bytes';
  return stored.current.entryJson === entryKey(image.entry) ? 'unchanged' : 'metadata';
}

export function reconcile(input: ReconcileInput): ReconcilePlan {
  const { list, now } = input;
  const stored = new Map(input.stored.map((s) => [s.identifier, s]));
  const successors = successorMap(list.images);
  const plan: ReconcilePlan = {
    images: [],
    unlisted: [],
    refused: [],
    conflicts: [],
    appliances: [],
    warnings: [],
  };
  const kept = new Set<string>();

  for (const image of list.images) {
    const owner = input.owners.get(image.identifier);
    if (owner !== undefined) {
      // Refused here (IMAGE_IDENTIFIER_CLAIMED); the caller records and logs it.
      plan.conflicts.push({ identifier: image.identifier, owner });
      continue;
    }
    const previous = stored.get(image.identifier);
    if (previous === undefined && input.newImages === 'refuse') {
      plan.refused.push(image.identifier);
      continue;
    }
    const selected = previous?.selected ?? input.newImages === 'subscribe';
    const expired = image.expires !== undefined && image.expires.getTime() <= now.getTime();
    const supersededBy = successors.get(image.identifier);
    kept.add(image.identifier);
    plan.images.push({
      image,
      change: classify(image, previous),
      selected,
      expired,
      supersededBy,
      unwantedReason: unwantedReason({
        listed: true,
        selected,
        expired,
        supersededBy,
        removedReason: null,
        lapsed: false,
      }),
    });
  }

  for (const previous of input.stored) {
    if (kept.has(previous.identifier) || !previous.listed) continue;
    const by = successors.get(previous.identifier);
    plan.unlisted.push({
      identifier: previous.identifier,
      reason: by === undefined ? 'removed' : 'superseded',
      supersededBy: by,
    });
  }

  // An appliance is offered only when all its members are images this subscription keeps.
  for (const appliance of list.appliances) {
    const missing = appliance.images.find((m) => !kept.has(m.identifier));
    if (missing === undefined) plan.appliances.push(appliance);
    else
      plan.warnings.push(
        `appliance ${appliance.identifier} ignored: member ${missing.identifier} is not kept`,
      );
  }
  return plan;
}

/**
 * A selection change (`vmicatcher select`/`deselect`): why the image is unwanted afterwards.
 * The list's own reasons (superseded, expired) still hold; an unlisted image keeps its reason.
 */
export function selectionReason(p: {
  listed: boolean;
  selected: boolean;
  supersededBy: string | null;
  expires: string | undefined;
  now: Date;
}): UnwantedReason | null {
  return unwantedReason({
    listed: p.listed,
    selected: p.selected,
    expired: p.expires !== undefined && new Date(p.expires).getTime() <= p.now.getTime(),
    supersededBy: p.supersededBy ?? undefined,
    removedReason: null,
    lapsed: false,
  });
}

/** Why an image is no longer wanted, or null when it is (order: strongest reason first). */
export function unwantedReason(p: {
  listed: boolean;
  selected: boolean;
  expired: boolean;
  supersededBy: string | undefined;
  removedReason: 'removed' | 'superseded' | null;
  lapsed: boolean;
}): UnwantedReason | null {
  if (p.lapsed) return 'lapsed';
  if (!p.listed) return p.removedReason ?? 'removed';
  if (p.supersededBy !== undefined) return 'superseded';
  if (p.expired) return 'expired';
  if (!p.selected) return 'deselected';
  return null;
}
