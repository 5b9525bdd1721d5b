/**
 * Issue 12 section 3 on a real Glance: another, non-admin project uploads a look-alike
 * of an image vmicast delivered (same identifier, backend name and list SHA-512, a
 * `vmicast_disk_sha512` mark) and the backend must neither adopt, change nor delete it.
 * Glance takes each request's identity from headers here (see test/helpers/glance.ts):
 * the backend acts as an admin of its own project, or as a plain member of it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, it } from 'node:test';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import type { GlanceTestIdentity } from '../../src/catcher/backends/glance/config.js';
import { entryProperties } from '../../src/catcher/backends/glance/properties.js';
import { createGlanceBackend } from '../../src/catcher/backends/glance/create.js';
import type { ImageRecord, PreparedDisk } from '../../src/catcher/backends/types.js';
import { describeWithGlance, GLANCE_TENANT, identityHeaders } from '../helpers/glance.js';
import { tempDir } from '../helpers/tmp.js';
import { api, context, getImage, makeDisk, makeRecord, sha512File } from './glance-fixtures.js';

const VO = 'vo.example.org';
const VO_PROJECT = 'vo-project-0001';

interface LookAlike {
  /** Upload the very bytes of the real disk (else other bytes). */
  sameBytes: boolean;
  /** Set vmicast_disk_sha512 to Glance's own hash of the upload. */
  mark: boolean;
  visibility?: string;
}

const VARIANTS: LookAlike[] = [
  { sameBytes: true, mark: true },
  { sameBytes: false, mark: true },
  { sameBytes: true, mark: false },
  { sameBytes: false, mark: false },
];

function describeVariant(v: LookAlike): string {
  return `${v.sameBytes ? 'identical' : 'other'} bytes, ${v.mark ? 'a mark equal to its hash' : 'no mark'}`;
}

