import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { acquireSyncLock, LockBusyError } from '../../src/catcher/sync/lock.js';
import { holdSyncLock, LockHolder, syncLockFree } from '../helpers/lock.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The sync lock (issue 12): the kernel releases it when its holder dies, so there is no pid
 * file to judge. Two processes racing for it never both win (the pid-file lock let two
 * racers each remove a stale lock and each take it), a holder killed with kill -9 gives it
 * up, and one process cannot hold it twice.
 */
const BUSY = /^busy another vmicatcher sync is running( \(pid \d+\))?$/;
const ROUNDS = 40;

describe('sync lock', () => {
  const holders: LockHolder[] = [];
  after(async () => {
    for (const h of holders) await h.kill();
  });

  it('cannot be taken twice by the same process at once, and is free again after release', async () => {
    const home = await tempDir('vmicast-lock-');
    const first = await acquireSyncLock(home);
    await assert.rejects(acquireSyncLock(home), (err: unknown) => {
      assert.ok(err instanceof LockBusyError);
      assert.equal(err.code, 'USAGE');
      assert.match(err.message, /^another vmicatcher sync is running/);
      assert.equal(err.pid, process.pid, 'the kernel names this process as the holder');
      return true;
    });
    await first.release();
    await first.release(); // twice is harmless
    const again = await acquireSyncLock(home);
    await again.release();
  });

  it('is refused at once while another process holds it, naming that process', async () => {
    const home = await tempDir('vmicast-lock-');
    const holder = await holdSyncLock(home);
    holders.push(holder);
    const t0 = performance.now();
    await assert.rejects(acquireSyncLock(home), (err: unknown) => {
      assert.ok(err instanceof LockBusyError);
      assert.equal(err.message, `another vmicatcher sync is running (pid ${holder.pid})`);
      return true;
    });
    assert.ok(performance.now() - t0 < 1000, 'a busy lock answers without waiting');
    await holder.release();
    assert.equal(await syncLockFree(home), true);
    await holder.kill();
  });

  it('is given up by a holder killed with kill -9', async () => {
    const home = await tempDir('vmicast-lock-');
    const holder = await holdSyncLock(home);
    holders.push(holder);
    assert.equal(await syncLockFree(home), false);
    await holder.kill('SIGKILL');
    assert.equal(await syncLockFree(home), true);
  });

  it(`has exactly one winner in each of ${ROUNDS} rounds of three processes racing`, async () => {
    const home = await tempDir('vmicast-lock-');
    const racers = [0, 1, 2].map(() => LockHolder.start(home));
    holders.push(...racers);
    // Warm up: each racer has loaded its modules before the first race.
    for (const r of racers) {
      assert.equal(await r.take(), 'won');
      await r.release();
    }
    let kills = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const at = Date.now() + 150;
      const answers = await Promise.all(racers.map((r) => r.take(at)));
      const winners = racers.filter((_, i) => answers[i] === 'won');
      assert.equal(winners.length, 1, `round ${round}: ${answers.join(' | ')}`);
      for (const a of answers) if (a !== 'won') assert.match(a, BUSY, `round ${round}`);
      const winner = winners[0] as LockHolder;
      if (round % 3 === 2) {
        // The winner dies holding the lock: the next round races over what it left behind.
        await winner.kill('SIGKILL');
        const fresh = LockHolder.start(home);
        holders.push(fresh);
        await fresh.ready();
        racers[racers.indexOf(winner)] = fresh;
        kills++;
      } else await winner.release();
    }
    assert.ok(kills > 10);
  });
});
