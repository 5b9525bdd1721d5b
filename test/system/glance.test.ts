/**
 * The Glance backend against a real OpenStack Glance (Debian glance-api, no Keystone):
 * delivery of qcow2, raw and a two-disk appliance, every property cloud-info-provider
 * reads, idempotence, metadata-only updates, deprecation and retirement.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { GlanceBackend } from '../../src/catcher/backends/glance/backend.js';
import { createGlanceBackend } from '../../src/catcher/backends/glance/create.js';
import { VmiError } from '../../src/shared/errors.js';
import { describeWithGlance } from '../helpers/glance.js';
import { tempDir } from '../helpers/tmp.js';
import {
  context,
  downloadSha512,
  getImage,
  imagesFor,
  makeDisk,
  makeRecord,
  patch,
  sha512File,
} from './glance-fixtures.js';

const VO_PROJECT = 'f3a1c0de00000000000000000000abcd';

describeWithGlance(
  'Glance backend against a real Glance',
  (glance) => {
    let dir: string;
    let backend: GlanceBackend;
    before(async () => {
      dir = await tempDir('vmicast-glance-disks-');
      backend = createGlanceBackend({
        type: 'glance',
        name: 'site-glance',
        ...glance().access,
        projects: { 'vo.example.org': VO_PROJECT },
      });
    });

    it('delivers a qcow2 disk with every property cloud-info-provider reads', async () => {
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord({
        vo: 'vo.example.org',
        sha512: await sha512File(disk.path),
        size: disk.size,
      });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.equal(refs.length, 1);
      const stored = await getImage(glance().endpoint, refs[0] ?? '');
      assert.ok(stored);
      assert.equal(stored.status, 'active');
      assert.equal(stored.name, image.title);
      assert.equal(stored.disk_format, 'qcow2');
      assert.equal(stored.container_format, 'bare');
      assert.equal(stored.visibility, 'private');
      assert.equal(stored.owner, VO_PROJECT);
      assert.equal(stored.size, disk.size);
      assert.equal(stored.os_hash_algo, 'sha512');
      assert.equal(stored.os_hash_value, image.sha512);
      assert.equal(await downloadSha512(glance().endpoint, stored.id), image.sha512);
      // The cloud-info-provider contract (SPEC.md section 8), values exactly as written.
      assert.equal(stored['vmcatcher_event_ad_mpuri'], image.entry['ad:mpuri']);
      assert.equal(stored['vmcatcher_event_dc_description'], image.description);
      assert.equal(stored['vmcatcher_event_dc_identifier'], image.identifier);
      assert.equal(stored['vmcatcher_event_hv_version'], image.version);
      assert.equal(stored['vmcatcher_event_sl_checksum_sha512'], image.sha512);
      assert.equal(stored['os_distro'], 'centos');
      assert.equal(stored['os_version'], '9');
      assert.equal(stored['architecture'], 'x86_64');
      const attributes = JSON.parse(String(stored['APPLIANCE_ATTRIBUTES'])) as Record<string, unknown>;
      assert.deepEqual(attributes, image.entry);
      assert.equal(attributes['ad:base_mpuri'], image.entry['ad:base_mpuri']);
      // Our own bookkeeping.
      assert.equal(stored['vmicast_backend'], 'site-glance');
      assert.equal(stored['vmicast_list_identifier'], image.listIdentifier);
      assert.equal(stored['vmicast_vo'], 'vo.example.org');
      assert.equal(stored['vmicast_disk_index'], '0');
      assert.equal(stored['vmicast_disk_count'], '1');
      assert.equal(stored['vmicast_deprecated'], 'false');
      assert.equal(stored['vmicast_disk_sha512'], image.sha512);
      // Every custom property is a string.
      for (const [key, value] of Object.entries(stored)) {
        if (key.startsWith('vmicast_') || key.startsWith('vmcatcher_') || key === 'APPLIANCE_ATTRIBUTES') {
          assert.equal(typeof value, 'string', key);
        }
      }
    });

    it('delivers a raw disk as disk_format raw', async () => {
      const disk = await makeDisk(dir, 'raw', 0, '8M');
      const image = makeRecord({ sha512: await sha512File(disk.path), size: disk.size });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      const stored = await getImage(glance().endpoint, refs[0] ?? '');
      assert.equal(stored?.disk_format, 'raw');
      assert.equal(stored.size, 8 * 1024 * 1024);
      assert.equal(stored.os_hash_value, image.sha512);
      // No VO: no owner was set, no vmicast_vo property written.
      assert.equal(stored['vmicast_vo'], undefined);
    });

    it('delivers a two-disk appliance as two images in disk order', async () => {
      const disks = [await makeDisk(dir, 'vmdk', 0), await makeDisk(dir, 'vmdk', 1, '32M')];
      const image = makeRecord({
        title: 'Cluster appliance',
        appliance: 'appliance-1',
        supersedes: ['old-1', 'old-0'],
      });
      // The caller may pass the disks in any order; refs follow the OVF order.
      const { refs } = await backend.deliver(
        image,
        { file: '/ova', disks: [disks[1], disks[0]] as typeof disks },
        context(dir),
      );
      assert.equal(refs.length, 2);
      const stored = await Promise.all(refs.map((id) => getImage(glance().endpoint, id)));
      assert.deepEqual(
        stored.map((s) => [s?.name, s?.disk_format, s?.['vmicast_disk_index'], s?.['vmicast_disk_count']]),
        [
          ['Cluster appliance (disk 1)', 'vmdk', '0', '2'],
          ['Cluster appliance (disk 2)', 'vmdk', '1', '2'],
        ],
      );
      const [first, second] = stored;
      assert.ok(first !== undefined && second !== undefined);
      assert.equal(first.size, disks[0]?.size);
      assert.equal(second.os_hash_value, await sha512File(disks[1]?.path ?? ''));
      assert.equal(first['vmicast_appliance'], 'appliance-1');
      assert.equal(first['vmicast_supersedes'], 'old-1 old-0');
      const held = (await backend.list(context(dir))).find((h) => h.identifier === image.identifier);
      assert.deepEqual(held?.refs, refs);
    });

    it('delivering the same image twice keeps one Glance image', async () => {
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const first = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      const second = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.deepEqual(second.refs, first.refs);
      const all = await imagesFor(glance().endpoint, image.identifier);
      assert.equal(all.length, 1);
      assert.equal(all[0]?.status, 'active');
    });

    it('updates metadata only: properties and name change, the data stays', async () => {
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      const before = await getImage(glance().endpoint, refs[0] ?? '');
      const entry = Object.fromEntries(
        Object.entries({ ...image.entry, 'dc:description': 'Now with docs' }).filter(
          ([key]) => key !== 'ad:mpuri',
        ),
      );
      const changed = { ...image, title: 'Renamed', description: 'Now with docs', entry };
      await backend.updateMetadata(changed, refs, context(dir));
      const after = await getImage(glance().endpoint, refs[0] ?? '');
      assert.equal(after?.name, 'Renamed');
      assert.equal(after['vmcatcher_event_dc_description'], 'Now with docs');
      assert.equal(after['vmcatcher_event_ad_mpuri'], undefined, 'a key gone from the entry is removed');
      const attributes = JSON.parse(String(after['APPLIANCE_ATTRIBUTES'])) as Record<string, unknown>;
      assert.equal(attributes['dc:description'], 'Now with docs');
      assert.equal(after.os_hash_value, before?.os_hash_value);
      assert.equal(after.size, before?.size);
      assert.equal(after.status, 'active');
      assert.equal(after['vmicast_disk_sha512'], before?.['vmicast_disk_sha512']);
    });

    it('deprecation hides the image; delivering it again shows it', async () => {
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      await backend.deprecate(image, refs, context(dir));
      const hidden = await getImage(glance().endpoint, refs[0] ?? '');
      assert.equal(hidden?.os_hidden, true);
      assert.equal(hidden['vmicast_deprecated'], 'true');
      assert.equal(hidden['vmicast_deprecated_at'], '2025-06-01T12:00:00.000Z');
      assert.equal(hidden.status, 'active', 'still usable during the grace period');
      const held = (await backend.list(context(dir))).find((h) => h.identifier === image.identifier);
      assert.equal(held?.deprecated, true);
      const again = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.deepEqual(again.refs, refs);
      const shown = await getImage(glance().endpoint, refs[0] ?? '');
      assert.equal(shown?.os_hidden, false);
      assert.equal(shown['vmicast_deprecated'], 'false');
      assert.equal(shown['vmicast_deprecated_at'], undefined);
    });

    it('retire deletes the image', async () => {
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      assert.deepEqual(await backend.retire(image, refs, context(dir)), { done: true });
      assert.equal(await getImage(glance().endpoint, refs[0] ?? ''), undefined);
      assert.deepEqual(await imagesFor(glance().endpoint, image.identifier), []);
      // Retiring what is already gone is done too.
      assert.deepEqual(await backend.retire(image, refs, context(dir)), { done: true });
    });

    it('an image Glance will not delete is deactivated, then deleted on a later run', async () => {
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord({ sha512: await sha512File(disk.path) });
      const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir));
      const id = refs[0] ?? '';
      // `protected` is how Glance refuses deletion of an image in use.
      assert.equal(
        await patch(glance().endpoint, id, [{ op: 'replace', path: '/protected', value: true }]),
        200,
      );
      assert.deepEqual(await backend.retire(image, refs, context(dir)), { done: false });
      const pending = await getImage(glance().endpoint, id);
      assert.equal(pending?.status, 'deactivated');
      assert.equal(pending['vmicast_retire_pending'], 'true');
      assert.equal(pending.visibility, 'private');
      assert.equal(pending.os_hidden, true);
      // Still refused: still pending, nothing breaks.
      assert.deepEqual(await backend.retire(image, refs, context(dir)), { done: false });
      assert.equal(
        await patch(glance().endpoint, id, [{ op: 'replace', path: '/protected', value: false }]),
        200,
      );
      assert.deepEqual(await backend.retire(image, refs, context(dir)), { done: true });
      assert.equal(await getImage(glance().endpoint, id), undefined);
    });

    it('an in-place update (same identifier, new bytes) adds an image; retiring the old keeps the new', async () => {
      const oldDisk = await makeDisk(dir, 'raw', 0, '4M');
      const newDisk = await makeDisk(dir, 'raw', 0, '4M');
      const identifier = 'in-place-0001';
      const oldImage = makeRecord({ identifier, sha512: await sha512File(oldDisk.path), version: '1' });
      const newImage = makeRecord({ identifier, sha512: await sha512File(newDisk.path), version: '2' });
      const oldRefs = (
        await backend.deliver(oldImage, { file: oldDisk.path, disks: [oldDisk] }, context(dir))
      ).refs;
      const newRefs = (
        await backend.deliver(newImage, { file: newDisk.path, disks: [newDisk] }, context(dir))
      ).refs;
      assert.notDeepEqual(newRefs, oldRefs);
      assert.deepEqual(await backend.retire(oldImage, oldRefs, context(dir)), { done: true });
      const left = await imagesFor(glance().endpoint, identifier);
      assert.deepEqual(
        left.map((i) => [i.id, i['vmcatcher_event_hv_version']]),
        [[newRefs[0], '2']],
      );
    });

    it('a disk that cannot be read fails with BACKEND_FAILED before anything is created', async () => {
      const disk = await makeDisk(dir, 'raw', 0, '4M');
      const image = makeRecord();
      const missing = { ...disk, path: `${disk.path}.does-not-exist` };
      await assert.rejects(
        backend.deliver(image, { file: missing.path, disks: [missing] }, context(dir)),
        (err: unknown) =>
          err instanceof VmiError && err.code === 'BACKEND_FAILED' && /not a readable file/.test(err.message),
      );
      assert.deepEqual(await imagesFor(glance().endpoint, image.identifier), []);
    });

    it('an upload aborted half-way leaves nothing in Glance', async () => {
      const disk = await makeDisk(dir, 'raw', 0, '1G');
      const image = makeRecord();
      const abort = new AbortController();
      let settled = false;
      // Abort as soon as Glance has started to receive the data.
      const watcher = (async () => {
        while (!settled) {
          const saving = (await imagesFor(glance().endpoint, image.identifier)).some(
            (i) => i.status === 'saving',
          );
          if (saving) return abort.abort();
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const delivery = backend.deliver(image, { file: disk.path, disks: [disk] }, context(dir, abort.signal));
      await assert.rejects(
        delivery.finally(() => (settled = true)),
        (err: unknown) =>
          err instanceof VmiError && err.code === 'BACKEND_FAILED' && /aborted/.test(err.message),
      );
      await watcher;
      assert.deepEqual(await imagesFor(glance().endpoint, image.identifier), []);
    });

    it('refuses a disk format the configuration does not take, creating nothing', async () => {
      const rawOnly = createGlanceBackend({
        type: 'glance',
        name: 'raw-only',
        ...glance().access,
        diskFormat: 'raw',
      });
      assert.deepEqual(rawOnly.input, { kind: 'disks', formats: ['raw'] });
      const disk = await makeDisk(dir, 'qcow2');
      const image = makeRecord();
      await assert.rejects(
        rawOnly.deliver(image, { file: disk.path, disks: [disk] }, context(dir)),
        (err: unknown) => err instanceof VmiError && err.code === 'FORMAT_UNSUPPORTED',
      );
      assert.deepEqual(await imagesFor(glance().endpoint, image.identifier), []);
    });
  },
  { tools: ['qemu-img'] },
);
