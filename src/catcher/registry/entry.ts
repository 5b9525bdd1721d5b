import type { ImageEntry, JsonObject } from '../../shared/imagelist/model.js';
import { pendingSha512 } from '../../shared/oci/blob-url.js';
import { uuid5 } from '../../shared/uuid5.js';
import type { DiscoveredArtefact } from './source.js';

/**
 * The image entry a discovered registry artefact stands for, written so that a site that
 * synced with EGI's central sync (atrope 2.1) finds its images named and described as before:
 * Glance name `<registry> <repository>:<tag>`, `APPLIANCE_ATTRIBUTES` (the entry JSON) with
 * the layer's annotations plus `eu.egi.cloud.image_ref`, and EGI's `ad:mpuri` form.
 *
 * Annotations are the registry's words, not an endorser's: a key is copied only when it is a
 * plain reverse-DNS name and not one of the keys set here; a value only when it is bounded
 * text. Nothing here becomes a file name (the identifier is a UUID made from the tag).
 */

export const EGI_TAG = 'eu.egi.cloud.tag';
export const EGI_IMAGE_REF = 'eu.egi.cloud.image_ref';
const EGI_DESCRIPTION = 'eu.egi.cloud.description';
const EGI_TITLE = 'eu.egi.cloud.image.title';
const GLANCE = 'org.openstack.glance.';
const CONTAINER_FORMAT = `${GLANCE}container_format`;

/** Keys that record where the entry came from (as `vmicaster image add --from-registry` writes). */
export const OCI_ENTRY_KEYS = {
  manifest: 'vmi:oci:manifest',
  tag: 'vmi:oci:tag',
  referrers: 'vmi:oci:referrers',
} as const;

/** EGI's defaults for the Glance formats when the annotations give none. */
const DEFAULT_DISK_FORMAT = 'raw';
const DEFAULT_CONTAINER_FORMAT = 'bare';
const DEFAULT_ARCH = 'x86_64';
const HYPERVISOR = 'QEMU,KVM';

const MAX_VALUE = 4096;
const MAX_LINE = 255;
/** Annotations copied per entry: the entry goes into one Glance property. */
const MAX_ANNOTATIONS = 64;
const ANNOTATION_KEY = /^(?=.{1,128}$)(?=[^.]*\.)[A-Za-z0-9._-]+$/;

/** Whether `text` holds a C0 control character or DEL (tab and newline allowed when `lines`). */
function hasControl(text: string, lines: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (lines && (c === 0x09 || c === 0x0a)) continue;
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
const FORMAT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** A registry annotation value fit to copy: bounded, no control characters but tab and newline. */
export function safeValue(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_VALUE || hasControl(value, true)) return undefined;
  return value;
}

/** A one-line value (version, OS fields): no control characters at all, not blank. */
export function safeLine(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_LINE || hasControl(value, false)) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function safeText(value: unknown): string | undefined {
  const text = safeValue(value)?.trim();
  return text === undefined || text === '' ? undefined : text;
}

function safeFormat(value: unknown): string | undefined {
  return typeof value === 'string' && FORMAT.test(value) ? value.toLowerCase() : undefined;
}

/** The stable identifier of what a tag names: the same on every run and at every site. */
export function registryIdentifier(registry: string, repository: string, tag: string): string {
  return uuid5(`oci://${registry}/${repository}:${tag}`);
}

/** The blob URL of a layer, the form RegistryClient.blobUrl and signed lists use. */
function blobUri(a: DiscoveredArtefact): string {
  return `https://${a.registry}/v2/${a.repository}/blobs/${a.layer.digest}`;
}

/** Annotations that pass the key and value rules, sorted, at most MAX_ANNOTATIONS. */
function copiedAnnotations(notes: Record<string, string>): JsonObject {
  const out: JsonObject = {};
  const keys = Object.keys(notes)
    .filter((key) => ANNOTATION_KEY.test(key))
    .sort();
  let count = 0;
  for (const key of keys) {
    const value = safeValue(notes[key]);
    if (value === undefined) continue;
    if (count++ >= MAX_ANNOTATIONS) break;
    out[key] = value;
  }
  return out;
}

export function artefactEntry(a: DiscoveredArtefact, knownSha512?: string): ImageEntry {
  const notes = a.layer.annotations;
  const title = `${a.registry} ${a.repository}:${a.tag}`;
  const description = safeText(notes[EGI_DESCRIPTION]) ?? safeText(notes[EGI_TITLE]) ?? title;
  const uri = blobUri(a);
  const version = safeLine(notes[EGI_TAG]) ?? '';
  const format = safeFormat(notes[`${GLANCE}disk_format`]) ?? DEFAULT_DISK_FORMAT;
  const containerFormat = safeFormat(notes[CONTAINER_FORMAT]) ?? DEFAULT_CONTAINER_FORMAT;
  const os = safeLine(notes[`${GLANCE}os_type`])?.toLowerCase() === 'windows' ? 'Windows' : 'Linux';
  const osName = safeLine(notes[`${GLANCE}os_distro`]);
  const osVersion = safeLine(notes[`${GLANCE}os_version`]) ?? '';
  const arch = safeLine(notes[`${GLANCE}architecture`]) ?? DEFAULT_ARCH;
  const manifestHex = a.manifestDigest.slice('sha256:'.length);
  const identifier = registryIdentifier(a.registry, a.repository, a.tag);
  const entry: JsonObject = {
    // The registry's annotations first: every key below is set by vmicast and wins.
    ...copiedAnnotations(notes),
    'dc:identifier': identifier,
    'dc:title': title,
    'dc:description': description,
    'hv:uri': uri,
    'hv:size': a.layer.size,
    'hv:version': version,
    'hv:format': format,
    'hv:hypervisor': HYPERVISOR,
    'sl:os': os,
    'sl:osversion': osVersion,
    'sl:arch': arch,
    'sl:comments': '',
    'ad:mpuri': `${a.registry}/${a.repository}:${a.tag}-sha256:${manifestHex}`,
    [CONTAINER_FORMAT]: containerFormat,
    [EGI_IMAGE_REF]: `${a.repository}:${a.tag}`,
    [EGI_TAG]: version,
    [OCI_ENTRY_KEYS.manifest]: `${a.registry}/${a.repository}@${a.manifestDigest}`,
    [OCI_ENTRY_KEYS.tag]: `${a.registry}/${a.repository}:${a.tag}`,
  };
  if (osName !== undefined) entry['sl:osname'] = osName;
  if (a.referrers.length > 0) {
    entry[OCI_ENTRY_KEYS.referrers] = a.referrers.map((r) => ({
      digest: r.digest,
      artifactType: r.artifactType,
      mediaType: r.mediaType,
      size: r.size,
    }));
  }
  return {
    identifier,
    title,
    description,
    uri,
    size: a.layer.size,
    sha512: knownSha512 ?? pendingSha512(a.layer.digest.slice('sha256:'.length)),
    version,
    format,
    arch,
    os,
    osVersion,
    hypervisor: HYPERVISOR,
    comments: '',
    expires: undefined,
    supersedes: [],
    appliance: undefined,
    entry,
  };
}
