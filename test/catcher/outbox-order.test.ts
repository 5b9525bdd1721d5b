import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { listEvents, type StoredEvent } from '../../src/catcher/store/outbox.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { makeGrid } from '../helpers/grid.js';
import { labels, recordingHook, type RecordingHook } from '../helpers/hook.js';
import { Repo } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 12, section 4: a failing event stopped its backend's whole queue, so one list's
 * image held back every other list's images for the hours of its retries. Now it holds back
 * only its own subscription's later events (docs/operations.md, "Event outbox").
 */
describe('event outbox order with one failing subscription', () => {
  let repoA: Repo;
  let repoB: Repo;
  let catcher: Catcher;
  let hook: RecordingHook;
  const names = new Map<string, string>();
  let seen = 0;

  const add = (repo: Repo, name: string) => names.set(repo.add(`image ${name}`).identifier, name);
  const label = (e: StoredEvent) => (e.identifier === null ? e.type : `${e.type}:${names.get(e.identifier)}`);
  const ofA = (e: StoredEvent) => e.env['VMCATCHER_EVENT_IL_DC_IDENTIFIER'] === repoA.listId;
  const newRun = async () => {
    const all = await hook.events();
    const run = all.slice(seen);
    seen = all.length;
    return labels(run, names);
  };

  before(async () => {
    const grid = await makeGrid();
    repoA = await Repo.create(grid);
    repoB = await Repo.create(grid);
    hook = await recordingHook(await tempDir('vmicast-outbox-order-'));
    const home = await makeCatcherHome(grid, {
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
    add(repoA, 'a1');
    add(repoA, 'a2');
    add(repoB, 'b1');
    add(repoB, 'b2');
    repoA.publish();
    repoB.publish();
    await subscribe(catcher, openSubscription(repoA.listUrl));
    await subscribe(catcher, openSubscription(repoB.listUrl));
  });
  after(async () => {
    await catcher.close();
    await repoA.stop();
    await repoB.stop();
  });

  it("delivers B's events of the same run while A's first event fails; A's later events wait", async () => {
    await hook.failForList(repoA.listId);
    assert.equal((await syncOnce(catcher)).failures, 0);
    assert.deepEqual(await newRun(), [
      'ProcessPrefix',
      'SubscriptionImageNew:b1',
      'SubscriptionImageNew:b2',
      'AvailablePrefix:b1',
      'AvailablePostfix:b1',
      'AvailablePrefix:b2',
      'AvailablePostfix:b2',
      'ProcessPostfix',
    ]);
    const waiting = listEvents(catcher.db, `state = 'pending'`);
    assert.deepEqual(waiting.map(label), [
      'SubscriptionImageNew:a1',
      'SubscriptionImageNew:a2',
      'AvailablePrefix:a1',
      'AvailablePostfix:a1',
      'AvailablePrefix:a2',
      'AvailablePostfix:a2',
    ]);
    assert.ok(waiting.every(ofA));
    assert.deepEqual(
      waiting.map((e) => [e.attempts, e.lastError?.code ?? null]),
      [[1, 'HOOK_FAILED'], ...Array.from({ length: 5 }, () => [0, null])],
      'only the head of A was tried; the rest waits behind it',
    );
  });

  it("delivers B's events of the next run too, while A keeps failing", async () => {
    add(repoA, 'a3');
    add(repoB, 'b3');
    repoA.publish();
    repoB.publish();
    assert.equal((await syncOnce(catcher)).failures, 0);
    assert.deepEqual(await newRun(), [
      'ProcessPrefix',
      'SubscriptionImageNew:b3',
      'AvailablePrefix:b3',
      'AvailablePostfix:b3',
      'ProcessPostfix',
    ]);
    const waiting = listEvents(catcher.db, `state = 'pending'`);
    assert.ok(waiting.every(ofA));
    assert.equal(waiting.length, 9);
    assert.equal(waiting[0]?.attempts, 2, 'the head of A was retried once in this run');
    assert.ok(waiting.slice(1).every((e) => e.attempts === 0));
  });

  it("delivers A's events in order, none lost, inside the next run's bracket once the hook works", async () => {
    await hook.heal();
    assert.equal((await syncOnce(catcher)).failures, 0);
    assert.deepEqual(await newRun(), [
      'ProcessPrefix',
      'SubscriptionImageNew:a1',
      'SubscriptionImageNew:a2',
      'AvailablePrefix:a1',
      'AvailablePostfix:a1',
      'AvailablePrefix:a2',
      'AvailablePostfix:a2',
      'SubscriptionImageNew:a3',
      'AvailablePrefix:a3',
      'AvailablePostfix:a3',
      'ProcessPostfix',
    ]);
    assert.deepEqual(listEvents(catcher.db, `state != 'done'`), []);
    const delivered = listEvents(catcher.db, `type IN ('AvailablePostfix')`).map(label).sort();
    assert.deepEqual(
      delivered,
      ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'].map((n) => `AvailablePostfix:${n}`),
    );
  });
});
