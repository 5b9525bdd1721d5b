/**
 * An EGI-style VM image artefact as oras 1.2 pushes it, built byte by byte from the OCI image
 * spec (empty config, one `application/x-qemu-disk` layer with EGI's annotations, manifest
 * annotations, a dated and a moving tag), and pushed with raw https requests, not through
 * src/shared/oci: the client is checked against bytes it did not make.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import type { TestRegistry } from './registry.js';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One https request verified against the registry's test CA. */
export function rawRequest(
  registry: TestRegistry,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, registry.origin),
      { method: options.method ?? 'GET', headers: options.headers, ca: registry.ca.pem },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export const EMPTY_CONFIG_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export interface EgiArtefact {
  repo: string;
  tags: [dated: string, moving: string];
  config: Buffer;
  disk: Buffer;
  diskDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

/** A small qcow2-looking disk: the magic and version, then a deterministic filler. */
export function fakeDisk(seed: string, size = 256 * 1024): Buffer {
  const disk = Buffer.alloc(size);
  Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]).copy(disk, 0);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 512; at < size; at += block.length) {
    block.copy(disk, at);
    block = createHash('sha256').update(block).digest();
  }
  return disk;
}

export function egiArtefact(
  repo: string,
  options: { version?: string; tag?: string; disk?: Buffer; withEgiTag?: boolean } = {},
): EgiArtefact {
  const version = options.version ?? '22.04';
  const egiTag = options.tag ?? '2025-09-04-4d7122d6';
  const disk = options.disk ?? fakeDisk(`${repo}:${egiTag}`);
  const config = Buffer.from('{}');
  const diskDigest = sha256(disk);
  const layerAnnotations: Record<string, string> = {
    'org.opencontainers.image.title': `${repo.split('/').pop()}-${version}.qcow2`,
    'org.openstack.glance.disk_format': 'qcow2',
    'org.openstack.glance.container_format': 'bare',
    'org.openstack.glance.os_distro': 'ubuntu',
    'org.openstack.glance.os_version': version,
    'org.openstack.glance.os_type': 'linux',
    'org.openstack.glance.os_admin_user': 'ubuntu',
    'org.openstack.glance.architecture': 'x86_64',
    ...(options.withEgiTag === false ? {} : { 'eu.egi.cloud.tag': egiTag }),
    'eu.egi.cloud.description': `Ubuntu ${version} for the EGI Federated Cloud`,
  };
  // Written out as text, in the member order oras uses, so the bytes do not depend on any
  // serializer of ours.
  const manifest = Buffer.from(
    `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
      `"artifactType":"application/vnd.unknown.artifact.v1",` +
      `"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"${EMPTY_CONFIG_DIGEST}","size":2,"data":"e30="},` +
      `"layers":[{"mediaType":"application/x-qemu-disk","digest":"${diskDigest}","size":${disk.length},` +
      `"annotations":${JSON.stringify(layerAnnotations)}}],` +
      `"annotations":{"org.opencontainers.image.created":"2025-09-04T10:00:00Z",` +
      `"org.opencontainers.image.revision":"4d7122d6c0ffee00","org.opencontainers.image.source":"https://example.org/egi/images"}}`,
  );
  return {
    repo,
    tags: [`${version}-${egiTag}`, version],
    config,
    disk,
    diskDigest,
    manifest,
    manifestDigest: sha256(manifest),
  };
}

function authHeaders(registry: TestRegistry, repo: string): Record<string, string> {
  const value = registry.rawAuthorization(repo);
  return value === undefined ? {} : { authorization: value };
}

