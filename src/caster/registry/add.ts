import { VmiError } from '../../shared/errors.js';
import { transferError } from '../../shared/http.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import type { RegistryClient } from '../../shared/oci/client.js';
import type { OciDescriptor, OciImageManifest } from '../../shared/oci/manifest.js';
import { parseReference, type ImageReference } from '../../shared/oci/reference.js';
import type { ImageContent, ImageMetadata } from '../entries.js';
import { sniffFormat } from '../format.js';
import { progressBar } from '../progress.js';
import { clientFor } from './access.js';
import { ANNOTATIONS, DISK_MEDIA_TYPE } from './artefact.js';
import { measureLayerStream, type LayerFacts } from './measure.js';

/**
 * `image add --from-registry REF`: an entry whose `hv:uri` is the registry blob URL of the
 * artefact's disk layer. The manifest is resolved once (a moving tag pins the digest it names
 * now), the layer streamed once: sha256 against the manifest, SHA-512 and size for the list,
 * head and tail for the format. Nothing is written before every check passed.
 */

export interface RegistrySourceFlags {
  fromRegistry: string;
  registryUser?: string | undefined;
  registryPasswordFile?: string | undefined;
  registryCaFile?: string | undefined;
  sha512?: string | undefined;
  size?: string | undefined;
  format?: string | undefined;
  detectFormat: boolean;
}

/** What the entry was made from, for `--json`. */
export interface RegistrySource {
  reference: string;
  manifestDigest: string;
  layerDigest: string;
  tag?: string;
}

/** Extension keys (SPEC.md: unknown keys are carried) recording the digest pinning. */
export const OCI_KEYS = { manifest: 'vmi:oci:manifest', tag: 'vmi:oci:tag' } as const;

const LAYER_TIMEOUTS = { lookup: 30_000, connect: 30_000, secureConnect: 30_000, socket: 120_000 };

/** The disk layer: the first `application/x-qemu-disk` one, else the first (as EGI's sync). */
export function diskLayer(manifest: OciImageManifest): OciDescriptor {
  const layer = manifest.layers.find((l) => l.mediaType === DISK_MEDIA_TYPE) ?? manifest.layers[0];
  if (layer === undefined) throw new VmiError('LIST_MALFORMED', 'registry manifest has no layers');
  return layer;
}

async function streamLayer(client: RegistryClient, repo: string, layer: OciDescriptor): Promise<LayerFacts> {
  const url = client.blobUrl(repo, layer.digest);
  // The HTTP client keeps the header on the registry's origin only (a redirect to storage drops it).
  const authorization = await client.authorization(repo);
  const bar = progressBar(layer.digest.slice(7, 19), layer.size);
  try {
    const stream = client.http.stream(url, {
      headers: authorization === undefined ? {} : { authorization },
      timeout: LAYER_TIMEOUTS,
    });
    stream.on('response', (response: { statusCode: number }) => {
      if (response.statusCode < 200 || response.statusCode > 299) {
        stream.destroy(
          new VmiError('HTTP_STATUS', `${url}: registry answered HTTP ${response.statusCode}`, {
            details: { status: response.statusCode },
          }),
        );
      }
    });
    return await measureLayerStream(stream, layer, (bytes) => bar.update(bytes));
  } catch (err) {
    // Keep the coded message only: the cause of a transport error may describe the request,
    // and no Authorization value may ever reach an error or a log.
    const coded = transferError(err, url);
    throw new VmiError(
      coded.code,
      coded.message,
      coded.details === undefined ? undefined : { details: coded.details },
    );
  } finally {
    bar.done();
  }
}

function checkExpected(flags: RegistrySourceFlags, facts: LayerFacts): void {
  if (flags.sha512 !== undefined && !/^[0-9a-fA-F]{128}$/.test(flags.sha512)) {
    throw new VmiError('USAGE', '--sha512 must be 128 hexadecimal digits');
  }
  if (flags.size !== undefined && !/^[0-9]{1,16}$/.test(flags.size)) {
    throw new VmiError('USAGE', '--size must be a number of bytes');
  }
  if (flags.size !== undefined && Number(flags.size) !== facts.size) {
    throw new VmiError('IMAGE_SIZE_MISMATCH', `the image has ${facts.size} bytes, not ${flags.size}`);
  }
  if (flags.sha512 !== undefined && flags.sha512.toLowerCase() !== facts.sha512) {
    throw new VmiError('IMAGE_DIGEST_MISMATCH', `the image's SHA-512 is ${facts.sha512}, not the one given`);
  }
}

