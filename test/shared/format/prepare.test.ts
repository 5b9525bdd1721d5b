import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { prepareDisks } from '../../../src/shared/format/prepare.js';
import type { PreparedDisk } from '../../../src/shared/format/types.js';
import { tempDir } from '../../helpers/tmp.js';
import {
  buildTar,
  compressWith,
  listTree,
  makeOvf,
  qemuImg,
  qemuInfo,
  rejectsWith,
  requireTools,
  sameContent,
  writeRawDisk,
} from './images.js';

const MiB = 1024 * 1024;

function onlyDisk(disks: PreparedDisk[]): PreparedDisk {
  const [disk, ...rest] = disks;
  assert.ok(disk !== undefined && rest.length === 0, `expected one disk, got ${disks.length}`);
  return disk;
}

describe('prepareDisks', () => {
  let dir: string;
  let rawA: string;
  let rawB: string;
  before(async () => {
    dir = await tempDir('vmicast-prepare-');
    rawA = join(dir, 'a.raw');
    rawB = join(dir, 'b.raw');
    await writeRawDisk(rawA, 2 * MiB, 21);
    await writeRawDisk(rawB, 3 * MiB, 22);
  });

  /** A fresh, empty work directory. */
  async function work(name: string): Promise<string> {
    const path = join(dir, `work-${name}`);
    await mkdir(path);
    return path;
  }

  it('hands an image that needs nothing back unchanged', async () => {
    const workDir = await work('unchanged');
    const disks = await prepareDisks(rawA, 'any', workDir);
    assert.deepEqual(disks, [{ path: rawA, format: 'raw', size: 2 * MiB, index: 0, name: 'a.raw' }]);
    assert.deepEqual(await listTree(workDir), []);
  });

  it('converts raw to qcow2 and qcow2 to raw, and keeps a format that is already wanted', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const qcow2 = onlyDisk(await prepareDisks(rawA, ['qcow2'], await work('to-qcow2')));
    assert.equal(qcow2.format, 'qcow2');
    assert.equal(qemuInfo(qcow2.path, 'qcow2')['format'], 'qcow2');
    assert.ok(sameContent(rawA, 'raw', qcow2.path, 'qcow2'));
    assert.equal(qcow2.size, (await stat(qcow2.path)).size);

    const raw = onlyDisk(await prepareDisks(qcow2.path, ['raw'], await work('to-raw')));
    assert.equal(raw.format, 'raw');
    assert.equal(raw.size, 2 * MiB);
    assert.ok(sameContent(rawA, 'raw', raw.path, 'raw'));

    const kept = onlyDisk(await prepareDisks(qcow2.path, ['raw', 'qcow2'], await work('kept')));
    assert.equal(kept.path, qcow2.path);
  });

  it('converts a fixed VHD (detected by its footer) with -f vpc', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const vhd = join(dir, 'fixed.vhd');
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', rawA, vhd);
    const disk = onlyDisk(await prepareDisks(vhd, ['qcow2'], await work('fixed-vhd')));
    assert.equal(disk.format, 'qcow2');
    assert.ok(sameContent(vhd, 'vpc', disk.path, 'qcow2'));
  });

  it('decompresses gzip, bzip2 and xz images before looking at the disk', async (t) => {
    if (!requireTools(t, 'qemu-img', 'bzip2', 'xz')) return;
    const qcow2 = join(dir, 'b.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', rawB, qcow2);
    compressWith('xz', qcow2, join(dir, 'b.qcow2.xz'));
    compressWith('bzip2', rawB, join(dir, 'b.raw.bz2'));
    await writeFile(join(dir, 'b.raw.gz'), gzipSync(await readFile(rawB)));
    const fromXz = onlyDisk(await prepareDisks(join(dir, 'b.qcow2.xz'), 'any', await work('xz')));
    assert.equal(fromXz.format, 'qcow2');
    assert.ok(sameContent(rawB, 'raw', fromXz.path, 'qcow2'));
    for (const name of ['b.raw.bz2', 'b.raw.gz']) {
      const workDir = await work(name);
      const disk = onlyDisk(await prepareDisks(join(dir, name), ['raw'], workDir));
      assert.equal(disk.format, 'raw');
      assert.ok((await readFile(disk.path)).equals(await readFile(rawB)), name);
      assert.equal((await listTree(workDir)).length, 2, 'only the prepared disk and its folder remain');
    }
  });

  it('yields every disk of a compressed OVA in OVF order, converted to the wanted format', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const vmdk = join(dir, 'a.vmdk');
    const qcow2 = join(dir, 'b-ova.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', rawA, vmdk);
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', rawB, qcow2);
    const files = [
      { id: 'boot', href: 'vm-disk1.vmdk' },
      { id: 'data', href: 'vm-disk2.qcow2' },
    ];
    // Tar order: data disk first; OVF order: boot disk first (and its file gzip-compressed).
    const ova = await buildTar([
      {
        name: 'vm.ovf',
        data: makeOvf(files, ['boot', 'data']).replace(
          'ovf:href="vm-disk1.vmdk"',
          'ovf:href="vm-disk1.vmdk" ovf:compression="gzip"',
        ),
      },
      { name: 'vm-disk2.qcow2', data: await readFile(qcow2) },
      { name: 'vm.mf', data: 'SHA1(vm.ovf)= 0' },
      { name: 'vm-disk1.vmdk', data: gzipSync(await readFile(vmdk)) },
    ]);
    const file = join(dir, 'vm.ova.gz');
    await writeFile(file, gzipSync(ova));
    const workDir = await work('ova');
    const disks = await prepareDisks(file, ['qcow2'], workDir);
    assert.deepEqual(
      disks.map((d) => [d.index, d.name, d.format]),
      [
        [0, 'vm-disk1.vmdk', 'qcow2'],
        [1, 'vm-disk2.qcow2', 'qcow2'],
      ],
    );
    assert.ok(sameContent(rawA, 'raw', disks[0]?.path ?? '', 'qcow2'), 'disk 0 is the boot disk');
    assert.ok(sameContent(rawB, 'raw', disks[1]?.path ?? '', 'qcow2'), 'disk 1 is the data disk');
    const tree = await listTree(workDir);
    assert.equal(tree.length, 3, `only the two disks remain: ${tree.join(', ')}`);
  });

  // Images that are not self-contained are FORMAT_UNSUPPORTED: nothing failed while
  // converting; the input itself asks to read other files of this host.
  it('refuses images that refer to other files, leaving the work directory empty', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const overlay = join(dir, 'overlay.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', rawA, '-F', 'raw', overlay);
    const external = join(dir, 'external.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'external.data')}`, external, '1M');
    const flat = join(dir, 'flat.vmdk');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', rawA, flat);
    const cases: [string, string][] = [
      [overlay, 'qcow2 image names a backing file'],
      [external, 'external file'],
      [flat, 'VMDK descriptor file refers to extents in other files'],
    ];
    for (const [file, fragment] of cases) {
      const workDir = await work(`refuse-${file.slice(dir.length + 1)}`);
      await rejectsWith(prepareDisks(file, ['raw'], workDir), 'FORMAT_UNSUPPORTED', fragment);
      assert.deepEqual(await listTree(workDir), []);
    }
  });

  it('refuses junk, double compression, oversized disks and an empty format list', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const text = join(dir, 'readme.img');
    await writeFile(text, 'this is not a disk image\n');
    await rejectsWith(
      prepareDisks(text, 'any', await work('junk')),
      'FORMAT_UNSUPPORTED',
      'not a disk image',
    );
    const twice = join(dir, 'twice.gz');
    await writeFile(twice, gzipSync(gzipSync(await readFile(rawA))));
    await rejectsWith(
      prepareDisks(twice, 'any', await work('twice')),
      'FORMAT_UNSUPPORTED',
      'compressed twice (gzip, then gzip)',
    );
    const huge = join(dir, 'huge.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', huge, '1T');
    const err = await rejectsWith(
      prepareDisks(huge, 'any', await work('huge'), undefined, {
        limits: { maxVirtualSize: 512 * 1024 ** 3 },
      }),
      'IMAGE_TOO_LARGE',
      'virtual size 1099511627776 bytes exceeds the limit',
    );
    assert.equal(err.details?.['virtualSize'], 1024 ** 4);
    await rejectsWith(
      prepareDisks(rawA, [], await work('none')),
      'CONFIG_INVALID',
      'at least one disk format',
    );
  });

  it('stops when aborted during a conversion and leaves nothing behind', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const workDir = await work('abort');
    const controller = new AbortController();
    const preparing = prepareDisks(rawB, ['qcow2'], workDir, controller.signal, {
      conversionRateLimit: 256 * 1024,
    });
    while (!(await listTree(workDir)).some((name) => name.endsWith('.partial')))
      await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('shutting down'));
    await assert.rejects(preparing, /shutting down/);
    assert.deepEqual(await listTree(workDir), []);
  });
});
