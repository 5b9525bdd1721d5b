import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { listEvents } from '../../src/catcher/store/outbox.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome } from '../helpers/catcher.js';
import { recordingHook } from '../helpers/hook.js';
import { subscribeTo } from '../helpers/ops.js';
import { Repo } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Regression (issue 8, found by the full soak): with `retryBackoffSeconds: 0` a failing
 * event hook was retried at every event of the same run (the outbox is flushed after each
 * one), so one run with many images used up all its attempts and the events ended `failed`
 * for good. A failed event is now retried on a later run only.
 */
describe('event outbox retries', () => {
  let repo: Repo;
  after(async () => {
    await repo.stop();
  });

  it('retries a failed event once per run, never again within the same run', async () => {
    repo = await Repo.create();
    for (let i = 0; i < 6; i++) repo.add(`outbox image ${i}`);
    repo.publish();
    const hook = await recordingHook(await tempDir('vmicast-outbox-'));
    const home = await makeCatcherHome(repo.grid, {
      backends: [
        {
          type: 'exec',
          name: 'hook',
          command: hook.command,
          timeoutSeconds: 10,
          retryBackoffSeconds: 0,
          maxAttempts: 3,
        },
      ],
    });
    await subscribeTo(home, repo);
    await hook.failOn('AvailablePostfix', 'exit');
    const catcher = await home.open();
    try {
      await syncOnce(catcher);
      const stuck = listEvents(catcher.db, `state != 'done'`);
      const head = stuck.find((e) => e.type === 'AvailablePostfix');
      assert.ok(head !== undefined);
      assert.equal(head.state, 'pending', 'not given up within one run');
      assert.equal(head.attempts, 1, 'tried once in this run');
      assert.equal(head.lastError?.code, 'HOOK_FAILED');
      await hook.heal();
      await syncOnce(catcher);
      assert.deepEqual(listEvents(catcher.db, `state != 'done'`), []);
      const seen = (await hook.events()).filter((e) => e.type === 'AvailablePostfix');
      assert.equal(seen.length, 6, 'every image announced once the hook works again');
    } finally {
      await catcher.close();
    }
  });
});
