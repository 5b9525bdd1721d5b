import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { listEvents } from '../../src/catcher/store/outbox.js';
import { makeCatcherHome, openSubscription, type TestCatcher } from '../helpers/catcher.js';
import { labels, recordingHook, type RecordingHook } from '../helpers/hook.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The exec backend runs existing vmcatcher handlers unchanged (SPEC.md section 7): event
 * types, order and variables as vmcatcher produced them; failures retried from the outbox.
 */
describe('vmcatcher-compatible events', () => {
  let repo: Repo;
  let home: TestCatcher;
  let catcher: Catcher;
  let hook: RecordingHook;
  const names = new Map<string, string>();
  let a: RepoImage;
  let b: RepoImage;
  let c: RepoImage;

  before(async () => {
    repo = await Repo.create();
    hook = await recordingHook(await tempDir('vmicast-hook-'));
    home = await makeCatcherHome(repo.grid, {
      backends: [
        {
          type: 'exec',
          name: 'glancepush',
          command: hook.command,
          timeoutSeconds: 2,
          retryBackoffSeconds: 0,
        },
      ],
    });
    catcher = await home.open();
    a = repo.add('image a', { extra: { 'sl:comments': '' } });
    b = repo.add('image b');
    c = repo.add('image c');
    names.set(a.identifier, 'a').set(b.identifier, 'b').set(c.identifier, 'c');
    repo.publish({ vo: 'vo.example.org' });
    await subscribe(catcher, openSubscription(repo.listUrl));
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('announces new images in vmcatcher order with every variable', async () => {
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    const events = await hook.events();
    assert.deepEqual(labels(events, names), [
      'ProcessPrefix',
      'SubscriptionImageNew:a',
      'SubscriptionImageNew:b',
      'SubscriptionImageNew:c',
      'AvailablePrefix:a',
      'AvailablePostfix:a',
      'AvailablePrefix:b',
      'AvailablePostfix:b',
      'AvailablePrefix:c',
      'AvailablePostfix:c',
      'ProcessPostfix',
    ]);
    const post = events.find(
      (e) => e.type === 'AvailablePostfix' && e.env['VMCATCHER_EVENT_DC_IDENTIFIER'] === a.identifier,
    );
    assert.ok(post);
    const env = post.env;
    assert.equal(env['VMCATCHER_EVENT_FILENAME'], a.identifier);
    assert.equal(env['VMCATCHER_EVENT_IL_DC_IDENTIFIER'], repo.listId);
    assert.equal(env['VMCATCHER_EVENT_VO'], 'vo.example.org');
    assert.equal(env['VMCATCHER_EVENT_HV_URI'], a.entry['hv:uri']);
    assert.equal(env['VMCATCHER_EVENT_HV_SIZE'], String(a.bytes.length));
    assert.equal(env['VMCATCHER_EVENT_SL_CHECKSUM_SHA512'], a.entry['sl:checksum:sha512']);
    for (const key of [
      'DC_TITLE',
      'DC_DESCRIPTION',
      'HV_HYPERVISOR',
      'HV_VERSION',
      'HV_FORMAT',
      'SL_ARCH',
      'SL_OS',
      'SL_OSVERSION',
    ]) {
      assert.ok((env[`VMCATCHER_EVENT_${key}`] ?? '') !== '', key);
    }
    assert.equal(env['VMCATCHER_EVENT_SL_COMMENTS'], undefined, 'empty values are not set');
    assert.equal(env['VMCATCHER_CACHE_DIR_CACHE'], catcher.cache.cacheDir);
    assert.equal(env['VMCATCHER_CACHE_DIR_DOWNLOAD'], catcher.cache.partialDir);
    assert.equal(env['VMCATCHER_CACHE_DIR_EXPIRE'], catcher.cache.expiredDir);
    assert.match(env['VMCATCHER_RDBMS'] ?? '', /^sqlite:\/\/\//);
    const sessions = new Set(events.map((e) => e.env['VMCATCHER_EVENT_UUID_SESSION']));
    assert.equal(sessions.size, 1, 'one session per run');
  });

  it('shows an in-place update as Expire(old) then Available(new), a removal as Expire, a successor later', async () => {
    const seen = (await hook.events()).length;
    const a2 = repo.image('image a, version 2', { identifier: a.identifier, version: '2' });
    repo.replace(a.identifier, a2);
    repo.remove(c.identifier);
    const d = repo.image('image d supersedes b', { extra: { 'vmi:supersedes': [b.identifier] } });
    names.set(d.identifier, 'd');
    repo.remove(b.identifier);
    repo.images.push(d);
    repo.publish({ vo: 'vo.example.org' });
    assert.equal((await syncOnce(catcher)).failures, 0);
    const run2 = (await hook.events()).slice(seen);
    assert.deepEqual(labels(run2, names), [
      'ProcessPrefix',
      'SubscriptionImageNew:d',
      'ExpirePrefix:a',
      'ExpirePostfix:a',
      'ExpirePrefix:c',
      'ExpirePostfix:c',
      'AvailablePrefix:a',
      'AvailablePostfix:a',
      'AvailablePrefix:d',
      'AvailablePostfix:d',
      'ProcessPostfix',
    ]);
    const expired = run2.find((e) => e.type === 'ExpirePostfix');
    assert.match(
      expired?.env['VMCATCHER_EVENT_FILENAME'] ?? '',
      new RegExp(`^${a.identifier}\\.\\d{4}-\\d{2}-\\d{2}_\\d{2}-\\d{2}-\\d{2}$`),
    );
    assert.equal(
      expired?.env['VMCATCHER_EVENT_SL_CHECKSUM_SHA512'],
      a.entry['sl:checksum:sha512'],
      'Expire names the old bytes',
    );
    const available = run2.find(
      (e) => e.type === 'AvailablePostfix' && e.env['VMCATCHER_EVENT_DC_IDENTIFIER'] === a.identifier,
    );
    assert.equal(available?.env['VMCATCHER_EVENT_SL_CHECKSUM_SHA512'], a2.entry['sl:checksum:sha512']);
    const successor = run2.find(
      (e) => e.type === 'AvailablePostfix' && e.env['VMCATCHER_EVENT_DC_IDENTIFIER'] === d.identifier,
    );
    assert.equal(successor?.env['VMCATCHER_EVENT_VMI_SUPERSEDES'], b.identifier);
    // The superseded image goes once its successor is in place: the next run.
    assert.equal((await syncOnce(catcher)).failures, 0);
    const run3 = (await hook.events()).slice(seen + run2.length);
    assert.deepEqual(labels(run3, names), [
      'ProcessPrefix',
      'ExpirePrefix:b',
      'ExpirePostfix:b',
      'ProcessPostfix',
    ]);
  });

  for (const how of ['exit', 'sleep'] as const) {
    it(`retries a hook that ${how === 'exit' ? 'exits 1' : 'sleeps past its timeout'} on the next sync`, async () => {
      const seen = (await hook.events()).length;
      await hook.failOn('ProcessPrefix', how);
      const report = await syncOnce(catcher);
      assert.equal(report.failures, 0, 'a hook failure does not fail the cache');
      const failing = listEvents(catcher.db, `state = 'pending' AND last_error_code IS NOT NULL`);
      assert.equal(failing.length, 1);
      assert.equal(failing[0]?.lastError?.code, how === 'exit' ? 'HOOK_FAILED' : 'HOOK_TIMEOUT');
      const queued = listEvents(catcher.db, `state = 'pending'`).map((e) => e.type);
      assert.deepEqual(
        queued,
        ['ProcessPrefix', 'ProcessPostfix'],
        'later events wait behind the failed one',
      );
      assert.equal((await hook.events()).length, seen, 'nothing ran out of order');
      await hook.heal();
      await syncOnce(catcher);
      const after = (await hook.events()).slice(seen).map((e) => e.type);
      assert.deepEqual(after, ['ProcessPrefix', 'ProcessPostfix', 'ProcessPrefix', 'ProcessPostfix']);
      assert.equal(listEvents(catcher.db, `state != 'done'`).length, 0);
    });
  }

  it('keeps the hook environment free of list keys it does not know', async () => {
    const events = await hook.events();
    const keys = new Set(events.flatMap((e) => Object.keys(e.env)));
    for (const key of keys)
      assert.match(key, /^VMCATCHER_(EVENT_[A-Z0-9_]+|CACHE_DIR_(CACHE|DOWNLOAD|EXPIRE)|RDBMS)$/);
    assert.ok(join(home.home).length > 0);
  });
});
