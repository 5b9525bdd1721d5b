/**
 * The Glance backend after crashes and manual changes, and its per-VO visibility, against
 * a real Glance (no Keystone: the requests run as an admin without roles, so the test
 * itself can set owners and accept memberships; see docs/glance.md).
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { noAuth } from '../../src/catcher/backends/glance/auth.js';
import { GlanceClient } from '../../src/catcher/backends/glance/client.js';
import { createGlanceHttp } from '../../src/catcher/backends/glance/http.js';
import { entryProperties } from '../../src/catcher/backends/glance/properties.js';
import { deliverDiskFile } from '../../src/catcher/backends/glance/deliver-file.js';
import { createGlanceBackend } from '../../src/catcher/backends/glance/create.js';
import { VmiError } from '../../src/shared/errors.js';
import { describeWithGlance } from '../helpers/glance.js';
import { tempDir } from '../helpers/tmp.js';
import {
  api,
  context,
  getImage,
  imagesFor,
  makeDisk,
  makeRecord,
  patch,
  sha512File,
} from './glance-fixtures.js';

describeWithGlance(
  'Glance backend: crash recovery, adoption and visibility',
  (glance) => {
    let dir: string;
    let client: GlanceClient;
    const config = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      type: 'glance',
      name: 'recovery',
      ...glance().access,
      ...extra,
    });
    before(async () => {
      dir = await tempDir('vmicast-glance-recovery-');
      client = new GlanceClient(
        noAuth(glance().endpoint, glance().access.testIdentity),
        createGlanceHttp(undefined),
        30_000,
      );
    });

    /** The record the backend writes before uploading, made by hand: what a crash leaves. */
    async function createRecordOnly(image: ReturnType<typeof makeRecord>, format: string): Promise<string> {
      const created = await client.createImage({
        name: image.title,
        disk_format: format,
        container_format: 'bare',
        ...entryProperties(image, 'recovery'),
        vmicast_disk_index: '0',
        vmicast_disk_count: '1',
      });
      return created.id;
    }

    it('a crash between create and upload: delivering again leaves exactly one active image', async () => {
      const backend = createGlanceBackend(config());
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const leftover = await createRecordOnly(image, 'qcow2');
      assert.equal((await getImage(glance().endpoint, leftover))?.status, 'queued');
      // The restarted catcher does not know the leftover: it just delivers again.
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      const all = await imagesFor(glance().endpoint, image.identifier);
      assert.deepEqual(
        all.map((i) => [i.id, i.status]),
        [[refs[0], 'active']],
      );
      assert.equal(await getImage(glance().endpoint, leftover), undefined);
    });

    it('a crash after the upload, before the check: the uploaded image is checked and adopted', async () => {
      const backend = createGlanceBackend(config());
      const disk = await makeDisk(dir, 'raw', 0, '8M');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const id = await createRecordOnly(image, 'raw');
      await client.uploadFile(id, disk.path);
      assert.equal((await getImage(glance().endpoint, id))?.['vmicast_disk_sha512'], undefined);
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.deepEqual(refs, [id]);
      const adopted = await getImage(glance().endpoint, id);
      assert.equal(adopted?.['vmicast_disk_sha512'], image.sha512);
      assert.equal((await imagesFor(glance().endpoint, image.identifier)).length, 1);
    });

    it('an uploaded image whose data does not match the disk is neither adopted nor deleted', async () => {
      const backend = createGlanceBackend(config());
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      const other = await makeDisk(dir, 'raw', 0, '4M');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const wrong = await createRecordOnly(image, 'raw');
      await client.uploadFile(wrong, other.path);
      const before = await getImage(glance().endpoint, wrong);
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.notDeepEqual(refs, [wrong]);
      // Not the bytes we deliver: not ours to judge, so left as it was (docs/glance.md).
      assert.deepEqual(await getImage(glance().endpoint, wrong), before);
      assert.equal((await getImage(glance().endpoint, refs[0] ?? ''))?.os_hash_value, image.sha512);
      const held = (await backend.list(context(dir))).filter((h) => h.identifier === image.identifier);
      assert.deepEqual(
        held.map((h) => h.refs),
        [refs],
      );
    });

    it('list() finds checked images of a previous backend instance, and a manual one once adopted', async () => {
      const first = createGlanceBackend(config({ name: 'lister' }));
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const { refs } = await first.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      // A manual image with our properties, through the plain API.
      const manualDisk = await makeDisk(dir, 'raw', 0, '4M');
      const manualSha = await sha512File(manualDisk.path);
      const manual = await api<{ id: string }>(glance().endpoint, 'POST', '/v2/images', {
        name: 'hand-made',
        disk_format: 'raw',
        container_format: 'bare',
        vmicast_backend: 'lister',
        vmcatcher_event_dc_identifier: 'manual-0001',
        vmcatcher_event_sl_checksum_sha512: manualSha,
      });
      assert.equal(manual.status, 201);
      await client.uploadFile(manual.body.id, manualDisk.path);
      // Not ours: another backend's image, and a record that never got data.
      await deliverDiskFile(createGlanceBackend(config({ name: 'elsewhere' })), manualDisk, context(dir));
      const queued = await createRecordOnly(makeRecord(), 'raw');
      await patch(glance().endpoint, queued, [{ op: 'replace', path: '/vmicast_backend', value: 'lister' }]);

      const second = createGlanceBackend(config({ name: 'lister' }));
      const mine = { identifier: image.identifier, sha512: image.sha512, refs, deprecated: false };
      // The manual image was never checked against a delivered disk: not listed yet.
      assert.deepEqual(await second.list(context(dir)), [mine]);

      // Delivering the manual image's identifier adopts it instead of uploading a copy.
      const manualRecord = makeRecord({ identifier: 'manual-0001', sha512: manualSha });
      const adopted = await second.deliver(
        manualRecord,
        { file: manualDisk.path, disks: [manualDisk] },
        context(dir),
      );
      assert.deepEqual(adopted.refs, [manual.body.id]);
      assert.deepEqual(
        await second.list(context(dir)),
        [
          mine,
          { identifier: 'manual-0001', sha512: manualSha, refs: [manual.body.id], deprecated: false },
        ].sort((a, b) => a.identifier.localeCompare(b.identifier)),
      );
      assert.equal(
        (await imagesFor(glance().endpoint, 'manual-0001')).filter((i) => i['vmicast_backend'] === 'lister')
          .length,
        1,
      );
    });

    it('shared visibility: the VO project is an accepted member; withdrawal removes it', async () => {
      const backend = createGlanceBackend(
        config({ visibility: 'shared', projects: { 'vo.example.org': 'vo-project-1' } }),
      );
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      const image = makeRecord({ vo: 'vo.example.org', sha512: await sha512File(disk.path) });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      const id = refs[0] ?? '';
      assert.equal((await getImage(glance().endpoint, id))?.visibility, 'shared');
      const members = await api<{ members: { member_id: string; status: string }[] }>(
        glance().endpoint,
        'GET',
        `/v2/images/${id}/members`,
      );
      assert.deepEqual(
        members.body.members.map((m) => [m.member_id, m.status]),
        [['vo-project-1', 'accepted']],
      );
      // Delivering again does not add the member twice.
      await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.equal(
        (await api<{ members: unknown[] }>(glance().endpoint, 'GET', `/v2/images/${id}/members`)).body.members
          .length,
        1,
      );
      // In use: retire withdraws it from the VO.
      await patch(glance().endpoint, id, [{ op: 'replace', path: '/protected', value: true }]);
      assert.deepEqual(await backend.retire(image, refs, context(dir)), { done: false });
      const withdrawn = await getImage(glance().endpoint, id);
      assert.equal(withdrawn?.visibility, 'private');
      assert.equal(withdrawn.status, 'deactivated');
      // Wanted again before it could be deleted: reactivated and shared again, same image.
      const again = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.deepEqual(again.refs, refs);
      const back = await getImage(glance().endpoint, id);
      assert.equal(back?.status, 'active');
      assert.equal(back.visibility, 'shared');
      assert.equal(back['vmicast_retire_pending'], undefined);
      await patch(glance().endpoint, id, [{ op: 'replace', path: '/protected', value: false }]);
      assert.deepEqual(await backend.retire(image, refs, context(dir)), { done: true });
    });

    it('public visibility: owned by the VO project, visible to all', async () => {
      const backend = createGlanceBackend(
        config({ visibility: 'public', projects: { 'vo.example.org': 'vo-project-2' } }),
      );
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      const image = makeRecord({ vo: 'vo.example.org', sha512: await sha512File(disk.path) });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      const stored = await getImage(glance().endpoint, refs[0] ?? '');
      assert.equal(stored?.visibility, 'public');
      assert.equal(stored.owner, 'vo-project-2');
    });

    it('an unreachable Glance fails with BACKEND_FAILED naming the cause', async () => {
      const backend = createGlanceBackend({
        type: 'glance',
        name: 'down',
        endpoint: 'http://127.0.0.1:9',
        timeoutSeconds: 5,
      });
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      await assert.rejects(
        backend.deliver(makeRecord(), { file: disk.path, disks: [disk] }, context(dir)),
        (err: unknown) =>
          err instanceof VmiError && err.code === 'BACKEND_FAILED' && /ECONNREFUSED/.test(err.message),
      );
    });
  },
  { tools: ['qemu-img'] },
);
