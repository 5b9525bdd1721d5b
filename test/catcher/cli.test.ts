import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EXIT_STATUS } from '../../src/shared/errors.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher } from '../helpers/catcher-cli.js';
import { Repo } from '../helpers/repo.js';

/** The vmicatcher command-line contract (CONTRACT.md), through the real program. */
describe('vmicatcher CLI', () => {
  let repo: Repo;
  let home: TestCatcher;

  before(async () => {
    repo = await Repo.create();
    home = await makeCatcherHome(repo.grid);
    repo.add('cli image one');
    repo.add('cli image two');
    repo.publish({ vo: 'vo.example.org' });
  });
  after(async () => {
    await repo.stop();
  });

  it('refuses to subscribe without an endorser decision (USAGE, JSON error)', async () => {
    const run = await runCatcher(home, ['subscribe', repo.listUrl, '--json']);
    assert.equal(run.status, EXIT_STATUS.configuration);
    assert.deepEqual(Object.keys(run.json as object).sort(), ['code', 'message', 'ok']);
    assert.equal((run.json as { code: string }).code, 'USAGE');
  });

  it('refuses an unauthorized endorser with its code and exit status, storing nothing', async () => {
    const run = await runCatcher(home, [
      'subscribe',
      repo.listUrl,
      '--endorser-dn',
      '/DC=org/CN=nobody',
      '--endorser-ca',
      repo.grid.intermediate.subject,
      '--json',
    ]);
    assert.equal(run.status, EXIT_STATUS.authorization);
    assert.equal((run.json as { code: string }).code, 'ENDORSER_UNAUTHORIZED');
    const list = await runCatcher(home, ['subscriptions', '--json']);
    assert.deepEqual(list.json, []);
  });

  it('subscribes, syncs and reports subscriptions and images in the contract shapes', async () => {
    const sub = await runCatcher(home, [
      'subscribe',
      repo.listUrl,
      '--endorser-dn',
      repo.grid.publisher.subject,
      '--endorser-ca',
      repo.grid.intermediate.subject,
      '--vo',
      'vo.example.org',
    ]);
    assert.equal(sub.status, 0, sub.stderr);
    assert.equal(sub.stdout.trim(), repo.listId);
    const sync = await runCatcher(home, ['sync', '--json']);
    assert.equal(sync.status, 0, sync.stderr);
    assert.equal((sync.json as { ok: boolean }).ok, true);
    const subs = (await runCatcher(home, ['subscriptions', '--json'])).json as Record<string, unknown>[];
    const [only, ...rest] = subs;
    assert.ok(only);
    assert.equal(rest.length, 0);
    for (const key of ['id', 'url', 'vo', 'version', 'created', 'expires', 'lastSuccess', 'lastError'])
      assert.ok(key in only, key);
    assert.equal(only['vo'], 'vo.example.org');
    assert.equal(only['lastError'], null);
    const images = (await runCatcher(home, ['images', '--json'])).json as Record<string, unknown>[];
    assert.equal(images.length, 2);
    for (const image of images) {
      for (const key of [
        'id',
        'subscription',
        'title',
        'version',
        'sha512',
        'size',
        'state',
        'supersedes',
        'appliance',
        'backends',
      ])
        assert.ok(key in image, key);
      assert.equal(image['state'], 'cached');
      assert.equal(image['subscription'], repo.listId);
    }
  });

  it('deselects and selects an image', async () => {
    const images = (await runCatcher(home, ['images', '--json'])).json as { id: string }[];
    const id = images[0]?.id ?? '';
    assert.equal((await runCatcher(home, ['image', 'deselect', id])).status, 0);
    await runCatcher(home, ['sync']);
    const after = (
      (await runCatcher(home, ['images', '--json'])).json as { id: string; state: string }[]
    ).find((i) => i.id === id);
    assert.equal(after?.state, 'known');
    assert.equal((await runCatcher(home, ['image', 'select', id])).status, 0);
    await runCatcher(home, ['sync']);
    const again = (
      (await runCatcher(home, ['images', '--json'])).json as { id: string; state: string }[]
    ).find((i) => i.id === id);
    assert.equal(again?.state, 'cached');
    const missing = await runCatcher(home, ['image', 'select', 'no-such-image', '--json']);
    assert.equal((missing.json as { code: string }).code, 'USAGE');
  });

  it('exits 1 from sync when a subscription is refused and records the code', async () => {
    repo.publish({ version: '0' });
    const sync = await runCatcher(home, ['sync', '--json']);
    assert.equal(sync.status, 1);
    const report = sync.json as { subscriptions: { code?: string }[] };
    assert.equal(report.subscriptions[0]?.code, 'LIST_ROLLBACK');
    const subs = (await runCatcher(home, ['subscriptions', '--json'])).json as {
      lastError: { code: string } | null;
    }[];
    assert.equal(subs[0]?.lastError?.code, 'LIST_ROLLBACK');
  });

  it('accepts a lower version once after an operator reset', async () => {
    assert.equal((await runCatcher(home, ['reset', repo.listId])).status, 0);
    const sync = await runCatcher(home, ['sync', '--json']);
    assert.equal(sync.status, 0, sync.stdout);
    const subs = (await runCatcher(home, ['subscriptions', '--json'])).json as { version: string }[];
    assert.equal(subs[0]?.version, '0');
  });

  it('unsubscribes and retires the images', async () => {
    const run = await runCatcher(home, ['unsubscribe', repo.listId, '--json']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal((run.json as { removed: boolean }).removed, true);
    assert.deepEqual((await runCatcher(home, ['subscriptions', '--json'])).json, []);
    assert.deepEqual((await runCatcher(home, ['images', '--json'])).json, []);
  });
});