function formatOf(flags: RegistrySourceFlags, facts: LayerFacts): string | undefined {
  if (flags.format !== undefined || !flags.detectFormat) return flags.format;
  const sniffed = sniffFormat(facts.header, facts.tail);
  if (sniffed.format === undefined) {
    throw new VmiError(
      'USAGE',
      `the layer is ${sniffed.seen}, which readers cannot use as hv:format: give --format`,
    );
  }
  return sniffed.format;
}

const OS_NAMES: Record<string, string> = { linux: 'Linux', windows: 'Windows' };

/** Flags first, then what EGI's annotations say, then the entry defaults. */
export function metadataFromAnnotations(
  meta: ImageMetadata,
  notes: Record<string, string>,
  ref: ImageReference,
  pins: JsonObject,
): ImageMetadata {
  const title = meta.title ?? notes[ANNOTATIONS.egiTitle] ?? notes[ANNOTATIONS.egiDescription];
  const osType = notes[ANNOTATIONS.osType]?.toLowerCase();
  const egiTag = notes[ANNOTATIONS.egiTag];
  return {
    ...meta,
    title: title ?? `${ref.repository}:${ref.tag ?? ref.digest ?? ''}`,
    description: meta.description ?? notes[ANNOTATIONS.egiDescription] ?? notes[ANNOTATIONS.egiTitle],
    os: meta.os ?? (osType === undefined ? undefined : OS_NAMES[osType]),
    osName: meta.osName ?? notes[ANNOTATIONS.osDistro],
    osVersion: meta.osVersion ?? notes[ANNOTATIONS.osVersion],
    arch: meta.arch ?? notes[ANNOTATIONS.architecture],
    // eu.egi.cloud.tag passes on under its own name: EGI's tools read it from Glance.
    attributes: {
      ...pins,
      ...(egiTag === undefined ? {} : { [ANNOTATIONS.egiTag]: egiTag }),
      ...meta.attributes,
    },
  };
}

export async function measureFromRegistry(
  flags: RegistrySourceFlags,
  meta: ImageMetadata,
): Promise<{ content: ImageContent; meta: ImageMetadata; source: RegistrySource }> {
  const ref = parseReference(flags.fromRegistry, 'CONFIG_INVALID');
  const wanted = ref.digest ?? ref.tag;
  if (wanted === undefined) {
    throw new VmiError(
      'USAGE',
      '--from-registry needs a tag or a digest (host/repository:tag or @sha256:...)',
    );
  }
  const client = await clientFor(ref, {
    user: flags.registryUser,
    passwordFile: flags.registryPasswordFile,
    caFile: flags.registryCaFile,
  });
  const fetched = await client.getManifest(ref.repository, wanted);
  if (fetched.kind !== 'manifest') {
    throw new VmiError(
      'FORMAT_UNSUPPORTED',
      `${flags.fromRegistry} is an index of several manifests: give the digest of one of them`,
    );
  }
  const layer = diskLayer(fetched.manifest);
  const facts = await streamLayer(client, ref.repository, layer);
  checkExpected(flags, facts);
  const base = `${ref.registry}/${ref.repository}`;
  const pins: JsonObject = { [OCI_KEYS.manifest]: `${base}@${fetched.digest}` };
  if (ref.tag !== undefined) pins[OCI_KEYS.tag] = `${base}:${ref.tag}`;
  const merged = metadataFromAnnotations(meta, layer.annotations ?? {}, ref, pins);
  const format = formatOf(flags, facts);
  return {
    content: { uri: client.blobUrl(ref.repository, layer.digest), size: facts.size, sha512: facts.sha512 },
    meta: { ...merged, ...(format === undefined ? {} : { format }) },
    source: {
      reference: `${base}@${fetched.digest}`,
      manifestDigest: fetched.digest,
      layerDigest: layer.digest,
      ...(ref.tag === undefined ? {} : { tag: ref.tag }),
    },
  };
}
