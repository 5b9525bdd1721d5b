import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  parseQemuInfo,
  qemuImgConvert,
  qemuImgInfo,
  selfContainedProblem,
} from '../../../src/shared/format/qemu.js';
import { tempDir } from '../../helpers/tmp.js';
import {
  listTree,
  qemuImg,
  qemuInfo,
  rejectsWith,
  requireTools,
  sameContent,
  writeRawDisk,
} from './images.js';

const MiB = 1024 * 1024;

describe('qemu-img info and convert', () => {
  let dir: string;
  let raw: string;
  before(async () => {
    dir = await tempDir('vmicast-qemu-');
    raw = join(dir, 'disk.raw');
    await writeRawDisk(raw, 4 * MiB, 9);
  });

  it('converts raw to qcow2 and back, keeping the guest-visible bytes', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const qcow2 = join(dir, 'disk.qcow2');
    await qemuImgConvert(raw, 'raw', qcow2, 'qcow2');
    const info = qemuInfo(qcow2, 'qcow2');
    assert.equal(info['format'], 'qcow2');
    assert.equal(info['virtual-size'], 4 * MiB);
    assert.ok(sameContent(raw, 'raw', qcow2, 'qcow2'));

    const back = join(dir, 'back.raw');
    await qemuImgConvert(qcow2, 'qcow2', back, 'raw');
    assert.equal(qemuInfo(back, 'raw')['format'], 'raw');
    assert.equal((await stat(back)).size, 4 * MiB);
    assert.ok(sameContent(raw, 'raw', back, 'raw'));

    const vhd = join(dir, 'disk.vhd');
    await qemuImgConvert(qcow2, 'qcow2', vhd, 'vhd');
    assert.equal(qemuInfo(vhd, 'vpc')['format'], 'vpc', 'DiskFormat vhd is qemu-img vpc');
    assert.deepEqual(
      (await listTree(dir)).filter((name) => name.includes('partial')),
      [],
    );
  });

  it('reads info with the given format and reports what it needs', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const vmdk = join(dir, 'info.vmdk');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', raw, vmdk);
    const info = await qemuImgInfo(vmdk, 'vmdk');
    assert.equal(info.format, 'vmdk');
    assert.equal(info.virtualSize, 4 * MiB);
    assert.deepEqual(info.extents, [vmdk], 'a monolithic VMDK is its own only extent');
    assert.equal(selfContainedProblem(info), undefined);
  });

  it('finds backing files, external data files and foreign VMDK extents', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const overlay = join(dir, 'overlay.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', raw, '-F', 'raw', overlay);
    assert.equal(
      selfContainedProblem(await qemuImgInfo(overlay, 'qcow2')),
      `image names a backing file ${JSON.stringify(raw)}`,
    );
    const external = join(dir, 'external.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'external.data')}`, external, '1M');
    assert.match(selfContainedProblem(await qemuImgInfo(external, 'qcow2')) ?? '', /external file/);
    const flat = join(dir, 'flat.vmdk');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', raw, flat);
    assert.match(
      selfContainedProblem(await qemuImgInfo(flat, 'vmdk')) ?? '',
      /extent from another file ".*\/flat-flat\.vmdk"/,
    );
  });

  it('never lets qemu-img probe: a raw file read as qcow2 is CONVERSION_FAILED with its message', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    await rejectsWith(qemuImgInfo(raw, 'qcow2'), 'CONVERSION_FAILED', 'qemu-img info failed:');
    const output = join(dir, 'never.raw');
    await rejectsWith(
      qemuImgConvert(raw, 'qcow2', output, 'raw'),
      'CONVERSION_FAILED',
      'Image is not in qcow2 format',
    );
    await assert.rejects(stat(output), { code: 'ENOENT' });
  });

  it('reports a missing qemu-img program clearly', async () => {
    await rejectsWith(
      qemuImgInfo(raw, 'raw', { program: join(dir, 'no-such-qemu-img') }),
      'CONVERSION_FAILED',
      'not found (Debian package qemu-utils)',
    );
  });

  it('an aborted conversion leaves no output file', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const big = join(dir, 'big.raw');
    await writeRawDisk(big, 8 * MiB, 11);
    const output = join(dir, 'aborted.qcow2');
    const controller = new AbortController();
    // A 1 MiB/s I/O limit keeps qemu-img busy for seconds, so the abort lands mid-way.
    const converting = qemuImgConvert(big, 'raw', output, 'qcow2', {
      signal: controller.signal,
      rateLimit: MiB,
    });
    while (!(await listTree(dir)).includes('aborted.qcow2.partial'))
      await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('shutting down'));
    await assert.rejects(converting, /shutting down/);
    assert.deepEqual(
      (await listTree(dir)).filter((name) => name.startsWith('aborted')),
      [],
    );
    const already = new AbortController();
    already.abort(new Error('too late'));
    await assert.rejects(qemuImgConvert(big, 'raw', output, 'qcow2', { signal: already.signal }), /too late/);
    await assert.rejects(stat(output), { code: 'ENOENT' });
  });

  it('a conversion past its deadline is CONVERSION_FAILED and leaves no output', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const output = join(dir, 'slow.qcow2');
    await rejectsWith(
      qemuImgConvert(raw, 'raw', output, 'qcow2', { timeoutMs: 300, rateLimit: 256 * 1024 }),
      'CONVERSION_FAILED',
      'timed out after 300 ms',
    );
    assert.deepEqual(
      (await listTree(dir)).filter((name) => name.startsWith('slow')),
      [],
    );
  });

  it('refuses info output it cannot understand', () => {
    assert.throws(() => parseQemuInfo('not json'), { code: 'CONVERSION_FAILED' });
    assert.throws(() => parseQemuInfo('{"format":"raw"}'), { code: 'CONVERSION_FAILED' });
    const info = parseQemuInfo(
      '{"format":"qcow2","virtual-size":1,"filename":"/a","full-backing-filename":"/b"}',
    );
    assert.equal(info.backingFile, '/b');
  });
});
