import { EMPTY_CONFIG, MEDIA_TYPES } from '../../shared/oci/manifest.js';

/**
 * The artefact EGI's build scripts push with oras 1.2 (`oras push --annotation-file ...
 * repo:dated,moving file.qcow2:application/x-qemu-disk`), written the way oras writes it:
 * an image manifest with the empty config, oras's default artifactType (EGI gives none), one
 * layer, annotations as Go's encoder writes maps (sorted keys).
 */

export const DISK_MEDIA_TYPE = 'application/x-qemu-disk';
/** What oras 1.2 writes as artifactType when `--artifact-type` is not given. */
export const ORAS_DEFAULT_ARTIFACT_TYPE = 'application/vnd.unknown.artifact.v1';

export const ANNOTATIONS = {
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  revision: 'org.opencontainers.image.revision',
  source: 'org.opencontainers.image.source',
  diskFormat: 'org.openstack.glance.disk_format',
  containerFormat: 'org.openstack.glance.container_format',
  osDistro: 'org.openstack.glance.os_distro',
  osVersion: 'org.openstack.glance.os_version',
  osType: 'org.openstack.glance.os_type',
  osAdminUser: 'org.openstack.glance.os_admin_user',
  architecture: 'org.openstack.glance.architecture',
  egiTag: 'eu.egi.cloud.tag',
  egiDescription: 'eu.egi.cloud.description',
  egiTitle: 'eu.egi.cloud.image.title',
} as const;

export interface LayerDescriptor {
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

function sorted(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The manifest bytes, members in oras's order. */
export function artefactManifest(
  layer: LayerDescriptor,
  annotations: Record<string, string>,
  mediaType: string = DISK_MEDIA_TYPE,
): Buffer {
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    artifactType: ORAS_DEFAULT_ARTIFACT_TYPE,
    config: {
      mediaType: EMPTY_CONFIG.mediaType,
      digest: EMPTY_CONFIG.digest,
      size: EMPTY_CONFIG.size,
      // oras embeds the empty config's two bytes in its descriptor.
      data: EMPTY_CONFIG.bytes.toString('base64'),
    },
    layers: [{ mediaType, digest: layer.digest, size: layer.size, annotations: sorted(layer.annotations) }],
    annotations: sorted(annotations),
  };
  return Buffer.from(JSON.stringify(doc));
}

/** `YYYY-MM-DDTHH:MM:SSZ`, as oras writes `created`. */
export function createdStamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * EGI's `eu.egi.cloud.tag`: `YYYY-MM-DD-<8 hex>` where the hex is the build's commit; without
 * a revision, the start of the layer's sha256 (what the bytes are, rather than a random name).
 */
export function egiTagFor(now: Date, revision: string | undefined, layerDigest: string): string {
  const hex = revision !== undefined && /^[0-9a-f]{8}/i.test(revision) ? revision : layerDigest.slice(7);
  return `${now.toISOString().slice(0, 10)}-${hex.slice(0, 8).toLowerCase()}`;
}
