import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { getSubscription } from '../../src/catcher/store/subscriptions.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { subscriptionViews } from '../../src/catcher/views.js';
import { makeCatcherHome } from '../helpers/catcher.js';
import { issue } from '../helpers/x509.js';
import { Repo } from '../helpers/repo.js';
import { dumpState, listDir } from '../helpers/state.js';
import { publisherSpec } from '../helpers/grid.js';

/**
 * SPEC.md section 5: a refused list leaves every stored byte as it was and records its
 * code on the subscription. Each case starts from the accepted version 5 and changes one
 * thing.
 */
describe('refused lists leave the state unchanged', () => {
  let repo: Repo;
  let catcher: Catcher;
  const HOUR = 3600_000;
  let accepted: { created: Date };

  before(async () => {
    repo = await Repo.create();
    catcher = await (await makeCatcherHome(repo.grid)).open();
    repo.add('one image');
    accepted = { created: new Date(Date.now() - HOUR) };
    repo.publish({ version: '5', created: accepted.created });
    await subscribe(catcher, {
      url: repo.listUrl,
      endorser: { dn: repo.grid.publisher.subject, ca: repo.grid.intermediate.subject },
      autoEndorse: false,
      vo: 'vo.example.org',
      requireVoms: false,
      fqan: undefined,
      newImages: 'subscribe',
      username: undefined,
      password: undefined,
      trust: {},
      now: new Date(),
    });
    assert.equal((await syncOnce(catcher)).failures, 0);
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  const stranger = () =>
    issue(
      publisherSpec(repo.grid.intermediate, {
        subject: '/DC=org/DC=example/O=Hosts/CN=stranger.example.org',
      }),
    );

  const cases: [string, string, () => void][] = [
    ['an older version', 'LIST_ROLLBACK', () => repo.publish({ version: '4' })],
    [
      'the same version created earlier',
      'LIST_ROLLBACK',
      () => repo.publish({ version: '5', created: new Date(accepted.created.getTime() - HOUR) }),
    ],
    [
      'the same version and date with other content',
      'LIST_CONFLICT',
      () => {
        repo.add('an extra image');
        repo.publish({ version: '5', created: accepted.created });
        repo.images.pop();
      },
    ],
    [
      'an expired list',
      'LIST_EXPIRED',
      () =>
        repo.publish({
          version: '6',
          expires: new Date(Date.now() - 60_000),
          created: new Date(Date.now() - 2 * HOUR),
        }),
    ],
    [
      'a list created in the future',
      'LIST_NOT_YET_VALID',
      () => repo.publish({ version: '6', created: new Date(Date.now() + 2 * HOUR) }),
    ],
    [
      'another list identifier',
      'LIST_IDENTIFIER_CHANGED',
      () => repo.publish({ version: '6', identifier: randomUUID() }),
    ],
    [
      // SPEC order: the identifier (step 5) is checked before freshness (step 6).
      'an expired list with another identifier',
      'LIST_IDENTIFIER_CHANGED',
      () =>
        repo.publish({
          version: '6',
          identifier: randomUUID(),
          expires: new Date(Date.now() - 60_000),
          created: new Date(Date.now() - 2 * HOUR),
        }),
    ],
    [
      'an endorser the subscription does not trust',
      'ENDORSER_UNAUTHORIZED',
      () => {
        const other = stranger();
        repo.publish({ version: '6', signer: other, chain: [repo.grid.intermediate] });
      },
    ],
    ['a list for another VO', 'VO_MISMATCH', () => repo.publish({ version: '6', vo: 'other.vo' })],
    [
      'a list whose hv:dn does not name its signer',
      'ENDORSER_MISMATCH',
      () =>
        repo.publish({
          version: '6',
          endorser: { dn: '/DC=org/CN=someone else', ca: repo.grid.intermediate.subject },
        }),
    ],
    [
      'a server error',
      'HTTP_STATUS',
      () => repo.server.fault('/list.smime', { kind: 'status', status: 500 }),
    ],
  ];

  for (const [what, code, change] of cases) {
    it(`refuses ${what} with ${code}`, async () => {
      const state = dumpState(catcher.db);
      const files = [
        await listDir(catcher.cache.cacheDir),
        await listDir(catcher.cache.partialDir),
        await listDir(catcher.cache.expiredDir),
      ];
      change();
      const report = await syncOnce(catcher);
      assert.equal(report.subscriptions[0]?.status, 'refused');
      assert.equal(report.subscriptions[0].code, code);
      assert.ok(report.failures > 0);
      assert.equal(dumpState(catcher.db), state, 'stored state changed');
      assert.deepEqual(
        [
          await listDir(catcher.cache.cacheDir),
          await listDir(catcher.cache.partialDir),
          await listDir(catcher.cache.expiredDir),
        ],
        files,
      );
      const [view] = subscriptionViews(catcher.db);
      assert.equal(view?.lastError?.code, code);
      // The attempt is recorded with its outcome.
      const stored = getSubscription(catcher.db, view.id);
      assert.equal(stored?.lastAttemptAt, report.now);
      assert.equal(stored.lastError?.at, report.now);
      assert.equal(view.version, '5');
    });
  }

  it('accepts a re-signed list (same version, newer creation date) and clears the error', async () => {
    repo.publish({ version: '5', created: new Date(accepted.created.getTime() + 60_000) });
    const report = await syncOnce(catcher);
    assert.equal(report.subscriptions[0]?.status, 'updated');
    assert.equal(subscriptionViews(catcher.db)[0]?.lastError, null);
  });
});
