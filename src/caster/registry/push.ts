import { basename } from 'node:path';
import { VmiError } from '../../shared/errors.js';
import { detectFormatFromHeader } from '../../shared/format/detect.js';
import { EMPTY_CONFIG, MEDIA_TYPES } from '../../shared/oci/manifest.js';
import { checkTag, parseReference, type ImageReference } from '../../shared/oci/reference.js';
import { progressBar } from '../progress.js';
import { clientFor, type AccessFlags } from './access.js';
import { ANNOTATIONS, artefactManifest, createdStamp, egiTagFor } from './artefact.js';
import { measureLayerFile, type LayerFacts } from './measure.js';

/**
 * `vmicaster registry push`: a local image becomes an artefact as EGI pushes it with oras,
 * under a dated and a moving tag. The file is read once to measure it (sha256 and SHA-512
 * together) and once to send it; the registry checks the bytes against the digest sent.
 */

export interface PushFlags extends AccessFlags {
  tag?: string[];
  annotation?: string[];
  manifestAnnotation?: string[];
  description?: string;
  osDistro?: string;
  osVersion?: string;
  osType?: string;
  osAdminUser?: string;
  arch?: string;
  diskFormat?: string;
  egiTag?: string;
  revision?: string;
  source?: string;
}

export interface PushResult {
  ok: true;
  reference: string;
  registry: string;
  repository: string;
  tags: string[];
  manifestDigest: string;
  layerDigest: string;
  size: number;
  sha512: string;
  diskFormat: string;
  egiTag: string;
  blobUrl: string;
  /** The registry had the layer already: nothing was uploaded. */
  layerExisted: boolean;
}

/** Glance disk formats the content can name; packed or compressed content needs --disk-format. */
const GLANCE_DISK_FORMATS = new Set(['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi', 'iso']);
const ANNOTATION_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/;

export function parsePairs(pairs: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (eq <= 0 || !ANNOTATION_KEY.test(key)) {
      throw new VmiError('USAGE', `${flag} needs KEY=VALUE with a plain key, not ${JSON.stringify(pair)}`);
    }
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

function diskFormatOf(flags: PushFlags, facts: LayerFacts): string {
  if (flags.diskFormat !== undefined) return flags.diskFormat;
  const seen = detectFormatFromHeader(facts.header, facts.tail);
  if (!GLANCE_DISK_FORMATS.has(seen)) {
    throw new VmiError('USAGE', `the content is ${seen}, which is no Glance disk format: give --disk-format`);
  }
  return seen;
}

/** Tags in push order: the dated one first, so the moving one moves only to a complete artefact. */
export function tagsFor(ref: ImageReference, egiTag: string, extra: string[] = []): string[] {
  const dated = ref.tag === undefined ? egiTag : `${ref.tag}-${egiTag}`;
  const tags = [dated, ...(ref.tag === undefined ? [] : [ref.tag]), ...extra];
  return [...new Set(tags.map((t) => checkTag(t, 'CONFIG_INVALID')))];
}

function layerAnnotations(file: string, flags: PushFlags, diskFormat: string, egiTag: string) {
  const optional: [string, string | undefined][] = [
    [ANNOTATIONS.osDistro, flags.osDistro],
    [ANNOTATIONS.osVersion, flags.osVersion],
    [ANNOTATIONS.osType, flags.osType],
    [ANNOTATIONS.osAdminUser, flags.osAdminUser],
    [ANNOTATIONS.architecture, flags.arch],
    [ANNOTATIONS.egiDescription, flags.description],
  ];
  return {
    [ANNOTATIONS.title]: basename(file),
    [ANNOTATIONS.diskFormat]: diskFormat,
    [ANNOTATIONS.containerFormat]: 'bare',
    [ANNOTATIONS.egiTag]: egiTag,
    ...Object.fromEntries(optional.filter((kv): kv is [string, string] => kv[1] !== undefined)),
    ...parsePairs(flags.annotation, '--annotation'),
  };
}

export async function pushImage(
  file: string,
  refText: string,
  flags: PushFlags,
  now = new Date(),
): Promise<PushResult> {
  const ref = parseReference(refText, 'CONFIG_INVALID');
  if (ref.digest !== undefined) {
    throw new VmiError('USAGE', 'push to a tag (host/repository:tag), not to a digest');
  }
  if (flags.egiTag !== undefined) checkTag(flags.egiTag, 'CONFIG_INVALID');
  const manifestExtra = parsePairs(flags.manifestAnnotation, '--manifest-annotation');
  parsePairs(flags.annotation, '--annotation');
  const client = await clientFor(ref, flags);
  const bar = progressBar(basename(file), undefined);
  const facts = await measureLayerFile(file, (bytes) => bar.update(bytes));
  bar.done();
  const diskFormat = diskFormatOf(flags, facts);
  const egiTag = flags.egiTag ?? egiTagFor(now, flags.revision, facts.digest);
  const tags = tagsFor(ref, egiTag, flags.tag);
  const layer = {
    digest: facts.digest,
    size: facts.size,
    annotations: layerAnnotations(file, flags, diskFormat, egiTag),
  };
  const manifest = artefactManifest(layer, {
    [ANNOTATIONS.created]: createdStamp(now),
    ...(flags.revision === undefined ? {} : { [ANNOTATIONS.revision]: flags.revision }),
    ...(flags.source === undefined ? {} : { [ANNOTATIONS.source]: flags.source }),
    ...manifestExtra,
  });
  // Measured above in the same read as the SHA-512: pushBlob does not hash the file again.
  const { existed: layerExisted } = await client.pushBlob(ref.repository, {
    path: file,
    digest: facts.digest,
    size: facts.size,
  });
  await client.pushBlob(ref.repository, EMPTY_CONFIG.bytes);
  let manifestDigest = '';
  for (const tag of tags) {
    manifestDigest = await client.putManifest(ref.repository, tag, manifest, MEDIA_TYPES.ociManifest);
  }
  return {
    ok: true,
    reference: `${ref.registry}/${ref.repository}@${manifestDigest}`,
    registry: ref.registry,
    repository: ref.repository,
    tags,
    manifestDigest,
    layerDigest: facts.digest,
    size: facts.size,
    sha512: facts.sha512,
    diskFormat,
    egiTag,
    blobUrl: client.blobUrl(ref.repository, facts.digest),
    layerExisted,
  };
}
