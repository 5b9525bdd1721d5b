import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SiteStatus } from '../../src/catcher/ops/status.js';
import { listEvents } from '../../src/catcher/store/events.js';
import { subscribe } from '../../src/catcher/subscribe.js';
import { syncOnce } from '../../src/catcher/sync.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { CATCHER, runCatcher } from '../helpers/catcher-cli.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import type { Fault } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import {
  lightHook,
  prng,
  Publisher,
  siteState,
  soakSize,
  type LightHook,
  type SiteState,
  type SoakList,
} from './world.js';

/**
 * Soak under faults (issue 8): many subscriptions of small images, cycles of list updates
 * with random faults (5xx, resets, stalls, wrong bytes, failing event hooks, kill -9 of the
 * `vmicatcher sync` process). Checked: every failure of a finished sync is visible (status
 * JSON, or the sync's log for a download that a retry saved); in the end the faulty site
 * equals a site that never saw a fault, every file in its backend has the listed digest, and
 * no event was lost. Reports duration and the peak RSS of the sync processes.
 */

interface Site {
  home: TestCatcher;
  backendDir: string;
  hook: LightHook;
}

async function makeSite(grid: Grid, name: string): Promise<Site> {
  const dir = await tempDir(`vmicast-soak-${name}-`);
  const hook = await lightHook(join(dir, 'hook'));
  const backendDir = join(dir, 'images');
  const home = await makeCatcherHome(grid, {
    lists: { timeoutSeconds: 4 },
    downloads: { attempts: 8, parallel: 8, perHost: 4 },
    backends: [
      {
        type: 'exec',
        name: 'hook',
        command: hook.command,
        timeoutSeconds: 20,
        retryBackoffSeconds: 0,
        maxAttempts: 100,
      },
      { type: 'directory', name: 'site', path: backendDir },
    ],
  });
  return { home, backendDir, hook };
}

interface SyncRun {
  status: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
  peakKb: number;
}

/**
 * `vmicatcher sync --json` as a child process, its peak RSS read from /proc. With `killAfter`
 * it gets kill -9 right after it has written that many log records (so, in the middle of its
 * work: lists accepted, downloads verified, events run).
 */