/** Monolithic blob upload (POST, then PUT ?digest=) with raw requests. */
export async function rawPushBlob(registry: TestRegistry, repo: string, blob: Buffer): Promise<string> {
  const auth = authHeaders(registry, repo);
  const opened = await rawRequest(registry, `/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { ...auth, 'content-length': '0' },
  });
  if (opened.status !== 202) throw new Error(`POST upload: HTTP ${opened.status} ${opened.body.toString()}`);
  const location = new URL(String(opened.headers.location), registry.origin);
  const digest = sha256(blob);
  location.searchParams.set('digest', digest);
  const put = await rawRequest(registry, location.pathname + location.search, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(blob.length) },
    body: blob,
  });
  if (put.status !== 201) throw new Error(`PUT blob: HTTP ${put.status} ${put.body.toString()}`);
  return digest;
}

export async function rawPutManifest(
  registry: TestRegistry,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<void> {
  const put = await rawRequest(registry, `/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: {
      ...authHeaders(registry, repo),
      'content-type': mediaType,
      'content-length': String(bytes.length),
    },
    body: bytes,
  });
  if (put.status !== 201) throw new Error(`PUT manifest: HTTP ${put.status} ${put.body.toString()}`);
}

/** Pushes the artefact under both tags, as `oras push repo:dated,moving` does. */
export async function rawPushArtefact(registry: TestRegistry, artefact: EgiArtefact): Promise<void> {
  await rawPushBlob(registry, artefact.repo, artefact.config);
  await rawPushBlob(registry, artefact.repo, artefact.disk);
  for (const tag of artefact.tags) {
    await rawPutManifest(
      registry,
      artefact.repo,
      tag,
      artefact.manifest,
      'application/vnd.oci.image.manifest.v1+json',
    );
  }
}

/** An OCI image index over `manifests` (several platforms), written out as text. */
export function rawIndex(manifests: { digest: string; size: number; arch: string }[]): Buffer {
  const entries = manifests.map(
    (m) =>
      `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${m.digest}","size":${m.size},` +
      `"platform":{"architecture":"${m.arch}","os":"linux"}}`,
  );
  return Buffer.from(
    `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[${entries.join(',')}]}`,
  );
}

export const CYCLONEDX = 'application/vnd.cyclonedx+json';

export interface AttachedReferrer {
  blob: Buffer;
  manifest: Buffer;
  manifestDigest: string;
  /** The fallback index kept under the `sha256-<hex>` tag of the subject. */
  index: Buffer;
}

/**
 * Attaches an SBOM to `subject` as `oras attach --artifact-type application/vnd.cyclonedx+json`
 * does on a registry without the referrers API (distribution 2.8): the SBOM manifest with a
 * `subject`, pushed by digest, and an index listing it under the tag `sha256-<subject hex>`
 * (OCI distribution spec 1.1, "referrers tag schema").
 */
export async function rawAttachSbom(
  registry: TestRegistry,
  repo: string,
  subject: { digest: string; size: number },
  sbom: Buffer = Buffer.from('{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}'),
): Promise<AttachedReferrer> {
  await rawPushBlob(registry, repo, Buffer.from('{}'));
  const blobDigest = await rawPushBlob(registry, repo, sbom);
  const manifest = Buffer.from(
    `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
      `"artifactType":"${CYCLONEDX}",` +
      `"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"${EMPTY_CONFIG_DIGEST}","size":2,"data":"e30="},` +
      `"layers":[{"mediaType":"${CYCLONEDX}","digest":"${blobDigest}","size":${sbom.length},` +
      `"annotations":{"org.opencontainers.image.title":"sbom.cdx.json"}}],` +
      `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${subject.digest}","size":${subject.size}},` +
      `"annotations":{"org.opencontainers.image.created":"2025-09-04T10:05:00Z"}}`,
  );
  const manifestDigest = sha256(manifest);
  await rawPutManifest(
    registry,
    repo,
    manifestDigest,
    manifest,
    'application/vnd.oci.image.manifest.v1+json',
  );
  const index = Buffer.from(
    `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
      `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${manifestDigest}",` +
      `"size":${manifest.length},"artifactType":"${CYCLONEDX}"}]}`,
  );
  await rawPutManifest(
    registry,
    repo,
    subject.digest.replace(':', '-'),
    index,
    'application/vnd.oci.image.index.v1+json',
  );
  return { blob: sbom, manifest, manifestDigest, index };
}
