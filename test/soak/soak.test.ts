import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeGrid } from '../helpers/grid.js';
import type { Fault } from '../helpers/server.js';
import { checkVisible, cliSync, listFault, makeSite, type Planned, type Site } from './runs.js';
import { assertNoEventLost, prng, Publisher, siteState, soakSize, type SiteState } from './world.js';

/**
 * Soak under faults (issue 8): many subscriptions of small images, cycles of list updates
 * with random faults (5xx, resets, stalls, wrong bytes, failing event hooks, kill -9 of the
 * `vmicatcher sync` process). Checked: every failure of a finished sync is visible (status
 * JSON, or the sync's log for a download that a retry saved); in the end the faulty site
 * equals a site that never saw a fault, every file in its backend has the listed digest, and
 * no event was lost. Reports duration and the peak RSS of the sync processes.
 */

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
      let extra = 0;
      for (let attempt = 0; attempt < 4 && !converged; attempt++, extra++) {
        const at = new Date(Date.now() + (attempt + 1) * 10 * 60_000).toISOString();
        const run = await cliSync(faulty, undefined, at);
        peakKb = Math.max(peakKb, run.peakKb);
        converged = run.status === 0 && (await sameState(faulty, reference));
      }
      const seconds = (performance.now() - started) / 1000;
      const summary =
        `soak: ${size.subscriptions} subscriptions x ${size.images} images, ${size.cycles} cycles, ` +
        `${kills} kill -9, ${hits} faults hit in ${visibleChecks} finished syncs, all visible; ` +
        `${converged ? 'converged' : 'NOT converged'} after ${extra} fault-free sync(s); ` +
        `duration ${seconds.toFixed(1)} s, peak RSS of vmicatcher sync ${(peakKb / 1024).toFixed(1)} MiB`;
      t.diagnostic(summary);
      process.stderr.write(`${summary}\n`);
      const [ours, theirs] = await Promise.all([stateOf(faulty), stateOf(reference)]);
      if (process.env['VMICAST_SOAK_DEBUG'] === '1') {
        for (const key of ['subscriptions', 'images', 'cache', 'partial', 'backend'] as const) {
          const a = new Set(ours[key]);
          const b = new Set(theirs[key]);
          process.stderr.write(`${key}: only faulty ${JSON.stringify([...a].filter((x) => !b.has(x)))}\n`);
          process.stderr.write(`${key}: only reference ${JSON.stringify([...b].filter((x) => !a.has(x)))}\n`);
        }
      }
      assert.deepEqual(ours, theirs, 'the faulty site converged to the fault-free one');
      assert.deepEqual(ours.partial, [], 'no partial file left behind');
      await assertNothingUnverified(faulty, pub);
      await assertNoEventLost(faulty.home, faulty.hook, faulty.backendDir);
      await assertNoEventLost(reference.home, reference.hook, reference.backendDir);
    } finally {
      await pub.stop();
    }
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
