/**
 * The OCI client against a real open registry (docker-registry over TLS from a test CA):
 * an artefact built byte by byte and pushed raw is read back; what the client pushes is read
 * back by skopeo, an independent client.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { RegistryClient } from '../../../src/shared/oci/client.js';
import { EMPTY_CONFIG, MEDIA_TYPES } from '../../../src/shared/oci/manifest.js';
import { describeWithRegistry, skopeoRaw } from '../../helpers/registry.js';
import {
  egiArtefact,
  fakeDisk,
  rawPushArtefact,
  rawPutManifest,
  sha256,
} from '../../helpers/registry-artefact.js';
import { rejectsWith } from '../../helpers/rejects.js';

async function download(client: RegistryClient, repo: string, digest: string): Promise<Buffer> {
  const authorization = await client.authorization(repo);
  const response = await client.http.get(client.blobUrl(repo, digest), {
    headers: authorization === undefined ? {} : { authorization },
    responseType: 'buffer',
  });
  assert.equal(response.statusCode, 200);
  return response.body;
}

describeWithRegistry('OCI client, open registry', 'open', (registry) => {
  const artefact = egiArtefact('egi_vm_images/ubuntu');
  const client = () => new RegistryClient({ registry: registry().host, caFile: registry().caFile });

  it('reads tags, catalog and the manifest of an artefact pushed byte by byte', async () => {
    await rawPushArtefact(registry(), artefact);
    const c = client();
    assert.deepEqual((await c.listTags(artefact.repo)).sort(), [...artefact.tags].sort());
    assert.ok((await c.catalog()).includes(artefact.repo));
    for (const ref of [artefact.tags[1], artefact.manifestDigest]) {
      const got = await c.getManifest(artefact.repo, ref);
      assert.equal(got.digest, artefact.manifestDigest);
      assert.deepEqual(got.bytes, artefact.manifest);
      assert.equal(got.mediaType, MEDIA_TYPES.ociManifest);
      assert.equal(got.kind, 'manifest');
      assert.equal(got.manifest.config.digest, EMPTY_CONFIG.digest);
      assert.equal(got.manifest.layers.at(0)?.mediaType, 'application/x-qemu-disk');
      assert.equal(got.manifest.layers.at(0)?.annotations?.['eu.egi.cloud.tag'], '2025-09-04-4d7122d6');
      assert.equal(got.manifest.annotations?.['org.opencontainers.image.revision'], '4d7122d6c0ffee00');
    }
  });

  it('downloads the layer from blobUrl with no authorization on an open registry', async () => {
    const c = client();
    assert.equal(await c.authorization(artefact.repo), undefined);
    assert.deepEqual(await download(c, artefact.repo, artefact.diskDigest), artefact.disk);
  });

  it('refuses a tag, digest or repository outside the grammar before any request', async () => {
    const c = client();
    await rejectsWith(c.getManifest(artefact.repo, '../x'), 'CONFIG_INVALID');
    await rejectsWith(c.getManifest(artefact.repo, 'sha256:ABC'), 'CONFIG_INVALID');
    await rejectsWith(c.listTags('Egi/Upper'), 'CONFIG_INVALID');
    assert.throws(() => c.blobUrl(artefact.repo, 'sha512:00'), { code: 'CONFIG_INVALID' });
  });

  it('pushes a file blob, a config and a manifest; skopeo reads the same bytes back', async () => {
    const c = client();
    const dir = registry().dir;
    const disk = fakeDisk('pushed by the client', 3 * 1024 * 1024 + 17);
    const file = join(dir, 'disk.qcow2');
    await writeFile(file, disk);
    const layer = await c.pushBlob('vo/pushed', file);
    assert.deepEqual(layer, { digest: sha256(disk), size: disk.length, existed: false });
    assert.equal((await c.pushBlob('vo/pushed', file)).existed, true);
    const config = await c.pushBlob('vo/pushed', EMPTY_CONFIG.bytes);
    assert.equal(config.digest, EMPTY_CONFIG.digest);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        artifactType: 'application/vnd.unknown.artifact.v1',
        config: { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: 2 },
        layers: [{ mediaType: 'application/x-qemu-disk', digest: layer.digest, size: layer.size }],
      }),
    );
    const digest = await c.putManifest('vo/pushed', '1.0', manifest, MEDIA_TYPES.ociManifest);
    assert.equal(digest, sha256(manifest));
    assert.deepEqual(await skopeoRaw(registry(), 'vo/pushed:1.0'), manifest);
    // skopeo verifies TLS: without the test CA in --cert-dir it refuses the registry.
    const empty = join(dir, 'no-ca');
    await mkdir(empty, { recursive: true });
    await assert.rejects(skopeoRaw({ ...registry(), certDir: empty }, 'vo/pushed:1.0'), /certificate/);
    assert.deepEqual(await download(c, 'vo/pushed', layer.digest), disk);
  });

  it('finds a referrer through the sha256-<hex> tag (distribution 2.8 has no referrers API)', async () => {
    const c = client();
    assert.deepEqual(await c.referrers(artefact.repo, artefact.manifestDigest), []);
    const sbom = Buffer.from('{"bomFormat":"CycloneDX","specVersion":"1.5"}');
    await c.pushBlob(artefact.repo, sbom);
    const sbomManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        artifactType: 'application/vnd.cyclonedx+json',
        config: { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: 2 },
        layers: [{ mediaType: 'application/vnd.cyclonedx+json', digest: sha256(sbom), size: sbom.length }],
        subject: {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: artefact.manifestDigest,
          size: artefact.manifest.length,
        },
      }),
    );
    const sbomDigest = await c.putManifest(
      artefact.repo,
      sha256(sbomManifest),
      sbomManifest,
      MEDIA_TYPES.ociManifest,
    );
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [
          {
            mediaType: MEDIA_TYPES.ociManifest,
            digest: sbomDigest,
            size: sbomManifest.length,
            artifactType: 'application/vnd.cyclonedx+json',
          },
        ],
      }),
    );
    await rawPutManifest(
      registry(),
      artefact.repo,
      artefact.manifestDigest.replace(':', '-'),
      index,
      MEDIA_TYPES.ociIndex,
    );
    const found = await c.referrers(artefact.repo, artefact.manifestDigest);
    assert.deepEqual(
      found.map((d) => [d.digest, d.artifactType]),
      [[sbomDigest, 'application/vnd.cyclonedx+json']],
    );
    assert.deepEqual(await c.referrers(artefact.repo, artefact.manifestDigest, 'application/spdx+json'), []);
  });

  it('answers a missing manifest with HTTP_STATUS', async () => {
    const err = await rejectsWith(client().getManifest(artefact.repo, 'no-such-tag'), 'HTTP_STATUS');
    assert.equal(err.details?.['status'], 404);
  });
});