function cliSync(site: Site, killAfter?: number, at?: string): Promise<SyncRun> {
  ensureBuilt();
  const args = [CATCHER, '--home', site.home.home, '--config', site.home.configPath, 'sync', '--json'];
  const child = spawn(process.execPath, [...args, ...(at === undefined ? [] : ['--at', at])], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let peakKb = 0;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    if (killAfter !== undefined && stderr.split('\n').length > killAfter) child.kill('SIGKILL');
  });
  const sample = () => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid ?? 0}/status`, 'utf8'));
      if (hwm !== null) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // the process is gone
    }
  };
  const poll = setInterval(sample, 50);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearInterval(poll);
      child.on('close', () => resolve({ status, killed: signal === 'SIGKILL', stdout, stderr, peakKb }));
    });
  });
}

interface Planned {
  lists: SoakList[];
  images: { list: SoakList; id: string; path: string }[];
  hookType: string | undefined;
  killAfter: number | undefined;
}

/**
 * Faults for list URLs. Resets and stalls are left to image URLs: the test server answers a
 * conditional request with 304 before it applies those two, so on a list they would not fire.
 */
function listFault(list: SoakList, random: () => number): Fault {
  const choice = Math.floor(random() * 3);
  if (choice < 2) return { kind: 'status', status: choice === 0 ? 500 : 503 };
  const body = new Uint8Array(list.server.files.get(list.path)?.body ?? new Uint8Array());
  const at = Math.floor(body.length / 2);
  body[at] = (body[at] ?? 0) ^ 0x20; // wrong bytes: a changed list
  return { kind: 'body', bytes: body };
}

describe('soak under faults (issue 8)', () => {
  const size = soakSize();

  it(`${size.subscriptions} subscriptions x ${size.images} images, ${size.cycles} cycles, faults and kill -9`, async (t) => {
    const started = performance.now();
    const random = prng(size.seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const grid = await makeGrid();
    const pub = await Publisher.create(grid, size);
    const faulty = await makeSite(grid, 'faulty');
    const reference = await makeSite(grid, 'reference');
    let peakKb = 0;
    let kills = 0;
    let visibleChecks = 0;
    let hits = 0;
    try {
      for (const site of [faulty, reference]) {
        const catcher = await site.home.open();
        for (const list of pub.lists) {
          await subscribe(catcher, {
            url: pub.url(list),
            endorser: { dn: grid.publisher.subject, ca: grid.intermediate.subject },
            autoEndorse: false,
            vo: undefined,
            requireVoms: false,
            fqan: undefined,
            newImages: 'subscribe',
            username: undefined,
            password: undefined,
            trust: {},
            now: new Date(),
          });
        }
        await catcher.close();
      }

      for (let cycle = 0; cycle < size.cycles; cycle++) {
        // New versions for about a fifth of the lists (every list on the first cycle is new).
        const changed = new Map<string, string[]>();
        if (cycle > 0) {
          for (const list of pub.lists) {
            if (random() < 0.2)
              changed.set(
                list.id,
                pub.change(list, random).map((i) => i.path),
              );
          }
        }
        const plan: Planned = { lists: [], images: [], hookType: undefined, killAfter: undefined };
        for (let k = 0; k < Math.max(1, Math.round(size.subscriptions / 10)); k++) {
          const list = pick(pub.lists);
          if (plan.lists.includes(list)) continue;
          plan.lists.push(list);
          list.server.fault(list.path, listFault(list, random));
        }
        const downloads = pub.lists.flatMap((list) =>
          (cycle === 0 ? list.images.map((i) => i.path) : (changed.get(list.id) ?? [])).map((path) => ({
            list,
            path,
            id: list.images.find((i) => i.path === path)?.identifier ?? '',
          })),
        );
        for (let k = 0; k < Math.min(downloads.length, Math.max(2, Math.round(downloads.length / 8))); k++) {
          const target = pick(downloads);
          if (plan.images.includes(target) || plan.lists.includes(target.list)) continue;
          plan.images.push(target);
          const bytes = target.list.images.find((i) => i.path === target.path)?.bytes ?? new Uint8Array();
          const wrong = new Uint8Array(bytes).map((b) => b ^ 0x5a);
          const faults: Fault[] = [
            { kind: 'status', status: 503 },
            { kind: 'reset', afterBytes: 300 },
            { kind: 'stall', afterBytes: 200 },
            { kind: 'body', bytes: wrong },
          ];
          target.list.server.fault(target.path, pick(faults));
        }
        if (cycle === 1 || random() < 0.3) {
          plan.hookType = pick(['AvailablePrefix', 'AvailablePostfix', 'ExpirePrefix', 'ProcessPostfix']);
          await faulty.hook.fail(plan.hookType);
        }
        // kill -9 somewhere inside the run: after its first few log records.
        if (cycle === 2 || (cycle > 0 && random() < 0.3)) plan.killAfter = 1 + Math.floor(random() * 4);

        const run = await cliSync(faulty, plan.killAfter);
        if (process.env['VMICAST_SOAK_DEBUG'] === '1')
          process.stderr.write(
            `cycle ${cycle}: kill ${plan.killAfter} -> ${run.killed} status ${run.status}\n`,
          );
        peakKb = Math.max(peakKb, run.peakKb);
        if (run.killed) kills++;
        else {
          hits += await checkVisible(faulty, run, plan);
          visibleChecks++;
        }
        pub.clearFaults();
        await faulty.hook.heal();
        const ref = await reference.home.open();
        try {
          await syncOnce(ref);
        } finally {
          await ref.close();
        }
      }

      // Convergence: fault-free runs of the faulty site until it matches the reference.
      let converged = false;
      for (let attempt = 0; attempt < 4 && !converged; attempt++) {
        const at = new Date(Date.now() + (attempt + 1) * 10 * 60_000).toISOString();
        const run = await cliSync(faulty, undefined, at);
        peakKb = Math.max(peakKb, run.peakKb);
        converged = run.status === 0 && (await sameState(faulty, reference));
      }
      const [ours, theirs] = await Promise.all([stateOf(faulty), stateOf(reference)]);
      if (process.env['VMICAST_SOAK_DEBUG'] === '1') {
        for (const key of ['subscriptions', 'images', 'cache', 'backend'] as const) {
          const a = new Set(ours[key]);
          const b = new Set(theirs[key]);
          process.stderr.write(`${key}: only faulty ${JSON.stringify([...a].filter((x) => !b.has(x)))}\n`);
          process.stderr.write(`${key}: only reference ${JSON.stringify([...b].filter((x) => !a.has(x)))}\n`);
        }
      }
      assert.deepEqual(ours, theirs, 'the faulty site converged to the fault-free one');
      await assertNothingUnverified(faulty, pub);
      await assertNoEventLost(faulty);
      await assertNoEventLost(reference);
    } finally {
      await pub.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    const summary =
      `soak: ${size.subscriptions} subscriptions x ${size.images} images, ${size.cycles} cycles, ` +
      `${kills} kill -9, ${hits} faults hit in ${visibleChecks} finished syncs, all visible; ` +
      `duration ${seconds.toFixed(1)} s, peak RSS of vmicatcher sync ${(peakKb / 1024).toFixed(1)} MiB`;
    t.diagnostic(summary);
    process.stderr.write(`${summary}\n`);
    assert.ok(peakKb > 0, 'the peak RSS was measured');
    if (size.cycles >= 3) {
      assert.ok(kills > 0, 'a sync was killed');
      assert.ok(hits > 0, 'injected faults were hit');
    }
  });
});

async function stateOf(site: Site): Promise<SiteState> {
  const catcher = await site.home.open();
  try {
    return await siteState(catcher, site.backendDir);
  } finally {
    await catcher.close();
  }
}

async function sameState(a: Site, b: Site): Promise<boolean> {
  return JSON.stringify(await stateOf(a)) === JSON.stringify(await stateOf(b));
}

/** Log records of a run (pino JSON lines on stderr). */
function records(run: SyncRun): Record<string, unknown>[] {
  return run.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** After a sync that finished: each injected fault that was hit shows in status or in its log. */
async function checkVisible(site: Site, run: SyncRun, plan: Planned): Promise<number> {
  const status = (await runCatcher(site.home, ['status', '--json'])).json as SiteStatus;
  const logged = records(run);
  let hit = 0;
  for (const list of plan.lists) {
    if ((list.server.faults.get(list.path) ?? []).length > 0) continue; // never requested
    hit++;
    const sub = status.subscriptions.find((s) => s.id === list.id);
    assert.ok(
      sub !== undefined && sub.lastError !== null,
      `the refused list ${list.id} shows no error in status`,
    );
  }
  for (const image of plan.images) {
    if ((image.list.server.faults.get(image.path) ?? []).length > 0) continue;
    hit++;
    const inLog = logged.some((r) => r['msg'] === 'download failed' && r['image'] === image.id);
    const view = status.images.find((i) => i.id === image.id);
    assert.ok(
      inLog || (view !== undefined && view.lastError !== null),
      `the failed download of ${image.id} is invisible`,
    );
  }
  const hookFailed = logged.some((r) => r['msg'] === 'event hook failed' && r['event'] === plan.hookType);
  if (hookFailed) {
    hit++;
    const outbox = status.backends.find((b) => b.name === 'hook')?.outbox;
    assert.ok(
      outbox !== undefined && outbox !== null && outbox.lastError !== null,
      'the failed hook is not in status',
    );
  }
  return hit;
}

/** Every file in the backend has the digest its sidecar names, and that is the listed digest. */
async function assertNothingUnverified(site: Site, pub: Publisher): Promise<void> {
  const listed = new Map(pub.lists.flatMap((l) => l.images.map((i) => [i.identifier, i.sha512] as const)));
  const names = (await readdir(site.backendDir)).filter((n) => !n.endsWith('.json'));
  assert.equal(names.length, listed.size, 'the backend holds every listed image');
  for (const name of names) {
    const digest = createHash('sha512')
      .update(await readFile(join(site.backendDir, name)))
      .digest('hex');
    const sidecar = JSON.parse(await readFile(join(site.backendDir, `${name}.json`), 'utf8')) as {
      sha512: string;
    };
    assert.equal(digest, sidecar.sha512, `${name} differs from its sidecar`);
    assert.equal(digest, listed.get(name), `${name} is not the listed image`);
  }
}

/**
 * No event was lost: the outbox is empty, every transition recorded reached the hook, every
 * cached image was announced available, and every announced image no longer cached was
 * announced expired.
 */
async function assertNoEventLost(site: Site): Promise<void> {
  const catcher = await site.home.open();
  try {
    assert.deepEqual(
      listEvents(catcher.db, `state != 'done'`).map((e) => `${e.type} ${e.identifier ?? ''}`),
      [],
      'events still pending or failed',
    );
    const label = (type: string, id: string | null, env: Record<string, string>) =>
      `${type} ${id ?? ''} ${env['VMCATCHER_EVENT_SL_CHECKSUM_SHA512'] ?? ''}`;
    const recorded = listEvents(catcher.db, `type IN ('AvailablePostfix', 'ExpirePostfix')`);
    const seen = await site.hook.seen();
    for (const e of recorded) {
      assert.ok(
        seen.has(label(e.type, e.identifier, e.env)),
        `the hook never saw ${e.type} ${e.identifier ?? ''}`,
      );
    }
    const cached = new Set(
      (await siteState(catcher, site.backendDir)).cache.map((line) => {
        const [id, sha] = line.split(' ');
        return `${id ?? ''} ${sha ?? ''}`;
      }),
    );
    const last = new Map<string, string>();
    for (const e of recorded) {
      last.set(`${e.identifier ?? ''} ${e.env['VMCATCHER_EVENT_SL_CHECKSUM_SHA512'] ?? ''}`, e.type);
    }
    for (const key of cached)
      assert.equal(last.get(key), 'AvailablePostfix', `cached ${key} was not announced`);
    for (const [key, type] of last) {
      if (!cached.has(key)) assert.equal(type, 'ExpirePostfix', `${key} left the cache unannounced`);
    }
  } finally {
    await catcher.close();
  }
}
