/**
 * OCI image manifest and index types (image spec 1.1) and their validation. A manifest is
 * what a registry says, so every field is checked before use; anything malformed is refused
 * with LIST_MALFORMED (the registry's answer plays the part a list plays on the list path).
 */
import { VmiError } from '../errors.js';
import { isDigest, shown } from './reference.js';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

/** The empty config blob `{}` oras uses for artefacts. */
export const EMPTY_CONFIG = Object.freeze({
  mediaType: MEDIA_TYPES.ociEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  bytes: Buffer.from('{}'),
});

export const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList];

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  urls?: string[];
  platform?: { architecture: string; os: string; variant?: string };
}

export interface OciImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

// RFC 6838 media type names, with the `+suffix` forms the image spec uses.
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const MAX_LAYERS = 1000;

function malformed(what: string): VmiError {
  return new VmiError('LIST_MALFORMED', `registry manifest: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isMediaType(value: unknown): value is string {
  return typeof value === 'string' && MEDIA_TYPE_RE.test(value);
}

function annotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw malformed(`${where}.annotations is not an object`);
  const out: Record<string, string> = {};
  for (const [key, text] of Object.entries(value)) {
    if (typeof text !== 'string') throw malformed(`${where}.annotations[${shown(key)}] is not a string`);
    out[key] = text;
  }
  return out;
}

function optionalMediaType(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isMediaType(value)) throw malformed(`${where} is not a media type: ${shown(JSON.stringify(value))}`);
  return value;
}

export function parseDescriptor(value: unknown, where: string): OciDescriptor {
  if (!isRecord(value)) throw malformed(`${where} is not an object`);
  const { mediaType, digest, size } = value;
  if (!isMediaType(mediaType)) throw malformed(`${where}.mediaType is not a media type`);
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw malformed(`${where}.digest is not a sha256 digest: ${shown(String(digest))}`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw malformed(`${where}.size is not a size`);
  }
  const out: OciDescriptor = { mediaType, digest, size };
  const notes = annotations(value['annotations'], where);
  if (notes !== undefined) out.annotations = notes;
  const artifactType = optionalMediaType(value['artifactType'], `${where}.artifactType`);
  if (artifactType !== undefined) out.artifactType = artifactType;
  const platform = value['platform'];
  if (isRecord(platform)) {
    const { architecture, os, variant } = platform;
    if (typeof architecture === 'string' && typeof os === 'string') {
      out.platform = { architecture, os, ...(typeof variant === 'string' ? { variant } : {}) };
    }
  }
  return out;
}

function common(doc: Record<string, unknown>, where: string) {
  if (doc['schemaVersion'] !== 2) throw malformed(`${where}: schemaVersion is not 2`);
  const out: {
    mediaType?: string;
    artifactType?: string;
    subject?: OciDescriptor;
    annotations?: Record<string, string>;
  } = {};
  const mediaType = optionalMediaType(doc['mediaType'], `${where}.mediaType`);
  if (mediaType !== undefined) out.mediaType = mediaType;
  const artifactType = optionalMediaType(doc['artifactType'], `${where}.artifactType`);
  if (artifactType !== undefined) out.artifactType = artifactType;
  if (doc['subject'] !== undefined) out.subject = parseDescriptor(doc['subject'], `${where}.subject`);
  const notes = annotations(doc['annotations'], where);
  if (notes !== undefined) out.annotations = notes;
  return out;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw malformed(`${where} is not an array`);
  if (value.length > MAX_LAYERS) throw malformed(`${where} has more than ${MAX_LAYERS} entries`);
  return value;
}

export function parseImageManifest(doc: unknown): OciImageManifest {
  if (!isRecord(doc)) throw malformed('not a JSON object');
  const head = common(doc, 'manifest');
  const config = parseDescriptor(doc['config'], 'config');
  const layers = list(doc['layers'], 'layers').map((layer, i) => parseDescriptor(layer, `layers[${i}]`));
  return { schemaVersion: 2, ...head, config, layers };
}

export function parseIndex(doc: unknown): OciIndex {
  if (!isRecord(doc)) throw malformed('not a JSON object');
  const head = common(doc, 'index');
  const manifests = list(doc['manifests'], 'manifests').map((m, i) => parseDescriptor(m, `manifests[${i}]`));
  return { schemaVersion: 2, ...head, manifests };
}

/** Parses JSON bytes; a syntax error is a malformed answer. */
export function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new VmiError('LIST_MALFORMED', `${what}: not JSON`);
  }
}
