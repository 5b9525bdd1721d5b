import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { imageViews } from '../../src/catcher/views.js';
import { RegistryClient } from '../../src/shared/oci/client.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { describeWithRegistry, type TestRegistry } from '../helpers/registry.js';
import { Repo } from '../helpers/repo.js';
import { TestServer } from '../helpers/server.js';
import { listDir } from '../helpers/state.js';
import { localhostServerCert } from '../helpers/tls.js';

/**
 * Issue 15, item 2: a signed list whose image is a registry blob named by digest
 * (`https://<registry>/v2/<repo>/blobs/sha256:<hex>`). The catcher answers the registry's
 * token challenge (anonymous, as Harbor's public projects want), and checks the bytes
 * against the list's SHA-512 and the URL's SHA-256 in the same pass: a registry serving
 * other bytes under that digest is refused, with nothing cached.
 */

const REPO = 'egi_vm_images/ubuntu';

async function site(registry: TestRegistry, repo: Repo): Promise<Catcher> {
  const home = await makeCatcherHome(repo.grid, { downloads: { caFile: registry.caFile } });
  const catcher = await home.open();
  await subscribe(catcher, openSubscription(repo.listUrl));
  return catcher;
}

async function pushed(registry: TestRegistry, bytes: Buffer): Promise<string> {
  const client = new RegistryClient({
    registry: registry.host,
    caFile: registry.caFile,
    ...(registry.mode === 'open' ? {} : { credentials: registry.user }),
  });
  const { digest } = await client.pushBlob(REPO, bytes);
  return client.blobUrl(REPO, digest);
}

function blobTests(registry: () => TestRegistry): void {
  let repo: Repo;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    repo = await Repo.create();
  });
  after(async () => {
    for (const close of closers) await close();
    await repo.stop();
  });

  it('syncs an image the list pins by registry blob URL', async () => {
    const bytes = randomBytes(3 << 20);
    const url = await pushed(registry(), bytes);
    const image = repo.add(new Uint8Array(bytes), { extra: { 'hv:uri': url } });
    repo.publish();
    const catcher = await site(registry(), repo);
    closers.push(() => catcher.close());
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report.downloads));
    assert.deepEqual(
      imageViews(catcher.db, []).map((v) => [v.id, v.state]),
      [[image.identifier, 'cached']],
    );
    assert.deepEqual(await readFile(catcher.cache.cached(image.identifier)), bytes);
    if (registry().issuer !== undefined) {
      // Anonymous: a token for pulling this repository, without credentials.
      const anonymous = registry().issuer?.requests.filter(
        (r) => r.authorization === undefined && r.scopes.includes(`repository:${REPO}:pull`),
      );
      assert.ok((anonymous ?? []).length > 0, 'an anonymous pull token was asked for');
    }
  });
}

describeWithRegistry('a list pinning blobs of an open registry', 'open', blobTests);
describeWithRegistry('a list pinning blobs of a token registry with anonymous pulls', 'token', blobTests, {
  anonymousPull: true,
});

describeWithRegistry('a registry serving other bytes under the digest', 'open', (registry) => {
  let repo: Repo;
  let fake: TestServer;
  let catcher: Catcher;
  before(async () => {
    repo = await Repo.create();
    const cert = localhostServerCert(registry().ca);
    fake = await TestServer.start({ cert: cert.pem, key: cert.keyPem });
    // It answers as an open registry does.
    fake.set('/v2/', '{}', { contentType: 'application/json' });
    repo.publish();
    catcher = await site(registry(), repo);
  });
  after(async () => {
    await catcher.close();
    await fake.stop();
    await repo.stop();
  });

  it("refuses bytes that are not the list's (the SHA-512 catches them), caching nothing", async () => {
    const good = randomBytes(1 << 20);
    const url = new URL(await pushed(registry(), good));
    // The tampering registry serves other bytes at the very path the list pins.
    fake.set(url.pathname, randomBytes(1 << 20));
    const image = repo.add(new Uint8Array(good), { extra: { 'hv:uri': fake.url(url.pathname) } });
    repo.publish();
    const report = await syncOnce(catcher);
    assert.deepEqual(
      report.downloads.map((d) => [d.identifier, d.code]),
      [[image.identifier, 'IMAGE_DIGEST_MISMATCH']],
    );
    assert.deepEqual(await listDir(catcher.cache.cacheDir), []);
    repo.remove(image.identifier);
  });

  it("refuses bytes whose SHA-256 is not the digest the URL names, even when the SHA-512 is the list's", async () => {
    const other = randomBytes(1 << 20);
    const url = new URL(await pushed(registry(), randomBytes(1 << 20)));
    fake.set(url.pathname, other);
    const image = repo.add(new Uint8Array(other), { extra: { 'hv:uri': fake.url(url.pathname) } });
    repo.publish();
    const report = await syncOnce(catcher);
    const download = report.downloads.find((d) => d.identifier === image.identifier);
    assert.equal(download?.code, 'IMAGE_DIGEST_MISMATCH');
    assert.match(download.message ?? '', /SHA-256/);
    assert.deepEqual(await listDir(catcher.cache.cacheDir), []);
  });
});
