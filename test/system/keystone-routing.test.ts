/**
 * Issue 16, "Must hold": one catcher serving two clouds, each a real Keystone with the real
 * Glance behind it, three VOs in three signed lists. Each image lands exactly where the
 * backend's routing and project map say, with the owner and visibility they give (read back
 * with Debian's OpenStack client); an image a cloud does not take is held back there with a
 * reason in status. With cloud B down for a whole run, cloud A completes in that run and B
 * catches up on the next without a new download.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, openSubscription, statusOf, type TestCatcher } from '../helpers/catcher.js';
import { makeGrid } from '../helpers/grid.js';
import { ADMIN, describeWithCloud, SERVICE_USER, startCloud, type Cloud } from '../helpers/keystone.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { imagesFor, membersOf, onlyImage, passwordAuth, problems } from './keystone-fixtures.js';

const raw = { extra: { 'hv:format': 'raw' } };

describeWithCloud(
  'two clouds behind real Keystones, routed by subscription, VO and project map',
  (cloudA) => {
    let b: Cloud;
    const repos: Record<'a' | 'b' | 'c', Repo> = {} as never;
    const images: Record<'a' | 'b' | 'c', RepoImage> = {} as never;
    let home: TestCatcher;
    let catcher: Catcher;

    /** Cloud A: admin, private, maps vo.a and vo.b. Cloud B: non-admin, shared, lists b and c only. */
    function backends(bEndpoint?: string): Record<string, unknown>[] {
      const a = cloudA();
      return [
        {
          type: 'glance',
          name: 'cloud-a',
          auth: passwordAuth(a, ADMIN),
          projects: { 'vo.a': a.projectIds['vo-a'], 'vo.b': a.projectIds['vo-b'] },
        },
        {
          type: 'glance',
          name: 'cloud-b',
          auth: passwordAuth(b, SERVICE_USER),
          ...(bEndpoint === undefined ? {} : { endpoint: bEndpoint }),
          visibility: 'shared',
          subscriptions: [repos.b.listUrl, repos.c.listUrl],
          projects: { 'vo.b': b.projectIds['vo-b'] },
          defaultProject: b.projectIds['vo-a'],
        },
      ];
    }

    async function reopen(bEndpoint?: string): Promise<Catcher> {
      await catcher.close();
      home.raw['backends'] = backends(bEndpoint);
      catcher = await home.open();
      return catcher;
    }

    before(async () => {
      b = await startCloud();
      const grid = await makeGrid();
      for (const name of ['a', 'b', 'c'] as const) {
        repos[name] = await Repo.create(grid);
        images[name] = repos[name].add(new Uint8Array(randomBytes(1024 * 1024)), raw);
        repos[name].publish({ vo: `vo.${name}` });
      }
      home = await makeCatcherHome(grid, { backends: backends() });
      catcher = await home.open();
      for (const repo of Object.values(repos)) await subscribe(catcher, openSubscription(repo.listUrl));
    });
    after(async () => {
      await catcher.close();
      for (const repo of Object.values(repos)) await repo.stop();
      await b.stop();
    });

    it('puts each image where routing and mapping say, holds back the rest with a reason', async () => {
      const a = cloudA();
      const report = await syncOnce(catcher);
      assert.equal(report.failures, 0, problems(report).join('; '));
      // Cloud A: vo.a and vo.b in their projects, private; vo.c has no project there.
      const atA = { a: await onlyImage(a, images.a.identifier), b: await onlyImage(a, images.b.identifier) };
      assert.deepEqual(
        [atA.a.owner, atA.a.visibility, atA.b.owner, atA.b.visibility],
        [a.projectIds['vo-a'], 'private', a.projectIds['vo-b'], 'private'],
      );
      assert.deepEqual(await imagesFor(a, images.c.identifier), []);
      // Cloud B: lists b and c only; vo.b as mapped, vo.c through defaultProject; shared.
      assert.deepEqual(await imagesFor(b, images.a.identifier), []);
      const atB = { b: await onlyImage(b, images.b.identifier), c: await onlyImage(b, images.c.identifier) };
      for (const image of Object.values(atB)) {
        assert.equal(image.owner, b.projectIds['service']);
        assert.equal(image.visibility, 'shared');
      }
      assert.deepEqual(await membersOf(b, atB.b.id), [[b.projectIds['vo-b'], 'accepted']]);
      assert.deepEqual(await membersOf(b, atB.c.id), [[b.projectIds['vo-a'], 'accepted']]);
      // As an operator reads them: Debian's OpenStack client, as each cloud's admin.
      const shownA = await a.openstack<Record<string, unknown>>(ADMIN, ['image', 'show', atA.b.id]);
      assert.deepEqual([shownA['owner'], shownA['visibility']], [a.projectIds['vo-b'], 'private']);
      const shownB = await b.openstack<Record<string, unknown>>(ADMIN, ['image', 'show', atB.c.id]);
      assert.deepEqual([shownB['owner'], shownB['visibility']], [b.projectIds['service'], 'shared']);

      const held = report.heldBack.map((h) => [h.backend, h.identifier]).sort();
      assert.deepEqual(
        held,
        [
          ['cloud-a', images.c.identifier],
          ['cloud-b', images.a.identifier],
        ].sort(),
      );
      const status = await statusOf(catcher.config);
      const reason = (backend: string) =>
        status.backends.find((x) => x.name === backend)?.heldBack[0]?.reason;
      assert.match(reason('cloud-a') ?? '', /VO vo\.c has no project/);
      assert.match(reason('cloud-b') ?? '', /does not serve subscription/);
      assert.deepEqual(
        status.accounting.map((x) => [x.backend, x.vo, x.images]),
        [
          ['cloud-a', 'vo.a', 1],
          ['cloud-a', 'vo.b', 1],
          ['cloud-b', 'vo.b', 1],
          ['cloud-b', 'vo.c', 1],
        ],
      );
    });

    it('cloud B down for a whole run: A completes in that run, B catches up without a new download', async () => {
      const a = cloudA();
      const next = repos.b.add(new Uint8Array(randomBytes(1024 * 1024)), raw);
      repos.b.publish({ vo: 'vo.b' });
      // Cloud B's Image API does not answer during this run (nothing listens there).
      await reopen('http://127.0.0.1:9');
      const down = await syncOnce(catcher);
      assert.deepEqual(
        down.downloads.map((d) => [d.identifier, d.ok]),
        [[next.identifier, true]],
      );
      assert.deepEqual(
        down.deliveries
          .filter((d) => d.identifier === next.identifier)
          .map((d) => [d.backend, d.ok])
          .sort(),
        [
          ['cloud-a', true],
          ['cloud-b', false],
        ],
      );
      assert.equal((await onlyImage(a, next.identifier)).owner, a.projectIds['vo-b']);
      assert.deepEqual(await imagesFor(b, next.identifier), []);

      // B is back; its failed delivery is due again after five minutes: the next run is ten on.
      await reopen();
      const back = await syncOnce(catcher, { now: new Date(Date.now() + 600_000) });
      assert.equal(back.failures, 0, problems(back).join('; '));
      assert.deepEqual(back.downloads, [], 'nothing downloaded again');
      assert.equal((await onlyImage(b, next.identifier)).visibility, 'shared');
      assert.equal((await onlyImage(a, next.identifier)).owner, a.projectIds['vo-b']);
    });
  },
);
