import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { hookValue, MAX_HOOK_VALUE_BYTES } from '../../src/catcher/events/environment.js';
import { runHook } from '../../src/catcher/events/hook.js';
import { silentLogger } from '../../src/shared/log.js';
import { listEvents } from '../../src/catcher/store/outbox.js';
import { instancesInState, instancesOfImage } from '../../src/catcher/store/instances.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { labels, recordingHook, type RecordingHook } from '../helpers/hook.js';
import { Repo, sha512Of, type RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 12, section 4: list strings reach the hook environment. A NUL made the spawn fail
 * on every retry (and stopped the backend's queue for hours); control characters reach the
 * shell variables of handlers; a string longer than the kernel's limit for one environment
 * entry (128 KiB) made the exec fail the same way. Each value is made safe in one place.
 */
describe('hook environment values from the list', () => {
  let repo: Repo;
  let catcher: Catcher;
  let hook: RecordingHook;
  let plain: RepoImage;
  let hostile: RepoImage;
  let long: RepoImage;
  const names = new Map<string, string>();
  const title = 'evil\u0000title\r\nrm -rf /\u001b[31m red\u007f\u0085\u009b end\ttab';
  const description = 'line one\nline two\u0000three';
  const longDescription = `long ${'x'.repeat(200 * 1024)}`;

  before(async () => {
    repo = await Repo.create();
    hook = await recordingHook(await tempDir('vmicast-hook-env-'));
    const home = await makeCatcherHome(repo.grid, {
      backends: [
        {
          type: 'exec',
          name: 'glancepush',
          command: hook.command,
          timeoutSeconds: 10,
          retryBackoffSeconds: 0,
        },
      ],
    });
    catcher = await home.open();
    plain = repo.add('a plain image');
    hostile = repo.add('an image with a hostile title', {
      extra: { 'dc:title': title, 'dc:description': description, 'sl:comments': '\u0000\u0001' },
    });
    // No control character at all, only longer than one environment entry may be.
    long = repo.add('an image with a long description', { extra: { 'dc:description': longDescription } });
    names.set(plain.identifier, 'plain').set(hostile.identifier, 'hostile').set(long.identifier, 'long');
    repo.publish({ vo: 'vo.example.org' });
    await subscribe(catcher, openSubscription(repo.listUrl));
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('runs the hook with sanitized values and leaves no event behind', async () => {
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    assert.deepEqual(
      listEvents(catcher.db, `state != 'done'`).map((e) => `${e.type} ${e.lastError?.message ?? ''}`),
      [],
      'no event is stuck in the outbox',
    );
    const events = await hook.events();
    assert.deepEqual(labels(events, names), [
      'ProcessPrefix',
      'SubscriptionImageNew:plain',
      'SubscriptionImageNew:hostile',
      'SubscriptionImageNew:long',
      'AvailablePrefix:plain',
      'AvailablePostfix:plain',
      'AvailablePrefix:hostile',
      'AvailablePostfix:hostile',
      'AvailablePrefix:long',
      'AvailablePostfix:long',
      'ProcessPostfix',
    ]);
    const env = events.find(
      (e) => e.type === 'AvailablePostfix' && e.env['VMCATCHER_EVENT_DC_IDENTIFIER'] === hostile.identifier,
    )?.env;
    assert.ok(env);
    // Every control character but TAB becomes one space; printable text is kept as it was.
    assert.equal(env['VMCATCHER_EVENT_DC_TITLE'], 'evil title  rm -rf / [31m red    end\ttab');
    assert.equal(env['VMCATCHER_EVENT_DC_DESCRIPTION'], 'line one line two three');
    assert.equal(env['VMCATCHER_EVENT_SL_COMMENTS'], '  ');
    for (const value of Object.values(env))
      assert.doesNotMatch(value, /(?!\t)\p{Cc}/u, 'no control character but TAB');
    const longEnv = events.find(
      (e) => e.type === 'AvailablePostfix' && e.env['VMCATCHER_EVENT_DC_IDENTIFIER'] === long.identifier,
    )?.env;
    const received = longEnv?.['VMCATCHER_EVENT_DC_DESCRIPTION'] ?? '';
    assert.equal(received, longDescription.slice(0, 16 * 1024), 'cut to the documented length');
  });

  it('changes nothing else: the image is cached with its listed bytes and metadata', async () => {
    const rows = instancesOfImage(catcher.db, hostile.identifier);
    const [row] = rows;
    assert.ok(row !== undefined && rows.length === 1);
    assert.equal(row.state, 'cached');
    assert.equal(row.entry['dc:title'], title, 'the store keeps the signed value');
    assert.equal(row.entry['dc:description'], description);
    for (const image of [plain, hostile, long]) {
      const bytes = await readFile(catcher.cache.cached(image.identifier));
      assert.equal(sha512Of(bytes), image.entry['sl:checksum:sha512']);
    }
    assert.equal(instancesInState(catcher.db, 'cached').length, 3);
  });
});

describe('hookValue', () => {
  it('cuts a long value at a character boundary', () => {
    const value = hookValue('é'.repeat(MAX_HOOK_VALUE_BYTES));
    assert.ok(Buffer.byteLength(value) <= MAX_HOOK_VALUE_BYTES);
    assert.ok(Buffer.byteLength(value) > MAX_HOOK_VALUE_BYTES - 2);
    assert.match(value, /^é+$/);
  });

  it('keeps TAB and printable text, including non-ASCII', () => {
    assert.equal(hookValue('Ubuntu\t22.04 – über'), 'Ubuntu\t22.04 – über');
  });

  it('makes an outbox row written before the fix safe when the hook runs', async () => {
    const dir = await tempDir('vmicast-hook-legacy-');
    const out = join(dir, 'title');
    await runHook({
      command: `printf %s "$VMCATCHER_EVENT_DC_TITLE" > ${out}`,
      env: { VMCATCHER_EVENT_DC_TITLE: 'old\u0000row\nhere' },
      timeoutMs: 10_000,
      log: silentLogger(),
    });
    assert.equal(await readFile(out, 'utf8'), 'old row here');
  });
});
