/**
 * The OCI client against a real registry with bearer tokens from the tests' own issuer:
 * the Bearer challenge, the token request with Basic credentials, tokens cached per scope
 * until expires_in and fetched again after, and neither tokens nor passwords in errors.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RegistryClient } from '../../../src/shared/oci/client.js';
import { EMPTY_CONFIG, MEDIA_TYPES } from '../../../src/shared/oci/manifest.js';
import { describeWithRegistry, shownOf, skopeoRaw } from '../../helpers/registry.js';
import { egiArtefact, rawPushArtefact, sha256 } from '../../helpers/registry-artefact.js';
import { rejectsWith } from '../../helpers/rejects.js';

describeWithRegistry('OCI client, registry with bearer tokens', 'token', (registry) => {
  const artefact = egiArtefact('egi_vm_images/debian', { version: '12' });
  const client = (password = registry().user.password) =>
    new RegistryClient({
      registry: registry().host,
      caFile: registry().caFile,
      credentials: { username: registry().user.username, password },
    });
  const issuer = () => {
    const found = registry().issuer;
    assert.ok(found !== undefined);
    return found;
  };

  it('reads tags, catalog, manifest and layer through the token flow', async () => {
    await rawPushArtefact(registry(), artefact);
    const before = issuer().requests.length;
    const c = client();
    assert.deepEqual((await c.listTags(artefact.repo)).sort(), [...artefact.tags].sort());
    assert.ok((await c.catalog()).includes(artefact.repo));
    assert.equal((await c.getManifest(artefact.repo, '12')).digest, artefact.manifestDigest);
    const authorization = await c.authorization(artefact.repo);
    assert.match(authorization ?? '', /^Bearer /);
    const blob = await c.http.get(c.blobUrl(artefact.repo, artefact.diskDigest), {
      headers: { authorization },
      responseType: 'buffer',
    });
    assert.equal(sha256(blob.body), artefact.diskDigest);
    const asked = issuer().requests.slice(before);
    // One token per scope: the repository's pull scope was reused for manifest and blob.
    assert.deepEqual(
      asked.map((r) => r.scopes.join(' ')),
      [`repository:${artefact.repo}:pull`, 'registry:catalog:*'],
    );
    const basic = `Basic ${Buffer.from(`${registry().user.username}:${registry().user.password}`).toString('base64')}`;
    assert.ok(asked.every((r) => r.authorization === basic && r.service === 'vmicast-test-registry'));
  });

  it('fetches a new token once expires_in has passed, and not before', async () => {
    const c = client();
    issuer().lifetimeS = 1;
    const start = issuer().requests.length;
    await c.listTags(artefact.repo);
    await c.listTags(artefact.repo);
    // 1 s minus the early-renewal margin (0.1 s): the second call still had a valid token.
    assert.equal(issuer().requests.length - start, 1);
    await new Promise((r) => setTimeout(r, 1100));
    await c.listTags(artefact.repo);
    assert.equal(issuer().requests.length - start, 2);
    issuer().lifetimeS = 300;
  });

  it('reads a token answered as access_token', async () => {
    issuer().field = 'access_token';
    try {
      assert.equal((await client().getManifest(artefact.repo, '12')).digest, artefact.manifestDigest);
    } finally {
      issuer().field = 'token';
    }
  });

  it('refuses wrong credentials without showing the password; anonymous access is refused', async () => {
    const wrong = 'wrong-secret-77aa01';
    const err = await rejectsWith(client(wrong).listTags(artefact.repo), 'HTTP_STATUS');
    assert.match(err.message, /token service refused the configured credentials/);
    assert.ok(!shownOf(err).includes(wrong));
    const anonymous = new RegistryClient({ registry: registry().host, caFile: registry().caFile });
    await rejectsWith(anonymous.listTags(artefact.repo), 'HTTP_STATUS');
  });

  it('shows no token in an error raised after tokens were issued', async () => {
    const c = client();
    const before = issuer().requests.length;
    const err = await rejectsWith(c.getManifest(artefact.repo, 'missing'), 'HTTP_STATUS');
    assert.equal(issuer().requests.length - before, 1);
    const token = (await c.authorization(artefact.repo))?.replace(/^Bearer /, '') ?? 'missing';
    const text = shownOf(err);
    assert.ok(
      !text.includes(token) && !text.includes(token.split('.')[2] ?? 'missing'),
      'the error shows the token',
    );
    assert.ok(!text.includes(registry().user.password));
  });

  it('pushes with a push-scoped token; skopeo reads the manifest back', async () => {
    const c = client();
    await c.pushBlob('vo/token', EMPTY_CONFIG.bytes);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: 2 },
        layers: [],
      }),
    );
    await c.putManifest('vo/token', 'v1', manifest, MEDIA_TYPES.ociManifest);
    const { username, password } = registry().user;
    assert.deepEqual(await skopeoRaw(registry(), 'vo/token:v1', `${username}:${password}`), manifest);
    assert.ok(issuer().requests.some((r) => r.scopes.includes('repository:vo/token:pull,push')));
  });
});
