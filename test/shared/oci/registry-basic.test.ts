/**
 * The OCI client against a real registry with htpasswd Basic auth: the 401 challenge is
 * answered with the configured credentials; missing or wrong credentials are a clear
 * HTTP_STATUS error that never carries the password.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { VmiError } from '../../../src/shared/errors.js';
import { RegistryClient } from '../../../src/shared/oci/client.js';
import { EMPTY_CONFIG, MEDIA_TYPES } from '../../../src/shared/oci/manifest.js';
import { describeWithRegistry, shownOf, skopeoRaw } from '../../helpers/registry.js';
import { egiArtefact, rawPushArtefact, sha256 } from '../../helpers/registry-artefact.js';
import { rejectsWith } from '../../helpers/rejects.js';

describeWithRegistry('OCI client, registry with Basic auth', 'basic', (registry) => {
  const artefact = egiArtefact('egi_vm_images/almalinux', { version: '9' });
  const client = (password = registry().user.password) =>
    new RegistryClient({
      registry: registry().host,
      caFile: registry().caFile,
      credentials: { username: registry().user.username, password },
    });

  it('reads tags, manifest and layer with the credentials', async () => {
    await rawPushArtefact(registry(), artefact);
    const c = client();
    assert.deepEqual((await c.listTags(artefact.repo)).sort(), [...artefact.tags].sort());
    assert.ok((await c.catalog()).includes(artefact.repo));
    assert.equal((await c.getManifest(artefact.repo, '9')).digest, artefact.manifestDigest);
    const authorization = await c.authorization(artefact.repo);
    assert.match(authorization ?? '', /^Basic /);
    const blob = await c.http.get(c.blobUrl(artefact.repo, artefact.diskDigest), {
      headers: { authorization },
      responseType: 'buffer',
    });
    assert.equal(sha256(blob.body), artefact.diskDigest);
  });

  it('says credentials are needed when none are configured', async () => {
    const c = new RegistryClient({ registry: registry().host, caFile: registry().caFile });
    const err = await rejectsWith(c.listTags(artefact.repo), 'HTTP_STATUS');
    assert.match(err.message, /requires credentials/);
  });

  it('refuses wrong credentials with an error that does not carry the password', async () => {
    const wrong = 'wrong-secret-5d1c9e';
    const err = await rejectsWith(client(wrong).getManifest(artefact.repo, '9'), 'HTTP_STATUS');
    assert.match(err.message, /refused the configured credentials/);
    const text = shownOf(err);
    for (const secret of [wrong, Buffer.from(`${registry().user.username}:${wrong}`).toString('base64')]) {
      assert.ok(!text.includes(secret), 'the error shows the password');
    }
    assert.ok(err instanceof VmiError && err.cause === undefined);
  });

  it('pushes with the credentials; skopeo reads the manifest with them', async () => {
    const c = client();
    await c.pushBlob('vo/basic', EMPTY_CONFIG.bytes);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: 2 },
        layers: [],
      }),
    );
    await c.putManifest('vo/basic', 'v1', manifest, MEDIA_TYPES.ociManifest);
    const { username, password } = registry().user;
    assert.deepEqual(await skopeoRaw(registry(), 'vo/basic:v1', `${username}:${password}`), manifest);
  });
});
