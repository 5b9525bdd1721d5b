import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { TestServer } from '../helpers/server.js';
import { localhostServerCert } from '../helpers/tls.js';
import { issue, type TestCert } from '../helpers/x509.js';
import {
  assertDelivered,
  assertFailed,
  assertRefused,
  assertSynced,
  Site,
  stored,
} from '../conformance/harness.js';
import { LIST_PATH, Simulator } from '../conformance/simulator.js';

/**
 * Issue 12: a list server or an image server whose TLS certificate does not chain to the
 * trust store (system CAs, grid CAs, downloads.caFile) is refused with FETCH_FAILED, and
 * nothing the site holds changes. Each case starts from a synced site served over https with
 * a certificate the trust store accepts, then changes only the server's certificate to one
 * from a CA the site does not know.
 */
const UNTRUSTED = /certificate|self.signed|UNABLE_TO|CERT_/i;

describe('TLS: servers whose certificate does not chain to the trust store', () => {
  let grid: Grid;
  let rogue: TestCert;
  const stops: (() => Promise<void>)[] = [];
  before(async () => {
    ensureBuilt();
    grid = await makeGrid();
    // A CA of its own, in neither the system store nor the grid CA directory.
    rogue = localhostServerCert(issue({ subject: '/DC=org/DC=example/O=Elsewhere/CN=Unknown CA', ca: true }));
  });
  after(async () => {
    for (const stop of stops) await stop();
  });

  async function httpsServer(): Promise<TestServer> {
    const trusted = localhostServerCert(grid.intermediate);
    const server = await TestServer.start({ cert: trusted.pem, key: trusted.keyPem });
    stops.push(() => server.stop());
    return server;
  }

  it('refuses a list server with an unknown CA: subscribe fails, a sync changes nothing', async () => {
    const sim = await Simulator.create(grid);
    stops.push(() => sim.stop());
    const https = await httpsServer();
    const first = sim.add('image behind a trusted list server');
    https.set(LIST_PATH, sim.publish().bytes, { contentType: 'application/pkcs7-mime' });
    const site = await Site.create(grid);
    assert.equal((await site.subscribe(https.url(LIST_PATH), sim.endorser)).status, 0);
    assertSynced(await site.sync());
    const before = await site.observe();
    assertDelivered(before, [first], sim.listId);

    // A new version with a new image, served behind a certificate from an unknown CA.
    sim.add('image the site must not take');
    https.set(LIST_PATH, sim.publish().bytes, { contentType: 'application/pkcs7-mime' });
    https.useCertificate({ cert: rogue.pem, key: rogue.keyPem });
    const seen = https.log.length;
    const run = await site.sync();
    const after = await site.observe();
    assertRefused(run, after, 'FETCH_FAILED');
    assert.match(after.subscriptions[0]?.lastError?.message ?? '', UNTRUSTED);
    assert.deepEqual(stored(after), stored(before));
    assert.equal(https.log.length, seen, 'no HTTP request crossed the refused TLS handshake');

    // First contact is refused the same way, and no subscription is made.
    const fresh = await Site.create(grid);
    const subscribed = await fresh.subscribe(https.url(LIST_PATH), sim.endorser);
    assertFailed(subscribed, 'FETCH_FAILED');
    assert.match((subscribed.json as { message: string }).message, UNTRUSTED);
    assert.deepEqual((await fresh.observe()).subscriptions, []);
  });

  it('refuses an image server with an unknown CA: the cached and delivered image stay as they were', async () => {
    const sim = await Simulator.create(grid);
    stops.push(() => sim.stop());
    const https = await httpsServer();
    const original = sim.add('image served over https, version 1');
    const onHttps = (image: typeof original, path: string) => {
      https.set(path, image.bytes);
      return { ...image, entry: { ...image.entry, 'hv:uri': https.url(path) } };
    };
    sim.repo.images = [onHttps(original, '/images/v1.img')];
    sim.publish();
    const site = await Site.create(grid);
    assert.equal((await site.subscribe(sim.url, sim.endorser)).status, 0);
    assertSynced(await site.sync());
    const before = await site.observe();
    assertDelivered(before, sim.repo.images, sim.listId);

    // Version 2 of the image, on the same server, now behind a certificate from an unknown CA.
    const replacement = sim.repo.image('image served over https, version 2', {
      identifier: original.identifier,
      version: '2',
    });
    sim.repo.images = [onHttps(replacement, '/images/v2.img')];
    sim.publish();
    https.useCertificate({ cert: rogue.pem, key: rogue.keyPem });
    const run = await site.sync();
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const report = run.json as {
      downloads: { identifier: string; ok: boolean; code?: string; message?: string }[];
    };
    assert.ok(report.downloads.length > 0, run.stdout);
    for (const d of report.downloads) {
      assert.equal(d.ok, false);
      assert.equal(d.code, 'FETCH_FAILED', run.stdout);
      assert.match(d.message ?? '', UNTRUSTED);
    }
    const after = await site.observe();
    assert.deepEqual(after.cache, before.cache, 'cache bytes');
    assert.deepEqual(after.backend, before.backend, 'backend files and sidecars');
    for (const name of after.partial) {
      const size = (await stat(join(site.home.home, 'partial', name))).size;
      assert.equal(size, 0, `partial file ${name}: no byte from an untrusted server is kept`);
    }
    assert.equal(https.requests('/images/v2.img').length, 0, 'the new bytes were never requested');
  });
});
