import assert from 'node:assert/strict';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { openReadOnlySource } from '../../src/catcher/ops/source.js';
import { buildStatus } from '../../src/catcher/ops/status.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce, type SyncReport } from '../../src/catcher/sync/sync.js';
import { subscriptionViews } from '../../src/catcher/views.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { listDir } from '../helpers/state.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * SPEC.md section 5, last paragraph: the lapse clock measures how long the held list has
 * not verified. It stops whenever the held list verifies again, even on a run where the
 * list server is down (issue 12 section 6): otherwise a later lapse withdraws at once.
 */

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const GRACE_HOURS = 24;

describe('the lapse clock stops whenever the held list verifies', () => {
  let repo: Repo;
  let catcher: Catcher;
  let site: string;
  let caDir: string;
  let stranger: Grid;
  let image: RepoImage;
  const t0 = Date.now();
  const at = (hours: number) => new Date(t0 + hours * HOUR);

  /** The site's trust store: the right CAs, or another grid's (a wrong trust store). */
  async function trustStore(grid: Grid): Promise<void> {
    await rm(caDir, { recursive: true, force: true });
    await cp(grid.caDir, caDir, { recursive: true });
  }

  async function health(now: Date) {
    const source = openReadOnlySource(catcher.config, () => now);
    try {
      return (await buildStatus(source, { info: null, lastCycle: null })).health;
    } finally {
      source.close();
    }
  }

  const refusal = (report: SyncReport) => report.subscriptions[0]?.code;

  before(async () => {
    // CRLs valid for longer than the time this test travels.
    const crl = { nextUpdate: new Date(t0 + 90 * DAY) };
    const grid = await makeGrid({ rootEntry: { crl }, intermediateEntry: { crl } });
    stranger = await makeGrid({
      root: { subject: '/DC=org/DC=elsewhere/CN=Elsewhere Root CA' },
      intermediate: { subject: '/DC=org/DC=elsewhere/CN=Elsewhere Issuing CA' },
      rootEntry: { crl },
      intermediateEntry: { crl },
    });
    repo = await Repo.create(grid);
    const home = await tempDir('vmicast-lapse-');
    site = join(home, 'site');
    caDir = join(home, 'certificates');
    await trustStore(grid);
    catcher = await (
      await makeCatcherHome(grid, {
        caDir,
        graceHours: GRACE_HOURS,
        backends: [{ type: 'directory', name: 'site', path: site }],
      })
    ).open();
    image = repo.add('an image whose endorsement is checked at every run');
    repo.publish({ expires: new Date(t0 + 20 * DAY) });
    await subscribe(catcher, openSubscription(repo.listUrl, at(0)));
    assert.equal((await syncOnce(catcher, { now: at(0) })).failures, 0);
    assert.ok((await listDir(site)).includes(image.identifier));
  });
  after(async () => {
    await catcher.close();
    await repo.stop();
  });

  it('starts the clock on a run where the held list does not verify (wrong trust store)', async () => {
    await trustStore(stranger);
    const report = await syncOnce(catcher, { now: at(1) });
    assert.equal(report.subscriptions[0]?.status, 'refused');
    assert.equal(subscriptionViews(catcher.db)[0]?.lapsedSince, at(1).toISOString());
    assert.ok((await listDir(site)).includes(image.identifier), 'kept within the grace period');
  });

  it('stops the clock on a run where the held list verifies again, though the server is down', async () => {
    await trustStore(repo.grid);
    repo.server.fault('/list.smime', { kind: 'status', status: 503 });
    const report = await syncOnce(catcher, { now: at(2) });
    assert.equal(refusal(report), 'HTTP_STATUS');
    assert.equal(subscriptionViews(catcher.db)[0]?.lapsedSince, null, 'the clock stopped');
    const probe = await health(at(2));
    assert.ok(
      !probe.problems.some((p) => p.text.includes('being withdrawn')),
      JSON.stringify(probe.problems),
    );
    assert.notEqual(probe.status, 'CRITICAL', probe.summary);
    assert.ok((await listDir(site)).includes(image.identifier));
  });

  it('withdraws after a later lapse only once the full grace period has passed', async () => {
    // A day after the first lapse began: a clock left running would withdraw at once.
    await trustStore(stranger);
    await syncOnce(catcher, { now: at(26) });
    assert.ok((await listDir(site)).includes(image.identifier), 'a new grace period began');
    assert.equal(subscriptionViews(catcher.db)[0]?.lapsedSince, at(26).toISOString());
    assert.ok((await listDir(catcher.cache.cacheDir)).includes(image.identifier));
    await syncOnce(catcher, { now: at(26 + GRACE_HOURS - 1) });
    assert.ok((await listDir(site)).includes(image.identifier), 'still within the grace period');
    await syncOnce(catcher, { now: at(26 + GRACE_HOURS + 1) });
    assert.ok(!(await listDir(site)).includes(image.identifier), 'withdrawn after the grace period');
    assert.ok(!(await listDir(catcher.cache.cacheDir)).includes(image.identifier));
  });

  it('brings withdrawn images back when the held list verifies again, server down or not', async () => {
    await trustStore(repo.grid);
    repo.server.fault('/list.smime', { kind: 'status', status: 503 });
    const report = await syncOnce(catcher, { now: at(26 + GRACE_HOURS + 2) });
    assert.equal(refusal(report), 'HTTP_STATUS');
    assert.equal(subscriptionViews(catcher.db)[0]?.lapsedSince, null);
    assert.ok((await listDir(site)).includes(image.identifier), 'delivered again');
  });
});
