import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, before, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { imageViews } from '../../src/catcher/views.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { describeWithGlance } from '../helpers/glance.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';
import { buildTar, makeOvf } from '../shared/format/images.js';
import { imagesFor } from './glance-fixtures.js';

const run = promisify(execFile);

/** A disk image file of `format` with distinct content (a raw file with a marker, converted). */
async function diskFile(dir: string, name: string, format: 'qcow2' | 'vmdk' | 'raw'): Promise<Uint8Array> {
  const raw = join(dir, `${name}.raw`);
  const data = new Uint8Array(2 * 1024 * 1024);
  data.set(new TextEncoder().encode(`disk ${name} ${Math.random()}`), 0);
  await writeFile(raw, data);
  if (format === 'raw') return data;
  const out = join(dir, `${name}.${format}`);
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', format, raw, out]);
  return new Uint8Array(await readFile(out));
}

/**
 * The whole pipeline into a real Glance (issue 6): sync downloads and verifies, the format
 * module prepares disks (an OVA gives one Glance image per disk, in OVF order), the Glance
 * backend uploads; successors replace images make-before-break; metadata updates patch.
 */
describeWithGlance(
  'sync delivers into a real Glance',
  (glance) => {
    let repo: Repo;
    let catcher: Catcher;
    let qcow2: RepoImage;
    let ova: RepoImage;
    let packed: RepoImage;
    let unpacked: Uint8Array;
    let work: string;

    before(async () => {
      work = await tempDir('vmicast-glance-e2e-');
      repo = await Repo.create();
      catcher = await (
        await makeCatcherHome(repo.grid, {
          backends: [{ type: 'glance', name: 'site', ...glance().access }],
        })
      ).open();
      qcow2 = repo.add(await diskFile(work, 'single', 'qcow2'), {
        extra: { 'hv:format': 'qcow2', 'ad:mpuri': 'https://appdb.example.org/store/vm/1' },
      });
      const [first, second] = [await diskFile(work, 'second', 'vmdk'), await diskFile(work, 'first', 'vmdk')];
      const tar = await buildTar([
        {
          name: 'appliance.ovf',
          data: makeOvf(
            [
              { id: 'f2', href: 'second.vmdk' },
              { id: 'f1', href: 'first.vmdk' },
            ],
            ['f1', 'f2'],
          ),
        },
        { name: 'second.vmdk', data: first },
        { name: 'first.vmdk', data: second },
      ]);
      ova = repo.add(new Uint8Array(tar), { extra: { 'hv:format': 'OVA' } });
      unpacked = await diskFile(work, 'packed', 'raw');
      packed = repo.add(new Uint8Array(gzipSync(unpacked)), { extra: { 'hv:format': 'raw' } });
      repo.publish({ vo: 'vo.example.org' });
      await subscribe(catcher, openSubscription(repo.listUrl));
    });
    after(async () => {
      await catcher.close();
      await repo.stop();
    });

    it('delivers a qcow2 image and a two-disk OVA with the cloud-info-provider properties', async () => {
      const report = await syncOnce(catcher);
      assert.equal(report.failures, 0, JSON.stringify(report.deliveries));
      // One pass (issue 14): the qcow2 went into Glance while it downloaded; the OVA needs unpacking.
      const streamed = (id: string) => report.downloads.find((d) => d.identifier === id)?.streamedTo;
      assert.deepEqual(streamed(qcow2.identifier), ['site']);
      assert.equal(streamed(ova.identifier), undefined);
      // A gzip image is decompressed on the way: Glance holds the disk inside.
      assert.deepEqual(streamed(packed.identifier), ['site']);
      const [disk] = await imagesFor(glance().endpoint, packed.identifier);
      assert.equal(disk?.disk_format, 'raw');
      assert.equal(disk.os_hash_value, createHash('sha512').update(unpacked).digest('hex'));
      assert.equal(disk.size, unpacked.length);
      const [single, ...extra] = await imagesFor(glance().endpoint, qcow2.identifier);
      assert.ok(single);
      assert.equal(extra.length, 0);
      assert.equal(single.disk_format, 'qcow2');
      assert.equal(single.status, 'active');
      assert.equal(single.os_hidden, false);
      assert.equal(single.os_hash_value, qcow2.entry['sl:checksum:sha512']);
      assert.equal(single.container_format, 'bare');
      assert.equal(single['vmcatcher_event_sl_checksum_sha512'], qcow2.entry['sl:checksum:sha512']);
      assert.equal(single['vmcatcher_event_ad_mpuri'], 'https://appdb.example.org/store/vm/1');
      assert.equal(single['vmcatcher_event_hv_version'], '1');
      assert.equal(
        (JSON.parse(String(single['APPLIANCE_ATTRIBUTES'])) as Record<string, unknown>)['dc:identifier'],
        qcow2.identifier,
      );
      const disks = (await imagesFor(glance().endpoint, ova.identifier)).sort((a, b) =>
        String(a.name).localeCompare(String(b.name)),
      );
      assert.equal(disks.length, 2);
      assert.deepEqual(
        disks.map((d) => d.disk_format),
        ['vmdk', 'vmdk'],
      );
      assert.match(String(disks[0]?.name), /\(disk 1\)/);
      assert.deepEqual(
        imageViews(catcher.db, ['site']).map((v) => v.state),
        ['delivered', 'delivered', 'delivered'],
      );
    });

    it('patches metadata without uploading again', async () => {
      const before = (await imagesFor(glance().endpoint, qcow2.identifier))[0];
      repo.replace(qcow2.identifier, {
        ...qcow2,
        entry: { ...qcow2.entry, 'dc:description': 'new description' },
      });
      repo.publish({ vo: 'vo.example.org' });
      assert.equal((await syncOnce(catcher)).failures, 0);
      const [after, ...extra] = await imagesFor(glance().endpoint, qcow2.identifier);
      assert.equal(extra.length, 0);
      assert.equal(after?.id, before?.id, 'the same Glance image');
      assert.equal(after?.['vmcatcher_event_dc_description'], 'new description');
    });

    it('replaces a superseded image make-before-break', async () => {
      const successor = repo.image(await diskFile(work, 'successor', 'qcow2'), {
        extra: { 'hv:format': 'qcow2', 'vmi:supersedes': [qcow2.identifier] },
      });
      repo.remove(qcow2.identifier);
      repo.images.push(successor);
      repo.publish({ vo: 'vo.example.org' });
      const report = await syncOnce(catcher);
      assert.equal(report.failures, 0);
      // Make before break: the successor is delivered first, the old image retired after it.
      const steps = report.deliveries.map((d) => `${d.action} ${d.identifier}`);
      const delivered = steps.indexOf(`deliver ${successor.identifier}`);
      const retired = steps.indexOf(`retire ${qcow2.identifier}`);
      assert.ok(delivered >= 0 && retired > delivered, steps.join(', '));
      assert.equal((await imagesFor(glance().endpoint, qcow2.identifier)).length, 0);
      assert.equal((await imagesFor(glance().endpoint, successor.identifier))[0]?.status, 'active');
    });
  },
  { tools: ['qemu-img'] },
);
