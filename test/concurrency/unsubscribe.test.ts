import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SubscriptionView } from '../../src/catcher/views.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { makeCatcherHome } from '../helpers/catcher.js';
import { holdSyncLock } from '../helpers/lock.js';
import { runCatcher } from '../helpers/catcher-cli.js';
import { subscribeTo } from '../helpers/ops.js';
import { Repo } from '../helpers/repo.js';

/**
 * Regression (issue 8, found by the concurrency test): `vmicatcher unsubscribe` while the
 * daemon's cycle held the sync lock recorded the removal but failed with "another vmicatcher
 * sync is running" (exit 2), so the operator was told it had not happened. It now succeeds
 * with `removed: false`, and the running (or next) sync completes the removal.
 */
describe('unsubscribe while another sync holds the lock', () => {
  let repo: Repo;
  after(async () => {
    await repo.stop();
  });

  it('succeeds, reports the removal as pending, and the next sync completes it', async () => {
    ensureBuilt();
    repo = await Repo.create();
    repo.add('an image to retire');
    repo.publish();
    const home = await makeCatcherHome(repo.grid);
    const id = await subscribeTo(home, repo);
    assert.equal((await runCatcher(home, ['sync', '--json'])).status, 0);
    // Another process, alive, holds the lock as the daemon's cycle would.
    const holder = await holdSyncLock(home.home);
    const run = await runCatcher(home, ['unsubscribe', id, '--json']);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.deepEqual(run.json, { ok: true, id, removed: false, failures: 0 });
    const pending = (await runCatcher(home, ['subscriptions', '--json'])).json as SubscriptionView[];
    assert.equal(pending[0]?.state, 'removing');
    await holder.kill();
    assert.equal((await runCatcher(home, ['sync', '--json'])).status, 0);
    assert.deepEqual((await runCatcher(home, ['subscriptions', '--json'])).json, []);
    assert.deepEqual((await runCatcher(home, ['images', '--json'])).json, []);
  });
});
