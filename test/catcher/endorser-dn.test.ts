import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { formatOneline } from '../../src/shared/pki/dn.js';
import { makeCatcherHome, pinnedSubscription } from '../helpers/catcher.js';
import { makeGrid, publisherSpec } from '../helpers/grid.js';
import { Repo } from '../helpers/repo.js';
import { dumpState } from '../helpers/state.js';
import { issue } from '../helpers/x509.js';

/**
 * Issue 17 item 3 end to end: vmicatcher subscribed to a signer with non-ASCII characters
 * (pinned in OpenSSL's escaped form, as `openssl x509 -subject` prints it) accepts lists
 * whose hv:dn is either the UTF-8 text or the escaped form, and still refuses a different
 * signer without changing its state.
 */

const UTF8_DN = '/DC=org/DC=example/O=Hosts/CN=José Müller';

describe('vmicatcher reads both DN forms of a UTF-8 signer (issue 17 item 3)', () => {
  let repo: Repo;
  let catcher: Catcher;
  let escaped: string;

  before(async () => {
    repo = await Repo.create(await makeGrid({ publisher: { subject: UTF8_DN } }));
    escaped = formatOneline(decodeCertificate(repo.grid.publisher.der).subject);
    catcher = await (await makeCatcherHome(repo.grid)).open();
    repo.add('one image');
    repo.publish({ version: '1', endorser: { dn: UTF8_DN, ca: repo.grid.intermediate.subject } });
    await subscribe(
      catcher,
      pinnedSubscription(repo.listUrl, { dn: escaped, ca: repo.grid.intermediate.subject }),
    );
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('accepts hv:dn in UTF-8 text and in escaped form; refuses another signer, state unchanged', async () => {
    assert.notEqual(escaped, UTF8_DN);
    assert.equal((await syncOnce(catcher)).failures, 0);
    repo.publish({ version: '2', endorser: { dn: escaped, ca: repo.grid.intermediate.subject } });
    const second = await syncOnce(catcher);
    assert.equal(second.failures, 0, JSON.stringify(second.subscriptions));

    const state = dumpState(catcher.db);
    const other = issue(
      publisherSpec(repo.grid.intermediate, { subject: '/DC=org/DC=example/O=Hosts/CN=Jose Muller' }),
    );
    for (const dn of [UTF8_DN, escaped]) {
      repo.publish({
        version: '3',
        signer: other,
        chain: [repo.grid.intermediate],
        endorser: { dn, ca: repo.grid.intermediate.subject },
      });
      const report = await syncOnce(catcher);
      assert.equal(report.subscriptions[0]?.code, 'ENDORSER_MISMATCH', dn);
      assert.equal(dumpState(catcher.db), state, `${dn}: stored state changed`);
    }
  });
});
