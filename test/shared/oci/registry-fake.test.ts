/**
 * The OCI client against registries that lie: a fake https registry of the test serves
 * manifests whose bytes do not match their digest, hostile names and links, a Harbor API,
 * token realms it should not trust, redirects and upload sessions on other origins.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/shared/oci/client.js';
import { MEDIA_TYPES } from '../../../src/shared/oci/manifest.js';
import { egiArtefact, sha256 } from '../../helpers/registry-artefact.js';
import { startFakeRegistry, type FakeRegistry } from '../../helpers/registry-fake.js';
import { shownOf } from '../../helpers/registry.js';
import { rejectsWith } from '../../helpers/rejects.js';

const REPO = 'egi_vm_images/ubuntu';
const artefact = egiArtefact(REPO);
const credentials = { username: 'reader', password: 'fake-registry-secret-31f' };

describe('OCI client against a lying registry', () => {
  let fake: FakeRegistry;
  let other: FakeRegistry;
  before(async () => {
    fake = await startFakeRegistry();
    other = await startFakeRegistry(fake.ca);
  });
  after(async () => {
    await fake.stop();
    await other.stop();
  });
  const client = (withCredentials = false) =>
    new RegistryClient({
      registry: fake.host,
      caFile: fake.caFile,
      ...(withCredentials ? { credentials } : {}),
    });
  const serveManifest = (bytes: Buffer, headers: Record<string, string> = {}) => {
    fake.handle = (_req, res) =>
      res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest, ...headers }).end(bytes);
  };

  it('accepts a manifest whose bytes match the digest asked for and the header', async () => {
    serveManifest(artefact.manifest, { 'docker-content-digest': artefact.manifestDigest });
    const got = await client().getManifest(REPO, artefact.manifestDigest);
    assert.equal(got.digest, artefact.manifestDigest);
  });

  it('refuses a manifest whose bytes are not the digest asked for (tampering registry)', async () => {
    const other = egiArtefact(REPO, { tag: '2025-10-01-deadbeef' });
    // The registry even claims the wanted digest in its header.
    serveManifest(other.manifest, { 'docker-content-digest': artefact.manifestDigest });
    const err = await rejectsWith(
      client().getManifest(REPO, artefact.manifestDigest),
      'IMAGE_DIGEST_MISMATCH',
    );
    assert.match(err.message, new RegExp(other.manifestDigest));
  });

  it('refuses a manifest by tag whose Docker-Content-Digest header names other bytes', async () => {
    serveManifest(artefact.manifest, { 'docker-content-digest': sha256(Buffer.from('other')) });
    await rejectsWith(client().getManifest(REPO, '22.04'), 'IMAGE_DIGEST_MISMATCH');
  });

  it('refuses a manifest larger than the cap, announced or not', async () => {
    serveManifest(Buffer.alloc(64 * 1024, 0x20));
    const small = new RegistryClient({ registry: fake.host, caFile: fake.caFile, maxManifestBytes: 1024 });
    await rejectsWith(small.getManifest(REPO, '22.04'), 'LIST_TOO_LARGE');
    fake.handle = (_req, res) => {
      res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest });
      res.write(Buffer.alloc(800, 0x20));
      res.end(Buffer.alloc(800, 0x20));
    };
    await rejectsWith(small.getManifest(REPO, '22.04'), 'LIST_TOO_LARGE');
  });

  it('refuses a manifest declaring an index but served as an image manifest, and malformed ones', async () => {
    const doc = JSON.parse(artefact.manifest.toString()) as Record<string, unknown>;
    serveManifest(Buffer.from(JSON.stringify({ ...doc, mediaType: MEDIA_TYPES.ociIndex })));
    await rejectsWith(client().getManifest(REPO, '22.04'), 'LIST_MALFORMED');
    const layers = doc['layers'] as Record<string, unknown>[];
    serveManifest(Buffer.from(JSON.stringify({ ...doc, layers: [{ ...layers[0], digest: 'sha512:00' }] })));
    await rejectsWith(client().getManifest(REPO, '22.04'), 'LIST_MALFORMED');
    serveManifest(Buffer.from('<html>not found</html>'));
    await rejectsWith(client().getManifest(REPO, '22.04'), 'LIST_MALFORMED');
  });

  it('follows tag pages through Link and refuses a hostile tag or a link off the registry', async () => {
    fake.handle = (_req, res, url) => {
      const last = url.searchParams.get('last');
      const body = { name: REPO, tags: last === null ? ['22.04', '22.04-2025-09-04-4d7122d6'] : ['24.04'] };
      const link = last === null ? { link: `</v2/${REPO}/tags/list?last=22.04-2025&n=100>; rel="next"` } : {};
      res.writeHead(200, { 'content-type': 'application/json', ...link }).end(JSON.stringify(body));
    };
    assert.deepEqual(await client().listTags(REPO), ['22.04', '22.04-2025-09-04-4d7122d6', '24.04']);
    fake.handle = (_req, res) =>
      res
        .writeHead(200, { link: `<${other.origin}/v2/${REPO}/tags/list?last=x>; rel="next"` })
        .end(JSON.stringify({ name: REPO, tags: ['a'] }));
    await rejectsWith(client().listTags(REPO), 'LIST_MALFORMED');
    for (const tags of [['../../etc'], ['-x'], [7]]) {
      fake.handle = (_req, res) => res.writeHead(200).end(JSON.stringify({ name: REPO, tags }));
      await rejectsWith(client().listTags(REPO), 'LIST_MALFORMED');
    }
    fake.handle = (_req, res) => res.writeHead(200).end(JSON.stringify({ name: 'other/repo', tags: ['a'] }));
    await rejectsWith(client().listTags(REPO), 'LIST_MALFORMED');
  });

  it('lists a Harbor project page by page, without the project prefix, with Basic credentials', async () => {
    const names = Array.from({ length: 101 }, (_, i) => `egi_vm_images/os${i}`);
    fake.handle = (_req, res, url) => {
      const page = Number(url.searchParams.get('page'));
      const size = Number(url.searchParams.get('page_size'));
      const slice = names.slice((page - 1) * size, page * size).map((name) => ({ name, artifact_count: 2 }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(slice));
    };
    const start = fake.requests.length;
    const found = await client(true).harborRepositories('egi_vm_images');
    assert.deepEqual(
      found,
      names.map((n) => n.slice('egi_vm_images/'.length)),
    );
    const asked = fake.requests.slice(start);
    assert.equal(asked.length, 2);
    assert.ok(asked.every((r) => r.authorization?.startsWith('Basic ')));
  });

  it('refuses a Harbor answer naming a repository outside the project; says undefined when not Harbor', async () => {
    fake.handle = (_req, res) => res.writeHead(200).end(JSON.stringify([{ name: 'other_vo/os' }]));
    await rejectsWith(client().harborRepositories('egi_vm_images'), 'LIST_MALFORMED');
    fake.handle = (_req, res) =>
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
    assert.equal(await client().harborRepositories('egi_vm_images'), undefined);
    fake.handle = (_req, res) =>
      res.writeHead(404).end('{"errors":[{"code":"NOT_FOUND","message":"project x"}]}');
    await rejectsWith(client().harborRepositories('egi_vm_images'), 'HTTP_STATUS');
    await rejectsWith(client().harborRepositories('../etc'), 'CONFIG_INVALID');
  });

  it('never sends credentials to a token realm that is not https', async () => {
    // A plain-http realm that would hand out tokens to whoever asks.
    const seen: (string | undefined)[] = [];
    const plain = createHttpServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200).end(JSON.stringify({ token: 'plain.http.token' }));
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const { port } = plain.address() as AddressInfo;
    fake.handle = (_req, res) =>
      res
        .writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="s"` })
        .end();
    try {
      const err = await rejectsWith(client(true).listTags(REPO), 'FETCH_FAILED');
      assert.deepEqual(seen, []);
      assert.ok(!shownOf(err).includes(credentials.password));
    } finally {
      plain.close();
    }
  });

  it('takes a token from an https realm on another origin; refuses a token unfit for a header', async () => {
    other.handle = (_req, res) =>
      res.writeHead(200).end(JSON.stringify({ token: 'abc.def.ghi', expires_in: 30 }));
    fake.handle = (req, res) => {
      if (req.headers.authorization === 'Bearer abc.def.ghi') {
        res.writeHead(200).end(JSON.stringify({ name: REPO, tags: ['1'] }));
        return;
      }
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="${other.origin}/token",service="s",scope="repository:${REPO}:pull"`,
        })
        .end();
    };
    assert.deepEqual(await client(true).listTags(REPO), ['1']);
    other.handle = (_req, res) => res.writeHead(200).end(JSON.stringify({ token: 'abc\r\nx-evil: 1' }));
    await rejectsWith(client(true).listTags(REPO), 'LIST_MALFORMED');
  });

  it('drops a cached token the registry refuses and fetches a new one, once', async () => {
    let issued = 0;
    let accepted = 'tok1';
    other.handle = (_req, res) =>
      res.writeHead(200).end(JSON.stringify({ token: `tok${++issued}`, expires_in: 300 }));
    fake.handle = (req, res) => {
      if (req.headers.authorization === `Bearer ${accepted}`) {
        res.writeHead(200).end(JSON.stringify({ name: REPO, tags: ['1'] }));
        return;
      }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${other.origin}/token",service="s"` }).end();
    };
    const c = client(true);
    assert.deepEqual(await c.listTags(REPO), ['1']);
    accepted = 'tok2';
    assert.deepEqual(await c.listTags(REPO), ['1']);
    assert.equal(issued, 2);
    accepted = 'never';
    await rejectsWith(c.listTags(REPO), 'HTTP_STATUS');
    assert.equal(issued, 3);
  });

  it('drops the Authorization header when a blob GET is redirected to another origin', async () => {
    fake.handle = (_req, res) => res.writeHead(307, { location: `${other.origin}/bucket/blob?sig=1` }).end();
    other.handle = (_req, res) => res.writeHead(200).end('bytes');
    const c = client();
    const start = other.requests.length;
    const response = await c.http.get(c.blobUrl(REPO, artefact.diskDigest), {
      headers: { authorization: 'Bearer secret-token' },
      responseType: 'buffer',
    });
    assert.equal(response.body.toString(), 'bytes');
    const redirected = other.requests.slice(start);
    assert.equal(redirected.length, 1);
    assert.equal(redirected[0]?.authorization, undefined);
  });

  it('refuses an upload session on another origin: neither bytes nor credentials leave', async () => {
    fake.handle = (req, res) => {
      if (req.method === 'HEAD') res.writeHead(404).end();
      else res.writeHead(202, { location: `${other.origin}/v2/${REPO}/blobs/uploads/x` }).end();
    };
    const start = other.requests.length;
    await rejectsWith(client(true).pushBlob(REPO, Buffer.from('layer')), 'FETCH_FAILED');
    assert.equal(other.requests.length, start);
  });

  it('refuses a registry whose certificate is not from a trusted CA', async () => {
    const untrusting = new RegistryClient({ registry: fake.host });
    const start = fake.requests.length;
    await rejectsWith(untrusting.getManifest(REPO, '22.04'), 'FETCH_FAILED');
    assert.equal(fake.requests.length, start);
  });
});
