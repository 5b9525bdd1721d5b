import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { TestServer } from '../helpers/server.js';
import { localhostServerCert } from '../helpers/tls.js';
import { assertDelivered, assertRefused, assertSynced, Site, stored } from './harness.js';
import { LIST_PATH, Simulator } from './simulator.js';
import { STORIES } from './stories.js';

/** Conformance, transport (README.md row X01): a list fetched over https is never followed to http. */

const title = (id: string) => `${id}: ${STORIES.find((s) => s.id === id)?.attack ?? '?'}`;

describe('conformance: transport through vmicatcher', () => {
  it(title('X01'), async () => {
    ensureBuilt();
    const sim = await Simulator.create();
    const tls = localhostServerCert(sim.grid.intermediate);
    const https = await TestServer.start({ cert: tls.pem, key: tls.keyPem });
    try {
      sim.add('transport image A');
      https.set(LIST_PATH, sim.publish().bytes, { contentType: 'application/pkcs7-mime' });
      const site = await Site.create(sim.grid);
      assert.equal((await site.subscribe(https.url(LIST_PATH), sim.endorser)).status, 0);
      assertSynced(await site.sync());
      const before = await site.observe();
      assertDelivered(before, sim.repo.images, sim.listId);
      // A newer version is on the plain-http mirror; the https URL redirects there.
      sim.publish();
      https.fault(LIST_PATH, { kind: 'redirect', location: sim.url });
      const run = await site.sync();
      const after = await site.observe();
      assertRefused(run, after, 'FETCH_FAILED');
      assert.match(after.subscriptions[0]?.lastError?.message ?? '', /redirect/);
      assert.deepEqual(stored(after), stored(before));
      assert.equal(sim.repo.server.requests(LIST_PATH).length, 0, 'the http copy was never fetched');
    } finally {
      await https.stop();
      await sim.stop();
    }
  });
});
