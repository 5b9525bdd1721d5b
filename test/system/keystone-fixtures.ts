/** Catchers, lists and reads of Glance for the tests against a real Keystone (keystone-glance.test.ts). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce, type SyncReport } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { ADMIN, type Cloud, type Credentials } from '../helpers/keystone.js';
import { Repo, type RepoImage } from '../helpers/repo.js';

export const VO = 'vo.example.org';

/** A password auth block for `who` at `cloud`. */
export function passwordAuth(cloud: Cloud, who: Credentials): Record<string, unknown> {
  return { url: cloud.keystone, username: who.username, password: who.password, project: who.project };
}

/** A list with one raw image of the VO, served and signed; a catcher with `backends` subscribed. */
export async function setUp(backends: Record<string, unknown>[]): Promise<{
  repo: Repo;
  catcher: Catcher;
  image: RepoImage;
  close(): Promise<void>;
}> {
  const repo = await Repo.create();
  const image = repo.add(new Uint8Array(randomBytes(1024 * 1024)), { extra: { 'hv:format': 'raw' } });
  repo.publish({ vo: VO });
  const catcher = await (await makeCatcherHome(repo.grid, { backends })).open();
  await subscribe(catcher, openSubscription(repo.listUrl));
  return {
    repo,
    catcher,
    image,
    close: async () => {
      await catcher.close();
      await repo.stop();
    },
  };
}

/** The one Glance backend most tests give a site: `cloud`, with its auth, visibility and the VO's project. */
export function cloudBackend(
  auth: unknown,
  project: string | undefined,
  visibility?: string,
): Record<string, unknown> {
  const shown = visibility === undefined ? {} : { visibility };
  return { type: 'glance', name: 'cloud', auth, ...shown, projects: { [VO]: project } };
}

/** A site made by `setUp`, given to `body`, and closed whatever the body does. */
export async function withSite(
  backends: Record<string, unknown>[],
  body: (run: Awaited<ReturnType<typeof setUp>>) => Promise<void>,
): Promise<void> {
  const run = await setUp(backends);
  try {
    await body(run);
  } finally {
    await run.close();
  }
}

/** Every message of a sync that went wrong, for assertion messages and checks. */
export function problems(report: SyncReport): string[] {
  return [
    ...report.downloads.filter((d) => !d.ok).map((d) => `${d.code}: ${d.message}`),
    ...report.deliveries.filter((d) => !d.ok).map((d) => `${d.code}: ${d.message}`),
  ];
}

/** Every image (hidden or not, any owner) carrying this identifier, read as the cloud's admin. */
export async function imagesFor(cloud: Cloud, identifier: string): Promise<GlanceImage[]> {
  const token = await cloud.token(ADMIN);
  const found: GlanceImage[] = [];
  for (const hidden of ['false', 'true']) {
    const query = new URLSearchParams({ vmcatcher_event_dc_identifier: identifier, os_hidden: hidden });
    const reply = await cloud.request<{ images: GlanceImage[] }>(
      `${cloud.glance}/v2/images?${query.toString()}`,
      'GET',
      token,
    );
    assert.equal(reply.status, 200);
    found.push(...reply.body.images);
  }
  return found;
}

export async function onlyImage(cloud: Cloud, identifier: string): Promise<GlanceImage> {
  const found = await imagesFor(cloud, identifier);
  assert.equal(found.length, 1, JSON.stringify(found.map((i) => i.id)));
  return found[0] as GlanceImage;
}

/**
 * After a refused release: the checked upload stays hidden and private in the credentials'
 * own project (vo-a), so no VO user sees it; the next sync retries the release without
 * uploading again, and is refused the same way.
 */
export async function assertHeldBack(
  cloud: Cloud,
  run: { catcher: Catcher; image: RepoImage },
): Promise<void> {
  const first = await onlyImage(cloud, run.image.identifier);
  assert.deepEqual(
    [first.os_hidden, first.visibility, first.owner],
    [true, 'private', cloud.projectIds['vo-a']],
  );
  // A failed delivery is tried again five minutes later: the next run is ten minutes on.
  const again = await syncOnce(run.catcher, { now: new Date(Date.now() + 600_000) });
  assert.ok(again.failures > 0, 'the release is refused again');
  assert.deepEqual(
    again.downloads.map((d) => d.identifier),
    [],
    'nothing downloaded again',
  );
  const after = await onlyImage(cloud, run.image.identifier);
  assert.deepEqual([after.id, after.os_hidden, after.updated_at], [first.id, true, first.updated_at]);
}
/** An image's members as [project, status] pairs, read as the cloud's admin. */
export async function membersOf(cloud: Cloud, id: string): Promise<[string, string][]> {
  const reply = await cloud.request<{ members: { member_id: string; status: string }[] }>(
    `${cloud.glance}/v2/images/${id}/members`,
    'GET',
    await cloud.token(ADMIN),
  );
  return reply.body.members.map((m) => [m.member_id, m.status]);
}
