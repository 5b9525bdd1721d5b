import type { GlanceImage, PatchOp } from './client.js';
import type { HeldImage, ImageRecord } from '../types.js';

/**
 * What a Glance image says about the list entry it came from. The `vmcatcher_event_*`
 * names, `os_*`, `architecture` and `APPLIANCE_ATTRIBUTES` are the contract that
 * cloud-info-provider reads (SPEC.md section 8); the `vmicast_*` names are ours and let
 * the backend find and adopt its images after a crash. Glance wants every value a string.
 */

export const PROP = {
  mpuri: 'vmcatcher_event_ad_mpuri',
  description: 'vmcatcher_event_dc_description',
  identifier: 'vmcatcher_event_dc_identifier',
  version: 'vmcatcher_event_hv_version',
  sha512: 'vmcatcher_event_sl_checksum_sha512',
  osDistro: 'os_distro',
  osVersion: 'os_version',
  architecture: 'architecture',
  applianceAttributes: 'APPLIANCE_ATTRIBUTES',
  backend: 'vmicast_backend',
  listIdentifier: 'vmicast_list_identifier',
  vo: 'vmicast_vo',
  appliance: 'vmicast_appliance',
  supersedes: 'vmicast_supersedes',
  diskIndex: 'vmicast_disk_index',
  diskCount: 'vmicast_disk_count',
  /** SHA-512 of the uploaded disk, written once Glance's size and hash were checked. */
  diskSha512: 'vmicast_disk_sha512',
  deprecated: 'vmicast_deprecated',
  deprecatedAt: 'vmicast_deprecated_at',
  /** Deletion was refused (in use, protected): deactivated, to be deleted on a later run. */
  retirePending: 'vmicast_retire_pending',
} as const;

/** Properties derived from the list entry; an update removes those no longer derived. */
export const ENTRY_PROPERTIES: readonly string[] = [
  PROP.mpuri,
  PROP.description,
  PROP.identifier,
  PROP.version,
  PROP.sha512,
  PROP.osDistro,
  PROP.osVersion,
  PROP.architecture,
  PROP.applianceAttributes,
  PROP.backend,
  PROP.listIdentifier,
  PROP.vo,
  PROP.appliance,
  PROP.supersedes,
];

/** Glance's limit on image names. */
const NAME_MAX = 255;

const ARCH_ALIASES: Record<string, string> = {
  amd64: 'x86_64',
  'x86-64': 'x86_64',
  x64: 'x86_64',
  arm64: 'aarch64',
  i386: 'i686',
  x86: 'i686',
};

/** Glance/Nova name architectures like libosinfo (x86_64, aarch64, i686, ...). */
export function glanceArchitecture(arch: string): string {
  const lower = arch.trim().toLowerCase();
  return ARCH_ALIASES[lower] ?? lower;
}

