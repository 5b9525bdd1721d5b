import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  detectFileFormat,
  detectFormatFromHeader,
  headerRefusal,
  sampleFile,
  HEAD_BYTES,
} from '../../../src/shared/format/detect.js';
import { tempDir } from '../../helpers/tmp.js';
import { buildTar, compressWith, qemuImg, requireTools, writeRawDisk } from './images.js';

const FIXTURES = new URL('../../fixtures/interop/cloudkeeper/ova/', import.meta.url).pathname;
const MiB = 1024 * 1024;

/** Sets a big-endian VHD footer field and fixes the footer checksum. */
function patchVhdFooter(footer: Buffer, offset: number, value: number): void {
  footer.writeUInt32BE(value, offset);
  footer.writeUInt32BE(0, 64);
  let sum = 0;
  for (const byte of footer.subarray(0, 512)) sum += byte;
  footer.writeUInt32BE(~sum >>> 0, 64);
}

describe('format detection from content', () => {
  let dir: string;
  let raw: string;
  before(async () => {
    dir = await tempDir('vmicast-detect-');
    raw = join(dir, 'disk.raw');
    await writeRawDisk(raw, 2 * MiB, 1);
  });

  it('recognises every disk format qemu-img writes, whatever the file is called', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const cases: [string, string[], string][] = [
      ['qcow2', ['-O', 'qcow2'], 'qcow2'],
      ['vmdk-sparse', ['-O', 'vmdk'], 'vmdk'],
      ['vmdk-stream', ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], 'vmdk'],
      ['vmdk-flat', ['-O', 'vmdk', '-o', 'subformat=monolithicFlat'], 'vmdk-descriptor'],
      ['vhd-dynamic', ['-O', 'vpc'], 'vhd'],
      ['vhd-fixed', ['-O', 'vpc', '-o', 'subformat=fixed'], 'vhd'],
      ['vhdx', ['-O', 'vhdx'], 'vhdx'],
      ['vdi', ['-O', 'vdi'], 'vdi'],
    ];
    for (const [name, args, expected] of cases) {
      const path = join(dir, `${name}.img`);
      qemuImg('convert', '-f', 'raw', ...args, raw, path);
      assert.equal(await detectFileFormat(path), expected, name);
    }
    assert.equal(await detectFileFormat(raw), 'raw');
  });

  it('needs the tail to see a fixed VHD: its only signature is the footer', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const path = join(dir, 'fixed-tail.vhd');
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', raw, path);
    const { head, tail } = await sampleFile(path);
    assert.equal(detectFormatFromHeader(head), 'raw');
    assert.equal(detectFormatFromHeader(head, tail), 'vhd');
    // A footer with a wrong checksum is not a footer.
    const broken = Buffer.from(tail);
    broken[70] = (broken[70] ?? 0) ^ 0xff;
    assert.equal(detectFormatFromHeader(head, broken), 'raw');
  });

  it('recognises gzip, bzip2 and xz of a raw image', async (t) => {
    if (!requireTools(t, 'bzip2', 'xz')) return;
    const gz = join(dir, 'disk.gz');
    await writeFile(gz, gzipSync(await readFile(raw)));
    assert.equal(await detectFileFormat(gz), 'gzip');
    compressWith('bzip2', raw, join(dir, 'disk.bz2'));
    assert.equal(await detectFileFormat(join(dir, 'disk.bz2')), 'bzip2');
    compressWith('xz', raw, join(dir, 'disk.xz'));
    assert.equal(await detectFileFormat(join(dir, 'disk.xz')), 'xz');
  });

  it('tells an OVA (tar with an .ovf entry) from a plain tar', async () => {
    const ova = await buildTar([
      { name: 'vm.ovf', data: '<Envelope/>' },
      { name: 'vm-disk1.vmdk', data: 'x' },
    ]);
    assert.equal(detectFormatFromHeader(ova), 'ova');
    const descriptorLast = await buildTar([
      { name: 'vm-disk1.vmdk', data: 'x'.repeat(1000) },
      { name: 'vm.ovf', data: '<Envelope/>' },
    ]);
    assert.equal(detectFormatFromHeader(descriptorLast), 'ova');
    assert.equal(detectFormatFromHeader(await buildTar([{ name: 'disk.img', data: 'x' }])), 'tar');
    // The cloudkeeper fixture with pax headers keeps its OVF third.
    assert.equal(await detectFileFormat(join(FIXTURES, 'fake-image06.ova')), 'ova');
    assert.equal(await detectFileFormat(join(FIXTURES, 'fake-image02.ova')), 'tar');
    // A ustar magic with a wrong header checksum is not a tar.
    const corrupt = Buffer.from(ova);
    corrupt[0] = 0x41;
    assert.equal(detectFormatFromHeader(corrupt), 'raw');
  });

  it('recognises an ISO 9660 descriptor and falls back to raw for anything else', () => {
    const iso = Buffer.alloc(HEAD_BYTES);
    iso.write('CD001', 0x8001, 'latin1');
    assert.equal(detectFormatFromHeader(iso), 'iso');
    assert.equal(detectFormatFromHeader(Buffer.from('not an archive\n')), 'raw');
    assert.equal(detectFormatFromHeader(Buffer.alloc(0)), 'raw');
    assert.equal(detectFormatFromHeader(Buffer.from([0x1f, 0x8b, 0x08])), 'gzip');
    assert.equal(detectFormatFromHeader(Buffer.from('BZh9 not really')), 'raw');
  });

  it('never throws and is deterministic on arbitrary bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2048 }),
        fc.option(fc.uint8Array({ maxLength: 600 })),
        (head, tail) => {
          const first = detectFormatFromHeader(head, tail ?? undefined);
          assert.equal(detectFormatFromHeader(head, tail ?? undefined), first);
        },
      ),
    );
  });
});

