/**
 * Taking over a Glance that atrope filled (issue 16, item 4), on a real Glance. The test
 * makes atrope-style images itself through the Image API (create, upload, tag `atrope`,
 * `appdb_id`, `image_hash`), then syncs: a verified one is adopted without a byte sent,
 * the others are replaced make-before-break, a forged label is not believed, another
 * project's image is never touched, and the dry run changes nothing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import type { GlanceTestIdentity } from '../../src/catcher/backends/glance/config.js';
import type { Catcher } from '../../src/catcher/catcher.js';
import { delivery } from '../../src/catcher/store/deliveries.js';
import { instancesOfImage } from '../../src/catcher/store/instances.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, openSubscription, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher } from '../helpers/catcher-cli.js';
import { describeWithGlance, GLANCE_ADMIN, GLANCE_TENANT, identityHeaders } from '../helpers/glance.js';
import { GlanceWatch, listAll } from '../helpers/glance-watch.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { Repo } from '../helpers/repo.js';
import { api, getImage } from './glance-fixtures.js';

const VO = 'vo.example.org';
const MiB = 1024 * 1024;

/** A raw disk: 1 MiB of random bytes, then zeros (two calls give the same size). */
function rawDisk(): Uint8Array {
  const data = new Uint8Array(2 * MiB);
  data.set(randomBytes(MiB), 0);
  return data;
}

function sha512(bytes: Uint8Array): string {
  return createHash('sha512').update(bytes).digest('hex');
}

/** What atrope does: an image tagged `atrope` with its labels, then its data. */
async function atropeImage(
  endpoint: string,
  spec: { identifier: string; bytes: Uint8Array; label: string; as?: GlanceTestIdentity },
): Promise<GlanceImage> {
  const identity = spec.as ?? GLANCE_ADMIN;
  const created = await api<GlanceImage>(
    endpoint,
    'POST',
    '/v2/images',
    {
      name: `EGI image ${spec.identifier.slice(0, 8)}`,
      disk_format: 'raw',
      container_format: 'bare',
      visibility: identity === GLANCE_ADMIN ? 'public' : 'private',
      tags: ['atrope'],
      appdb_id: spec.identifier,
      image_hash: `sha512:${spec.label}`,
    },
    'application/json',
    identity,
  );
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const put = await fetch(`${endpoint}/v2/images/${created.body.id}/file`, {
    method: 'PUT',
    headers: { ...identityHeaders(identity), 'content-type': 'application/octet-stream' },
    body: spec.bytes,
  });
  assert.equal(put.status, 204, await put.text());
  const stored = await getImage(endpoint, created.body.id);
  assert.equal(stored?.status, 'active');
  return stored;
}

/** How many image data uploads (`PUT .../file`) Glance's log shows for an image. */
async function uploadsLogged(dir: string, id: string): Promise<number> {
  const log = await readFile(join(dir, 'glance-api.log'), 'utf8');
  return log.split('\n').filter((line) => line.includes(`PUT /v2/images/${id}/file`)).length;
}

