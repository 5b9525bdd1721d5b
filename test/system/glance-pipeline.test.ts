/**
 * Issue 14, "Must hold", on a real Glance, black-box: a catcher syncs (syncOnce) while
 * test/helpers/glance-watch.ts polls Glance as the admin and as the VO's project. Whatever
 * the pipeline does inside, unverified bytes must never make an active image, the VO's
 * project must never see an image before it is active with the list's SHA-512, an
 * appliance version shows all its members or none, and a cut download resumes without a
 * duplicate image.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce, type SyncReport } from '../../src/catcher/sync/sync.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { describeWithGlance } from '../helpers/glance.js';
import {
  codesFor,
  diskBytes,
  pathOf,
  serveWrongLastByte,
  sha512Of,
  verifiedAs,
} from '../helpers/glance-pipeline.js';
import { getAs, GlanceWatch, listAll } from '../helpers/glance-watch.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { imagesFor } from './glance-fixtures.js';

const VO = 'vo.example';
const VO_USER = { projectId: 'vo-project', userId: 'u', roles: ['member', 'reader'] };
const MiB = 1024 * 1024;
/** Big enough that an upload into Glance is in flight for several polls. */
const BIG = 64 * MiB;

describeWithGlance('the pipeline into a real Glance: nothing usable before it is verified', (glance) => {
  let grid: Grid;
  const opened: { repo: Repo; catcher: Catcher }[] = [];

  before(async () => {
    grid = await makeGrid();
  });
  after(async () => {
    for (const { repo, catcher } of opened) {
      await catcher.close();
      await repo.stop();
    }
  });

  /** A publisher and a catcher with its own Glance backend mapping the VO to its project. */
  async function site(backend: string): Promise<{ repo: Repo; catcher: Catcher }> {
    const repo = await Repo.create(grid);
    const home = await makeCatcherHome(grid, {
      backends: [
        { type: 'glance', name: backend, ...glance().access, projects: { [VO]: VO_USER.projectId } },
      ],
      // One attempt: a run that fails ends with the failure. A slow shared machine must not
      // trip the stall watchdog while Glance takes the upload.
      downloads: { attempts: 1, stallSeconds: 30 },
    });
    const catcher = await home.open();
    opened.push({ repo, catcher });
    return { repo, catcher };
  }

  async function firstList(repo: Repo, catcher: Catcher): Promise<void> {
    repo.publish({ vo: VO });
    await subscribe(catcher, openSubscription(repo.listUrl));
  }

  async function watchedSync(catcher: Catcher): Promise<{ report: SyncReport; watch: GlanceWatch }> {
    const watch = await GlanceWatch.start(glance().endpoint, VO_USER);
    try {
      return { report: await syncOnce(catcher), watch };
    } finally {
      await watch.stop();
    }
  }

  /** Images the VO's project can list (hidden or not) that carry `identifier` or its hash. */
  async function voSees(image: RepoImage): Promise<GlanceImage[]> {
    return (await listAll(glance().endpoint, VO_USER)).filter(
      (i) => i['vmcatcher_event_dc_identifier'] === image.identifier || i.os_hash_value === sha512Of(image),
    );
  }

  /** The VO's project holds exactly one image of `image`, active and verified (maybe hidden). */
  async function voHolds(image: RepoImage): Promise<GlanceImage> {
    const seen = await voSees(image);
    const state = JSON.stringify(seen.map((i) => [i.id, i.status, i.os_hidden, i.owner, i.visibility]));
    assert.equal(seen.length, 1, `the VO sees ${state}`);
    assert.ok(seen[0] !== undefined && verifiedAs(seen[0], sha512Of(image)), `the VO sees ${state}`);
    return seen[0];
  }

  /** ...and lists it: not hidden. */
  async function voLists(image: RepoImage): Promise<void> {
    assert.equal((await voHolds(image)).os_hidden, false, `${image.identifier} is hidden`);
  }

  it('a digest mismatch at the last byte: no active image, never visible to the VO', async (t) => {
    const { repo, catcher } = await site('mismatch');
    const image = repo.add(diskBytes(BIG, 'last byte wrong'));
    serveWrongLastByte(repo, image);
    await firstList(repo, catcher);

    const { report, watch } = await watchedSync(catcher);
    t.diagnostic(watch.summary());

    assert.ok(codesFor(report, image.identifier).includes('IMAGE_DIGEST_MISMATCH'), JSON.stringify(report));
    assert.ok(report.failures >= 1);
    const active = watch.newImages().filter((i) => i.status === 'active');
    assert.deepEqual(active, [], `an image became active during the sync: ${watch.summary()}`);
    assert.deepEqual(watch.newSeenByVo(), [], `the VO saw an image during the sync: ${watch.summary()}`);
    const labelled = await imagesFor(glance().endpoint, image.identifier);
    assert.deepEqual(
      labelled.filter((i) => i.status === 'active'),
      [],
    );
    assert.deepEqual(await voSees(image), []);
    const left = (await listAll(glance().endpoint)).filter((i) => watch.isNew(i.id));
    assert.deepEqual(
      left.map((i) => [i.id, i.status, i.os_hidden]),
      [],
      'the image of the failed download is deleted',
    );
  });

  it('a good image ends active with the list SHA-512, the VO sees it only then', async (t) => {
    const { repo, catcher } = await site('good');
    const image = repo.add(diskBytes(BIG, 'good'));
    await firstList(repo, catcher);

    const { report, watch } = await watchedSync(catcher);
    t.diagnostic(watch.summary());

    assert.equal(report.failures, 0, JSON.stringify(report));
    const early = watch.newSeenByVo().filter((i) => !verifiedAs(i, sha512Of(image)));
    assert.deepEqual(early, [], `the VO saw the image before it was verified: ${watch.summary()}`);
    const [stored, ...extra] = await imagesFor(glance().endpoint, image.identifier);
    assert.ok(stored !== undefined);
    assert.deepEqual(extra, []);
    assert.equal(stored.status, 'active');
    assert.equal(stored.os_hash_algo, 'sha512');
    assert.equal(stored.os_hash_value, sha512Of(image));
    assert.equal(stored.owner, VO_USER.projectId);
    assert.equal(stored.os_hidden, false);
    assert.ok(verifiedAs((await getAs(glance().endpoint, stored.id, VO_USER)) ?? stored, sha512Of(image)));
    assert.deepEqual(
      (await voSees(image)).map((i) => i.id),
      [stored.id],
    );
  });

  it('an appliance version with a failing member shows none of its images until all are in', async (t) => {
    const { repo, catcher } = await site('appliance');
    const member = (label: string, app: string, supersedes?: RepoImage) =>
      repo.add(diskBytes(8 * MiB, label), {
        extra: {
          'vmi:appliance': app,
          ...(supersedes === undefined ? {} : { 'vmi:supersedes': [supersedes.identifier] }),
        },
      });
    const appliance = (id: string, version: string, images: RepoImage[], more: JsonObject = {}) => ({
      'vmi:appliance': {
        'dc:identifier': id,
        'dc:title': 'Cluster',
        'hv:version': version,
        ...more,
        'vmi:images': images.map((image, n) => ({
          'vmi:role': n === 0 ? 'head' : 'worker',
          'dc:identifier': image.identifier,
        })),
      },
    });
    const a1 = member('head v1', 'app-1');
    const b1 = member('worker v1', 'app-1');
    repo.appliances = [appliance('app-1', '1', [a1, b1])];
    await firstList(repo, catcher);
    assert.equal((await syncOnce(catcher)).failures, 0);
    for (const image of [a1, b1]) await voLists(image);

    // A full update: both members new, the worker's bytes fail their digest.
    repo.images = [];
    const a2 = member('head v2', 'app-2', a1);
    const b2 = member('worker v2', 'app-2', b1);
    repo.appliances = [appliance('app-2', '2', [a2, b2], { 'vmi:supersedes': ['app-1'] })];
    serveWrongLastByte(repo, b2);
    repo.publish({ vo: VO });
    const failing = await watchedSync(catcher);
    t.diagnostic(`failing run: ${failing.watch.summary()}`);

    assert.ok(codesFor(failing.report, b2.identifier).includes('IMAGE_DIGEST_MISMATCH'));
    assert.deepEqual(failing.watch.newSeenByVo(), [], `the VO saw version 2: ${failing.watch.summary()}`);
    for (const image of [a2, b2]) assert.deepEqual(await voSees(image), [], 'none of version 2');
    // Version 1 stays usable; whether it is still listed is asserted last (see below).
    const hiddenV1: string[] = [];
    for (const image of [a1, b1]) {
      if ((await voHolds(image)).os_hidden !== false) hiddenV1.push(image.identifier);
    }

    // The server is fixed; a new list version gives the image a fresh set of attempts.
    repo.server.set(pathOf(b2), b2.bytes);
    repo.publish({ vo: VO });
    const fixed = await watchedSync(catcher);
    t.diagnostic(`fixed run: ${fixed.watch.summary()}`);
    assert.equal(fixed.report.failures, 0, JSON.stringify(fixed.report));
    const v2 = [a2, b2].map(sha512Of);
    const unlisted: number[] = [];
    for (const [n, poll] of [...failing.watch.polls, ...fixed.watch.polls].entries()) {
      const usable = (image: RepoImage, listed: boolean) =>
        poll.vo.some((i) => verifiedAs(i, sha512Of(image)) && !(listed && i.hidden));
      const whole = (listed: boolean) =>
        (usable(a1, listed) && usable(b1, listed)) || (usable(a2, listed) && usable(b2, listed));
      // Make before break: the VO can use one whole version at every moment.
      assert.ok(whole(false), `poll ${n}: neither version whole`);
      if (!whole(true)) unlisted.push(n);
      // Released together: a member of version 2 is visible only once every member is in.
      if (poll.vo.some((i) => v2.includes(i.hash ?? ''))) {
        for (const hash of v2) {
          assert.ok(
            poll.admin.some((i) => i.status === 'active' && i.hash === hash),
            `poll ${n}: a member of version 2 is visible before the other is in`,
          );
        }
      }
    }
    for (const image of [a2, b2]) await voLists(image);

    // README: a superseded member leaves the backend once its successor's whole appliance
    // version is delivered and the grace period (0 here) passed.
    assert.equal((await syncOnce(catcher)).failures, 0);
    for (const image of [a1, b1]) {
      assert.deepEqual(await imagesFor(glance().endpoint, image.identifier), [], 'version 1 retired');
    }
    // Make before break as a VO user meets it: the old version stays in the image list
    // (not os_hidden) until the new one replaces it.
    assert.deepEqual(hiddenV1, [], 'version 1 hidden (deprecated) while version 2 failed');
    assert.deepEqual(unlisted, [], 'polls in which the VO listed no whole version');
  });

  it('a download cut in the middle: nothing usable, then a resume with Range and one image', async (t) => {
    const { repo, catcher } = await site('resume');
    const image = repo.add(diskBytes(BIG, 'cut in the middle'));
    repo.server.fault(pathOf(image), { kind: 'reset', afterBytes: BIG / 2 });
    await firstList(repo, catcher);

    const cut = await watchedSync(catcher);
    t.diagnostic(`cut run: ${cut.watch.summary()}`);
    assert.ok(
      cut.report.downloads.some((d) => d.identifier === image.identifier && !d.ok),
      JSON.stringify(cut.report),
    );
    assert.deepEqual(
      cut.watch.newImages().filter((i) => i.status === 'active'),
      [],
      `an image became active: ${cut.watch.summary()}`,
    );
    assert.deepEqual(cut.watch.newSeenByVo(), [], `the VO saw an image: ${cut.watch.summary()}`);
    assert.deepEqual(
      (await imagesFor(glance().endpoint, image.identifier)).filter((i) => i.status === 'active'),
      [],
    );
    assert.deepEqual(await voSees(image), []);

    // Attempts count per image and list version (docs/operations.md): the publisher's next
    // list version lets the next run try again.
    repo.publish({ vo: VO });
    const logged = repo.server.requests(pathOf(image)).length;
    const resumed = await watchedSync(catcher);
    t.diagnostic(`resumed run: ${resumed.watch.summary()}`);
    assert.equal(resumed.report.failures, 0, JSON.stringify(resumed.report));
    const requests = repo.server.requests(pathOf(image)).slice(logged);
    const starts = requests.map((r) => Number(/^bytes=(\d+)-$/.exec(r.headers.range ?? '')?.[1] ?? 0));
    assert.ok(
      starts.some((s) => s > 0),
      `a Range request: ${JSON.stringify(requests.map((r) => r.headers.range))}`,
    );
    const sent = requests.reduce((sum, r) => sum + r.bytes, 0);
    assert.ok(sent < BIG, `sent ${sent} bytes of ${BIG} in the resumed run`);

    const early = [...cut.watch.newSeenByVo(), ...resumed.watch.newSeenByVo()].filter(
      (i) => !verifiedAs(i, sha512Of(image)),
    );
    assert.deepEqual(early, [], `the VO saw an unverified image: ${resumed.watch.summary()}`);
    const ours = (await listAll(glance().endpoint)).filter((i) => cut.watch.isNew(i.id));
    assert.deepEqual(
      ours.map((i) => [i.status, i.os_hash_value === sha512Of(image), i['vmcatcher_event_dc_identifier']]),
      [['active', true, image.identifier]],
      'exactly one image, active and verified',
    );
    assert.deepEqual(
      (await voSees(image)).map((i) => i.id),
      ours.map((i) => i.id),
    );
  });
});