describe('header checks for images that are not self-contained', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('vmicast-refusal-');
  });

  it('refuses a qcow2 naming a backing file, and one with an external data file', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const base = join(dir, 'base.raw');
    await writeRawDisk(base, MiB, 2);
    const overlay = join(dir, 'overlay.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay);
    assert.equal(headerRefusal('qcow2', await sampleFile(overlay)), 'qcow2 image names a backing file');
    const external = join(dir, 'external.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'data.raw')}`, external, '1M');
    assert.equal(
      headerRefusal('qcow2', await sampleFile(external)),
      'qcow2 image keeps its data in an external file',
    );
    const plain = join(dir, 'plain.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', plain, '1M');
    assert.equal(headerRefusal('qcow2', await sampleFile(plain)), undefined);
  });

  it('refuses VMDK descriptors and differencing VHD and VDI images', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const raw = join(dir, 'small.raw');
    await writeRawDisk(raw, MiB, 3);
    const vhd = join(dir, 'dynamic.vhd');
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', raw, vhd);
    const sample = await sampleFile(vhd);
    assert.equal(headerRefusal('vhd', sample), undefined);
    patchVhdFooter(sample.head, 60, 4);
    assert.equal(detectFormatFromHeader(sample.head), 'vhd', 'checksum fixed after the change');
    assert.equal(headerRefusal('vhd', sample), 'differencing VHD needs a parent disk');

    const vdi = join(dir, 'disk.vdi');
    qemuImg('convert', '-f', 'raw', '-O', 'vdi', raw, vdi);
    const vdiSample = await sampleFile(vdi);
    assert.equal(headerRefusal('vdi', vdiSample), undefined);
    vdiSample.head.writeUInt32LE(4, 0x4c);
    assert.equal(headerRefusal('vdi', vdiSample), 'differencing VDI needs a parent disk');

    const flat = join(dir, 'flat.vmdk');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', raw, flat);
    assert.equal(
      headerRefusal('vmdk-descriptor', await sampleFile(flat)),
      'VMDK descriptor file refers to extents in other files',
    );
    const sparse = join(dir, 'sparse.vmdk');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', raw, sparse);
    const sparseSample = await sampleFile(sparse);
    assert.equal(headerRefusal('vmdk', sparseSample), undefined);
    sparseSample.head.writeBigUInt64LE(0n, 12);
    assert.match(headerRefusal('vmdk', sparseSample) ?? '', /holds no data of its own/);
  });
});