/** A few polls' time. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 300));
}

function refsOf(catcher: Catcher, identifier: string): string[] | undefined {
  const [inst] = instancesOfImage(catcher.db, identifier);
  return inst === undefined ? undefined : delivery(catcher.db, inst.id, 'site')?.refs;
}

describeWithGlance('taking over a Glance that atrope filled', (glance) => {
  let grid: Grid;
  const open: Catcher[] = [];
  const repos: Repo[] = [];

  before(async () => {
    grid = await makeGrid();
  });
  after(async () => {
    for (const catcher of open) await catcher.close();
    for (const repo of repos) await repo.stop();
  });

  /** A list of these images (VO `vo.example.org`) and a catcher subscribed to it. */
  async function site(
    images: Uint8Array[],
    backend: Record<string, unknown> = {},
  ): Promise<{ home: TestCatcher; catcher: Catcher; ids: string[] }> {
    const repo = await Repo.create(grid);
    repos.push(repo);
    const ids = images.map((bytes) => repo.add(bytes, { extra: { 'hv:format': 'raw' } }).identifier);
    repo.publish({ vo: VO });
    const home = await makeCatcherHome(grid, {
      backends: [{ type: 'glance', name: 'site', ...glance().access, ...backend }],
    });
    const catcher = await home.open();
    open.push(catcher);
    await subscribe(catcher, openSubscription(repo.listUrl));
    return { home, catcher, ids };
  }

  it('adopts an atrope image holding the listed bytes without sending a byte', async () => {
    const bytes = rawDisk();
    const { catcher, ids } = await site([bytes]);
    const [identifier = ''] = ids;
    const made = await atropeImage(glance().endpoint, { identifier, bytes, label: sha512(bytes) });
    const uploads = await uploadsLogged(glance().dir, made.id);
    assert.equal(uploads, 1, 'the log shows the upload the test made');
    const before = new Set((await listAll(glance().endpoint)).map((i) => i.id));
    const watch = await GlanceWatch.start(glance().endpoint, GLANCE_TENANT);
    const report = await syncOnce(catcher).finally(() => watch.stop());
    assert.equal(report.failures, 0, JSON.stringify(report.deliveries));
    // The list's bytes were downloaded into the cache, but nothing went to Glance.
    const download = report.downloads.find((d) => d.identifier === identifier);
    assert.ok(download, 'downloaded into the cache');
    assert.equal(download.streamedTo, undefined);
    assert.deepEqual(watch.newImages(), [], `no image created: ${watch.summary()}`);
    assert.deepEqual(new Set((await listAll(glance().endpoint)).map((i) => i.id)), before);
    assert.equal(await uploadsLogged(glance().dir, made.id), uploads, 'no PUT .../file during the sync');
    const adopted = await getImage(glance().endpoint, made.id);
    assert.ok(adopted);
    assert.equal(adopted.os_hash_value, sha512(bytes));
    assert.equal(adopted.status, 'active');
    assert.equal(adopted.os_hidden, false);
    assert.equal(adopted.visibility, 'private');
    assert.equal(adopted['vmicast_backend'], 'site');
    assert.equal(adopted['vmicast_disk_sha512'], sha512(bytes));
    assert.equal(adopted['vmcatcher_event_dc_identifier'], identifier);
    assert.equal(adopted['vmicast_vo'], VO);
    // atrope's own marks stay, so an atrope still running does not upload it again.
    assert.deepEqual(adopted['tags'], ['atrope']);
    assert.equal(adopted['appdb_id'], identifier);
    assert.equal(adopted['image_hash'], `sha512:${sha512(bytes)}`);
    assert.deepEqual(refsOf(catcher, identifier), [made.id]);
    // The next run treats it as the backend's own: nothing more happens.
    assert.equal((await syncOnce(catcher)).failures, 0);
    assert.deepEqual(new Set((await listAll(glance().endpoint)).map((i) => i.id)), before);
  });

  it('adopts into shared visibility: the VO project becomes an accepted member', async () => {
    const bytes = rawDisk();
    const project = 'vo-project-takeover';
    const { catcher, ids } = await site([bytes], { visibility: 'shared', projects: { [VO]: project } });
    const [identifier = ''] = ids;
    const made = await atropeImage(glance().endpoint, { identifier, bytes, label: sha512(bytes) });
    assert.equal((await syncOnce(catcher)).failures, 0);
    assert.deepEqual(refsOf(catcher, identifier), [made.id]);
    const adopted = await getImage(glance().endpoint, made.id);
    assert.equal(adopted?.visibility, 'shared');
    assert.equal(adopted.owner, GLANCE_ADMIN.projectId);
    const members = await api<{ members: { member_id: string; status: string }[] }>(
      glance().endpoint,
      'GET',
      `/v2/images/${made.id}/members`,
    );
    assert.deepEqual(
      members.body.members.map((m) => [m.member_id, m.status]),
      [[project, 'accepted']],
    );
  });

  it('replaces an atrope image of other bytes make-before-break', async () => {
    const bytes = rawDisk();
    const old = rawDisk();
    const { catcher, ids } = await site([bytes]);
    const [identifier = ''] = ids;
    const made = await atropeImage(glance().endpoint, { identifier, bytes: old, label: sha512(old) });
    const watch = await GlanceWatch.start(glance().endpoint, GLANCE_TENANT);
    // The watch goes on a little after the run, to see Glance without the old image.
    const report = await syncOnce(catcher).finally(() => settle().then(() => watch.stop()));
    assert.equal(report.failures, 0, JSON.stringify(report.deliveries));
    const [ref] = refsOf(catcher, identifier) ?? [];
    assert.ok(ref !== undefined && ref !== made.id);
    const own = await getImage(glance().endpoint, ref);
    assert.equal(own?.status, 'active');
    assert.equal(own.os_hidden, false);
    assert.equal(own.os_hash_value, sha512(bytes));
    assert.equal(await getImage(glance().endpoint, made.id), undefined, 'the atrope image is gone');
    // Make before break: whenever the old image was missing, the new one was released.
    const gone = watch.polls.filter((p) => !p.admin.some((i) => i.id === made.id));
    assert.ok(gone.length > 0, watch.summary());
    for (const poll of gone) {
      const seen = poll.admin.find((i) => i.id === ref);
      assert.ok(
        seen?.status === 'active' && !seen.hidden,
        `released before the old left: ${watch.summary()}`,
      );
    }
  });

  it('does not adopt an atrope image whose label names the listed bytes but whose data differs', async () => {
    const bytes = rawDisk();
    const forged = rawDisk();
    const { catcher, ids } = await site([bytes]);
    const [identifier = ''] = ids;
    // Same size, atrope's label says the list's SHA-512: only Glance's own hash tells.
    const made = await atropeImage(glance().endpoint, { identifier, bytes: forged, label: sha512(bytes) });
    assert.equal(made.size, bytes.length);
    const watch = await GlanceWatch.start(glance().endpoint, GLANCE_TENANT);
    const report = await syncOnce(catcher).finally(() => watch.stop());
    assert.equal(report.failures, 0, JSON.stringify(report.deliveries));
    const [ref] = refsOf(catcher, identifier) ?? [];
    assert.notEqual(ref, made.id, 'the forged image is not the delivered one');
    assert.equal((await getImage(glance().endpoint, ref ?? ''))?.os_hash_value, sha512(bytes));
    // Never labelled as the list's image while it existed.
    const labelled = watch.polls.flatMap((p) => p.admin.filter((i) => i.id === made.id && i.identifier));
    assert.deepEqual(labelled, []);
    // A project the backend controls holds it: replaced, once the checked image was released.
    assert.equal(await getImage(glance().endpoint, made.id), undefined);
  });

  it('leaves an atrope image of a project the backend does not control alone', async () => {
    const bytes = rawDisk();
    const { catcher, ids } = await site([bytes]);
    const [identifier = ''] = ids;
    const made = await atropeImage(glance().endpoint, {
      identifier,
      bytes,
      label: sha512(bytes),
      as: GLANCE_TENANT,
    });
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report.deliveries));
    const [ref] = refsOf(catcher, identifier) ?? [];
    assert.ok(ref !== undefined && ref !== made.id, 'an image of its own was uploaded');
    // Not adopted, patched, shared or deleted: Glance returns the very same record.
    assert.deepEqual(await getImage(glance().endpoint, made.id), made);
  });

  it('dry run: lists what a sync would adopt, replace and leave, and changes nothing', async () => {
    const [same, other, theirs] = [rawDisk(), rawDisk(), rawDisk()];
    const { home, catcher, ids } = await site([same, other, theirs]);
    const [adoptId = '', replaceId = '', leaveId = ''] = ids;
    const endpoint = glance().endpoint;
    const adopt = await atropeImage(endpoint, { identifier: adoptId, bytes: same, label: sha512(same) });
    const old = rawDisk();
    const replace = await atropeImage(endpoint, { identifier: replaceId, bytes: old, label: sha512(old) });
    const foreign = await atropeImage(endpoint, {
      identifier: leaveId,
      bytes: theirs,
      label: sha512(theirs),
      as: GLANCE_TENANT,
    });
    const stranger = rawDisk();
    const unsynced = await atropeImage(endpoint, {
      identifier: '6f1e7c9a-0000-4000-8000-00000000abcd',
      bytes: stranger,
      label: sha512(stranger),
    });
    const snapshot = async () =>
      JSON.stringify((await listAll(endpoint)).sort((a, b) => a.id.localeCompare(b.id)));
    const beforeRun = await snapshot();
    const run = await runCatcher(home, ['takeover', '--json']);
    assert.equal(run.status, 0, run.stderr);
    const text = await runCatcher(home, ['takeover']);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(await snapshot(), beforeRun, 'the dry run changed nothing in Glance');
    const [plan] = (run.json as { ok: boolean; backends: Record<string, { id: string; why?: string }[]>[] })
      .backends;
    assert.ok(plan);
    const find = (kind: string, id: string) => plan[kind]?.find((e) => e.id === id);
    assert.ok(find('adopt', adopt.id));
    assert.equal(find('replace', replace.id)?.why, 'hash differs');
    assert.equal(find('leave', foreign.id)?.why, 'owner not controlled');
    assert.equal(find('leave', unsynced.id)?.why, 'not ours to sync');
    assert.match(text.stdout, new RegExp(`^site adopt ${adopt.id} ${adoptId}$`, 'm'));
    assert.match(
      text.stdout,
      new RegExp(`^site replace ${replace.id} ${replaceId} \\(hash differs\\)$`, 'm'),
    );
    // The sync then does what the dry run said.
    assert.equal((await syncOnce(catcher)).failures, 0);
    assert.deepEqual(refsOf(catcher, adoptId), [adopt.id]);
    assert.equal(await getImage(endpoint, replace.id), undefined);
    assert.deepEqual(await getImage(endpoint, foreign.id), foreign);
    assert.deepEqual(await getImage(endpoint, unsynced.id), unsynced);
  });
});