describeWithGlance(
  'Glance backend: look-alike images of other projects',
  (glance) => {
    let dir: string;
    before(async () => {
      dir = await tempDir('vmicast-glance-tenants-');
    });

    const backendAs = (extra: Record<string, unknown> = {}) =>
      createGlanceBackend({
        type: 'glance',
        name: 'site',
        ...glance().access,
        visibility: 'shared',
        projects: { [VO]: VO_PROJECT },
        ...extra,
      });

    /** What another tenant can do with the plain API: an image carrying our properties. */
    async function plantLookAlike(
      image: ImageRecord,
      disk: PreparedDisk,
      v: LookAlike,
      identity: GlanceTestIdentity = GLANCE_TENANT,
    ): Promise<string> {
      const created = await api<{ id: string; owner: string }>(
        glance().endpoint,
        'POST',
        '/v2/images',
        {
          name: image.title,
          disk_format: disk.format,
          container_format: 'bare',
          visibility: v.visibility ?? 'private',
          ...entryProperties(image, 'site'),
          vmicast_disk_index: '0',
          vmicast_disk_count: '1',
          vmicast_deprecated: 'false',
        },
        'application/json',
        identity,
      );
      assert.equal(created.status, 201);
      assert.equal(created.body.owner, identity.projectId);
      const source = v.sameBytes ? disk.path : (await makeDisk(dir, disk.format, 0, '4M')).path;
      const put = await fetch(`${glance().endpoint}/v2/images/${created.body.id}/file`, {
        method: 'PUT',
        headers: { ...identityHeaders(identity), 'content-type': 'application/octet-stream' },
        body: await readFile(source),
      });
      assert.equal(put.status, 204);
      if (v.mark) {
        const stored = await getImage(glance().endpoint, created.body.id);
        const ops = [{ op: 'add', path: '/vmicast_disk_sha512', value: stored?.os_hash_value }];
        const reply = await api(
          glance().endpoint,
          'PATCH',
          `/v2/images/${created.body.id}`,
          ops,
          'application/openstack-images-v2.1-json-patch',
          identity,
        );
        assert.equal(reply.status, 200);
      }
      return created.body.id;
    }

    /** Everything about an image another project could care about. */
    async function snapshot(id: string): Promise<{ image: GlanceImage | undefined; members: unknown }> {
      const members = await api<{ members?: { member_id: string; status: string }[] }>(
        glance().endpoint,
        'GET',
        `/v2/images/${id}/members`,
      );
      return {
        image: await getImage(glance().endpoint, id),
        members: (members.body.members ?? []).map((m) => [m.member_id, m.status]),
      };
    }

    /** The parts of our image a redelivery must leave as they were. */
    async function essentials(id: string): Promise<unknown> {
      const { image, members } = await snapshot(id);
      const keys = ['id', 'status', 'checksum', 'os_hash_value', 'size', 'owner', 'visibility'];
      return { fields: keys.map((k) => image?.[k]), members };
    }

    async function validState(extra: Record<string, unknown> = {}) {
      const backend = backendAs(extra);
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      const image = makeRecord({ vo: VO, sha512: await sha512File(disk.path) });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.equal(refs.length, 1);
      return { backend, disk, image, id: refs[0] ?? '' };
    }

    for (const variant of VARIANTS) {
      it(`a look-alike with ${describeVariant(variant)} is neither adopted nor deleted on redelivery`, async () => {
        const { backend, disk, image, id } = await validState();
        const ours = await essentials(id);
        const fake = await plantLookAlike(image, disk, variant);
        const theirs = await snapshot(fake);

        const again = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));

        assert.deepEqual(again.refs, [id]);
        assert.deepEqual(await essentials(id), ours);
        assert.deepEqual(await snapshot(fake), theirs);
        const held = (await backend.list(context(dir))).filter((h) => h.identifier === image.identifier);
        assert.deepEqual(
          held.map((h) => h.refs),
          [[id]],
        );
      });
    }

    it('a look-alike planted before the first delivery is not adopted: the backend uploads its own', async () => {
      const backend = backendAs({ visibility: 'private' });
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      const image = makeRecord({ vo: VO, sha512: await sha512File(disk.path) });
      const fake = await plantLookAlike(image, disk, { sameBytes: true, mark: true });
      const theirs = await snapshot(fake);

      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));

      assert.notDeepEqual(refs, [fake]);
      assert.deepEqual(await snapshot(fake), theirs);
      const ours = await getImage(glance().endpoint, refs[0] ?? '');
      assert.equal(ours?.owner, VO_PROJECT);
      assert.equal(ours.os_hash_value, image.sha512);
    });

    it('metadata updates, deprecation and retirement leave the look-alike alone', async () => {
      const { backend, disk, image, id } = await validState();
      const fake = await plantLookAlike(image, disk, { sameBytes: true, mark: true });
      const theirs = await snapshot(fake);

      await backend.updateMetadata({ ...image, title: 'Renamed' }, [id], context(dir));
      await backend.deprecate(image, [id], context(dir));
      assert.deepEqual(await backend.retire(image, [id], context(dir)), { done: true });

      assert.equal(await getImage(glance().endpoint, id), undefined);
      assert.deepEqual(await snapshot(fake), theirs);
    });

    it('a backend acting as a plain member of its own project ignores a public look-alike', async () => {
      const member = { projectId: 'site-project', userId: 'vmicast-member', roles: ['member', 'reader'] };
      const { backend, disk, image, id } = await validState({
        testIdentity: member,
        projects: {},
      });
      assert.equal((await getImage(glance().endpoint, id))?.owner, 'site-project');
      const ours = await essentials(id);
      const fake = await plantLookAlike(image, disk, { sameBytes: true, mark: true, visibility: 'public' });
      const theirs = await snapshot(fake);

      const again = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));

      assert.deepEqual(again.refs, [id]);
      assert.deepEqual(await essentials(id), ours);
      assert.deepEqual(await snapshot(fake), theirs);
      // The tenant could not have touched ours either (Glance's own check, for the record).
      assert.equal(await patchAs(id, GLANCE_TENANT), 404);
    });

    async function patchAs(id: string, identity: GlanceTestIdentity): Promise<number> {
      const reply = await api(
        glance().endpoint,
        'PATCH',
        `/v2/images/${id}`,
        [{ op: 'add', path: '/vmicast_deprecated', value: 'true' }],
        'application/openstack-images-v2.1-json-patch',
        identity,
      );
      return reply.status;
    }
  },
  { tools: ['qemu-img'] },
);
