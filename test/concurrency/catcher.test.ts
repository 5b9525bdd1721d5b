import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { databasePath } from '../../src/catcher/catcher.js';
import { resolveConfig } from '../../src/catcher/config.js';
import type { ImageView, SubscriptionView } from '../../src/catcher/views.js';
import { openSqlite } from '../../src/shared/db.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { CATCHER, runCatcher, type CatcherRun } from '../helpers/catcher-cli.js';
import { makeGrid } from '../helpers/grid.js';
import { subscribeTo } from '../helpers/ops.js';
import { tempDir } from '../helpers/tmp.js';
import { Simulator } from '../conformance/simulator.js';
import { assertNoEventLost, lightHook } from '../soak/world.js';

/**
 * Concurrency (issue 8): the daemon cycling every second, manual `vmicatcher sync` runs,
 * `subscribe`, `unsubscribe` and list updates all at once. Nothing deadlocks (everything
 * ends within its deadline), no process fails other than a manual sync refused because
 * another holds the sync lock (with that clear message), the database stays intact, and
 * in the end the site holds exactly the current images, all events delivered.
 */

const LOCK_BUSY = /^another vmicatcher sync is running( \(pid \d+\))?$/;
const DEADLINE_MS = 240_000;

interface Daemon {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function startDaemon(home: TestCatcher): Daemon {
  ensureBuilt();
  const child = spawn(process.execPath, [CATCHER, '--home', home.home, '--config', home.configPath, 'run'], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let pending = '';
  child.stdout.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts)
      if (part.startsWith('{')) lines.push(JSON.parse(part) as Record<string, unknown>);
  });
  child.stderr.resume();
  return { child, lines, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A run that succeeded, or a manual sync refused because another holds the lock. */
function assertOkOrBusy(run: CatcherRun, what: string): 'ok' | 'busy' {
  if (run.status === 0) return 'ok';
  const json = run.json as { code?: string; message?: string } | undefined;
  assert.equal(run.status, 2, `${what} failed: ${run.stdout}${run.stderr}`);
  assert.equal(json?.code, 'USAGE', `${what}: ${run.stdout}`);
  assert.match(json.message ?? '', LOCK_BUSY);
  return 'busy';
}

describe('concurrency: daemon, manual syncs, subscribe and unsubscribe at once', () => {
  const sims: Simulator[] = [];
  const daemons: Daemon[] = [];
  after(async () => {
    for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    for (const s of sims) await s.stop();
  });

  it('no deadlock, no corruption, no lost event', async () => {
    const grid = await makeGrid();
    const [kept, leaving, joining] = await Promise.all([0, 1, 2].map(() => Simulator.create(grid)));
    assert.ok(kept && leaving && joining);
    sims.push(kept, leaving, joining);
    for (const [i, sim] of [kept, leaving, joining].entries()) {
      for (let j = 0; j < 3; j++) sim.add(`concurrency image ${i}.${j}`);
      sim.publish();
    }
    const dir = await tempDir('vmicast-concurrency-');
    const hook = await lightHook(join(dir, 'hook'));
    const backendDir = join(dir, 'images');
    const home = await makeCatcherHome(grid, {
      schedule: '* * * * * *',
      status: { listen: '127.0.0.1:0', tokenFile: null },
      backends: [
        { type: 'exec', name: 'hook', command: hook.command, timeoutSeconds: 20, retryBackoffSeconds: 0 },
        { type: 'directory', name: 'site', path: backendDir },
      ],
    });
    await subscribeTo(home, kept.repo);
    await subscribeTo(home, leaving.repo);

    const daemon = startDaemon(home);
    daemons.push(daemon);
    await until('the first daemon cycle', () => daemon.lines.find((l) => l['msg'] === 'cycle finished'));

    const manual = async () => {
      const outcomes: string[] = [];
      for (let round = 0; round < 3; round++)
        outcomes.push(assertOkOrBusy(await runCatcher(home, ['sync', '--json']), 'sync'));
      return outcomes;
    };
    const publisher = async () => {
      for (let round = 0; round < 3; round++) {
        const victim = kept.repo.images[round % kept.repo.images.length];
        assert.ok(victim);
        kept.repo.replace(
          victim.identifier,
          kept.repo.image(`replaced ${round}`, { identifier: victim.identifier, version: String(round + 2) }),
        );
        kept.publish();
        await new Promise((resolve) => setTimeout(resolve, 700));
      }
    };
    const storm = Promise.all([
      manual(),
      manual(),
      publisher(),
      runCatcher(home, ['subscribe', joining.url, ...joining.endorser, '--json']),
      runCatcher(home, ['unsubscribe', leaving.listId, '--json']),
    ]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('deadlock: the storm did not end')), DEADLINE_MS);
    });
    const [a, b, , subscribed, unsubscribed] = await Promise.race([storm, timeout]).finally(() =>
      clearTimeout(timer),
    );
    const busy = [...a, ...b].filter((o) => o === 'busy').length;
    process.stderr.write(`concurrency: ${busy} of 6 manual syncs met a running cycle (lock busy)\n`);
    assert.equal(subscribed.status, 0, subscribed.stdout + subscribed.stderr);
    // Never refused for the lock: the removal is recorded and the daemon completes it.
    assert.equal(unsubscribed.status, 0, unsubscribed.stdout + unsubscribed.stderr);

    // The daemon finishes the removal if the unsubscribe met a running cycle; then it stops cleanly.
    await until('the daemon to settle', () => {
      const finished = daemon.lines.filter((l) => l['msg'] === 'cycle finished');
      return finished.length >= 3 ? true : undefined;
    });
    daemon.child.kill('SIGTERM');
    assert.equal(await daemon.exited, 0);
    assert.deepEqual(
      daemon.lines.filter((l) => l['msg'] === 'cycle failed' || (l['level'] as number) >= 50),
      [],
      'the daemon logged no failed cycle or error',
    );
    for (let i = 0; i < 2; i++) assert.equal((await runCatcher(home, ['sync', '--json'])).status, 0);

    const db = openSqlite(databasePath(resolveConfig(home.raw, home.home, {})), { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
    const subs = (await runCatcher(home, ['subscriptions', '--json'])).json as SubscriptionView[];
    assert.deepEqual(subs.map((s) => s.id).sort(), [kept.listId, joining.listId].sort());
    const images = (await runCatcher(home, ['images', '--json'])).json as ImageView[];
    const current = [...kept.repo.images, ...joining.repo.images];
    assert.deepEqual(
      images
        .filter((i) => i.state === 'delivered')
        .map((i) => `${i.id} ${i.sha512}`)
        .sort(),
      current.map((i) => `${i.identifier} ${i.entry['sl:checksum:sha512'] as string}`).sort(),
    );
    // Nothing unverified was delivered: every backend file is the listed image, as its sidecar says.
    const listed = new Map(current.map((i) => [i.identifier, i.entry['sl:checksum:sha512'] as string]));
    const held = (await readdir(backendDir)).filter((n) => !n.endsWith('.json')).sort();
    assert.deepEqual(held, [...listed.keys()].sort(), 'backend content');
    for (const name of held) {
      const digest = createHash('sha512')
        .update(await readFile(join(backendDir, name)))
        .digest('hex');
      const sidecar = JSON.parse(await readFile(join(backendDir, `${name}.json`), 'utf8')) as {
        sha512: string;
      };
      assert.equal(digest, listed.get(name));
      assert.equal(sidecar.sha512, digest);
    }
    await assertNoEventLost(home, hook, backendDir);
  });
});