function entryString(image: ImageRecord, key: string): string | undefined {
  const value = image.entry[key];
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** The properties an image record maps to, for one backend. */
export function entryProperties(image: ImageRecord, backendName: string): Record<string, string> {
  const props: Record<string, string> = {
    [PROP.description]: image.description,
    [PROP.identifier]: image.identifier,
    [PROP.version]: image.version,
    [PROP.sha512]: image.sha512,
    [PROP.applianceAttributes]: JSON.stringify(image.entry),
    [PROP.backend]: backendName,
    [PROP.listIdentifier]: image.listIdentifier,
  };
  const optional: [string, string | undefined][] = [
    [PROP.mpuri, entryString(image, 'ad:mpuri')],
    // os_distro is meant for a distribution ("ubuntu"); sl:osname carries it, sl:os is the family.
    [PROP.osDistro, (entryString(image, 'sl:osname') ?? entryString(image, 'sl:os'))?.toLowerCase()],
    [PROP.osVersion, entryString(image, 'sl:osversion')],
    [PROP.architecture, mapDefined(entryString(image, 'sl:arch'), glanceArchitecture)],
    [PROP.vo, image.vo],
    [PROP.appliance, image.appliance],
    [PROP.supersedes, image.supersedes.length === 0 ? undefined : image.supersedes.join(' ')],
  ];
  for (const [key, value] of optional) if (value !== undefined && value !== '') props[key] = value;
  return props;
}

function mapDefined<T, U>(value: T | undefined, f: (v: T) => U): U | undefined {
  return value === undefined ? undefined : f(value);
}

/** The image name: the list title, " (disk N)" for multi-disk images, within Glance's limit. */
export function glanceImageName(title: string, index: number, count: number): string {
  const suffix = count > 1 ? ` (disk ${index + 1})` : '';
  const base = title.trim() === '' ? 'image' : title.trim();
  return `${base.slice(0, NAME_MAX - suffix.length)}${suffix}`;
}

/**
 * JSON patch turning `current` into `desired` for the given keys: add what is missing,
 * replace what differs, remove managed keys that are no longer wanted.
 */
export function patchTowards(
  current: GlanceImage,
  desired: Record<string, unknown>,
  managed: readonly string[] = [],
): PatchOp[] {
  const ops: PatchOp[] = [];
  for (const [key, value] of Object.entries(desired)) {
    if (!(key in current) || current[key] === undefined) ops.push({ op: 'add', path: `/${key}`, value });
    else if (current[key] !== value) ops.push({ op: 'replace', path: `/${key}`, value });
  }
  for (const key of managed) {
    if (!(key in desired) && key in current) ops.push({ op: 'remove', path: `/${key}` });
  }
  return ops;
}

function stringProp(image: GlanceImage, key: string): string | undefined {
  const value = image[key];
  return typeof value === 'string' ? value : undefined;
}

/** The disk index an image of ours holds (0 when the property is missing: a one-disk image). */
export function diskIndexOf(image: GlanceImage): number {
  const n = Number(stringProp(image, PROP.diskIndex) ?? '0');
  return Number.isInteger(n) && n >= 0 ? n : -1;
}

function diskCountOf(image: GlanceImage): number {
  const n = Number(stringProp(image, PROP.diskCount) ?? '1');
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Images whose data is complete in Glance: usable now, or deactivated and so kept. */
export function isSettled(image: GlanceImage): boolean {
  return image.status === 'active' || image.status === 'deactivated';
}

export function isDeprecated(image: GlanceImage): boolean {
  return (
    stringProp(image, PROP.deprecated) === 'true' ||
    stringProp(image, PROP.retirePending) === 'true' ||
    image.status === 'deactivated'
  );
}

/**
 * Groups Glance images of ours into held images: one per (identifier, sha512), refs in disk
 * order. A group counts only when every disk is there and settled; anything else is the
 * leftover of an interrupted delivery, which the next delivery of that image replaces.
 */
export function heldImages(images: GlanceImage[]): HeldImage[] {
  const groups = new Map<string, GlanceImage[]>();
  for (const image of images) {
    const identifier = stringProp(image, PROP.identifier);
    const sha512 = stringProp(image, PROP.sha512);
    if (identifier === undefined || sha512 === undefined) continue;
    const key = `${identifier}\n${sha512}`;
    groups.set(key, [...(groups.get(key) ?? []), image]);
  }
  const held: HeldImage[] = [];
  for (const [key, members] of groups) {
    const [identifier = '', sha512 = ''] = key.split('\n');
    const count = Math.max(...members.map(diskCountOf));
    const disks: GlanceImage[] = [];
    for (let index = 0; index < count; index++) {
      const disk = members.find((m) => diskIndexOf(m) === index && isSettled(m));
      if (disk !== undefined) disks.push(disk);
    }
    if (disks.length !== count) continue;
    held.push({ identifier, sha512, refs: disks.map((d) => d.id), deprecated: disks.some(isDeprecated) });
  }
  return held.sort((a, b) => a.identifier.localeCompare(b.identifier) || a.sha512.localeCompare(b.sha512));
}
