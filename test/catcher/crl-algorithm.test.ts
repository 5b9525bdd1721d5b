import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { subscriptionViews } from '../../src/catcher/views.js';
import { makeCatcherHome, pinnedSubscription } from '../helpers/catcher.js';
import { subjectHash } from '../helpers/pki.js';
import { Repo } from '../helpers/repo.js';
import { dumpState, listDir } from '../helpers/state.js';
import { makeCrl } from '../helpers/x509.js';

/**
 * Issue 12 section 5: a CRL is held to the signature-algorithm policy of certificates. A
 * CRL signed with MD5 (or SHA-1 without --allow-sha1) in the trust directory refuses the
 * list with WEAK_ALGORITHM and leaves every stored byte as it was. OpenSSL 3.0 accepts
 * MD5-signed CRLs (`openssl verify -crl_check`), so there is no oracle for this row.
 */
describe('a CRL signed with a weak algorithm refuses the list', () => {
  let repo: Repo;
  let catcher: Catcher;
  let crlPath: string;
  const HOUR = 3600_000;

  const writeCrl = async (hash: 'sha256' | 'sha1' | 'md5') =>
    writeFile(crlPath, makeCrl({ issuer: repo.grid.intermediate, hash }).pem);

  // The held list no longer verifies either, so its lapse clock starts (the subscription
  // row, SPEC.md section 5); with a day of grace nothing else may change.
  const stored = async () => {
    const { subscriptions: _lapse, ...tables } = JSON.parse(dumpState(catcher.db)) as Record<string, unknown>;
    return {
      db: tables,
      files: [
        await listDir(catcher.cache.cacheDir),
        await listDir(catcher.cache.partialDir),
        await listDir(catcher.cache.expiredDir),
      ],
    };
  };

  const subscribeTo = async (allowSha1: boolean) => {
    catcher = await (await makeCatcherHome(repo.grid, { graceHours: 24 })).open();
    await subscribe(
      catcher,
      pinnedSubscription(
        repo.listUrl,
        { dn: repo.grid.publisher.subject, ca: repo.grid.intermediate.subject },
        { vo: 'vo.example.org', trust: allowSha1 ? { allowSha1: true } : {} },
      ),
    );
  };

  before(async () => {
    repo = await Repo.create();
    crlPath = join(repo.grid.caDir, `${subjectHash(repo.grid.intermediate)}.r0`);
    repo.add('one image');
    repo.publish({ version: '5', created: new Date(Date.now() - HOUR) });
    await subscribeTo(false);
    assert.equal((await syncOnce(catcher)).failures, 0);
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  for (const hash of ['md5', 'sha1'] as const) {
    it(`refuses a new version while the signer's CA has a ${hash} CRL`, async () => {
      const before = await stored();
      await writeCrl(hash);
      repo.publish({ version: '6' });
      const report = await syncOnce(catcher);
      assert.equal(report.subscriptions[0]?.status, 'refused');
      assert.equal(report.subscriptions[0].code, 'WEAK_ALGORITHM');
      assert.match(report.subscriptions[0].message ?? '', /CRL of .*CN=.*signed with/);
      assert.deepEqual(await stored(), before, 'stored state changed');
      const [view] = subscriptionViews(catcher.db);
      assert.equal(view?.lastError?.code, 'WEAK_ALGORITHM');
      assert.equal(view.version, '5');
    });
  }

  it('accepts the list again once the CRL is signed with SHA-256', async () => {
    await writeCrl('sha256');
    const report = await syncOnce(catcher);
    assert.equal(report.subscriptions[0]?.status, 'updated');
    assert.equal(subscriptionViews(catcher.db)[0]?.version, '6');
  });

  it('a subscription with allowSha1 accepts a SHA-1 CRL, never an MD5 one', async () => {
    await catcher.close();
    await writeCrl('sha1');
    await subscribeTo(true); // subscribing fetches and verifies the list (version 6)
    const report = await syncOnce(catcher);
    assert.notEqual(report.subscriptions[0]?.status, 'refused', report.subscriptions[0]?.message);
    assert.equal(subscriptionViews(catcher.db)[0]?.version, '6');
    await writeCrl('md5');
    repo.publish({ version: '7' });
    const before = await stored();
    const refused = await syncOnce(catcher);
    assert.equal(refused.subscriptions[0]?.code, 'WEAK_ALGORITHM');
    assert.deepEqual(await stored(), before, 'stored state changed');
  });
});
