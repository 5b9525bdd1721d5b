import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DiskPreparer } from '../../src/catcher/deliver/disks.js';
import { VmiError } from '../../src/shared/errors.js';
import type { DiskFormat, PreparedDisk } from '../../src/shared/format/types.js';
import { tempDir } from '../helpers/tmp.js';
import {
  buildTar,
  listTree,
  makeOvf,
  qemuImg,
  rejectsWith,
  requireTools,
  sameContent,
  writeRawDisk,
} from '../shared/format/images.js';

const MiB = 1024 * 1024;

/** The format qemu-img finds by probing (fine here: these are the test's own files). */
function probedFormat(path: string): string {
  const json = execFileSync('qemu-img', ['info', '--output=json', path], { encoding: 'utf8' });
  return (JSON.parse(json) as { format: string }).format;
}

/** A qemu-img that logs each subcommand it runs, then runs the real one. */
async function countingQemuImg(dir: string): Promise<{ program: string; calls: () => Promise<string[]> }> {
  const log = join(dir, 'qemu-img.log');
  const program = join(dir, 'qemu-img');
  await writeFile(log, '');
  await writeFile(program, `#!/bin/sh\necho "$1" >> '${log}'\nexec qemu-img "$@"\n`);
  await chmod(program, 0o755);
  return { program, calls: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean) };
}

function count(calls: string[], command: string): number {
  return calls.filter((call) => call === command).length;
}

/** Four backends' format sets: two of them want the same conversion. */
const WANTED: readonly (readonly DiskFormat[])[] = [['qcow2'], ['qcow2'], ['qcow2', 'raw'], ['raw']];

describe('DiskPreparer: disks prepared once per run, shared by the backends', () => {
  let dir: string;
  let rawA: string;
  let rawB: string;
  before(async () => {
    dir = await tempDir('vmicast-disk-preparer-');
    rawA = join(dir, 'a.raw');
    rawB = join(dir, 'b.raw');
    await writeRawDisk(rawA, 2 * MiB, 31);
    await writeRawDisk(rawB, 3 * MiB, 32);
  });

  /** A preparer over a fresh work directory, with a qemu-img that counts its calls. */
  async function preparer(name: string): Promise<{
    disks: DiskPreparer;
    workDir: string;
    calls: () => Promise<string[]>;
  }> {
    const workDir = join(dir, `work-${name}`);
    await mkdir(workDir);
    const bin = join(dir, `bin-${name}`);
    await mkdir(bin);
    const tool = await countingQemuImg(bin);
    return {
      disks: new DiskPreparer(workDir, undefined, { qemuImg: tool.program }),
      workDir,
      calls: tool.calls,
    };
  }

  /** Every backend's disks, asked for all at once. */
  function prepareAll(disks: DiskPreparer, file: string): Promise<PreparedDisk[][]> {
    return Promise.all(WANTED.map((wanted) => disks.prepare(file, wanted)));
  }

  it('a raw image: one conversion to qcow2 for two backends, the cache file for raw', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const { disks, workDir, calls } = await preparer('raw');
    const [q1, q2, qr, r] = (await prepareAll(disks, rawA)).map(([disk]) => disk);
    assert.equal(count(await calls(), 'convert'), 1);
    assert.ok(q1 !== undefined && q2 !== undefined && qr !== undefined && r !== undefined);
    assert.deepEqual(q2, q1);
    assert.equal(q1.format, 'qcow2');
    assert.equal(probedFormat(q1.path), 'qcow2');
    assert.ok(sameContent(rawA, 'raw', q1.path, 'qcow2'));
    assert.deepEqual(qr, { path: rawA, format: 'raw', size: 2 * MiB, index: 0, name: 'a.raw' });
    assert.deepEqual(r, qr);
    // A later call in the same run reuses the copy too.
    assert.deepEqual(await disks.prepare(rawA, ['qcow2']), [q1]);
    assert.equal(count(await calls(), 'convert'), 1);
    await disks.close();
    assert.deepEqual(await listTree(workDir), []);
    await assert.rejects(disks.prepare(rawA, ['raw']), /after close/);
  });

  it('a gzip-compressed qcow2: decompressed and checked once, converted once to raw', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const qcow2 = join(dir, 'b.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', rawB, qcow2);
    const file = join(dir, 'b.qcow2.gz');
    await writeFile(file, gzipSync(await readFile(qcow2)));
    const { disks, workDir, calls } = await preparer('gz');
    const [q1, q2, qr, r] = (await prepareAll(disks, file)).map(([disk]) => disk);
    assert.ok(q1 !== undefined && q2 !== undefined && qr !== undefined && r !== undefined);
    const made = await calls();
    assert.equal(count(made, 'convert'), 1, made.join(' '));
    assert.equal(count(made, 'info'), 1, made.join(' '));
    assert.equal((await listTree(workDir)).filter((name) => /decompressed-/.test(name)).length, 1);
    for (const disk of [q2, qr]) assert.deepEqual(disk, q1);
    assert.equal(probedFormat(q1.path), 'qcow2');
    assert.ok(sameContent(rawB, 'raw', q1.path, 'qcow2'));
    assert.equal(r.format, 'raw');
    assert.equal(probedFormat(r.path), 'raw');
    assert.equal(r.size, 3 * MiB);
    assert.ok(sameContent(rawB, 'raw', r.path, 'raw'));
    await disks.close();
    assert.deepEqual(await listTree(workDir), []);
  });

  it('an OVA: taken apart once, each disk converted once per format', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const vmdk = join(dir, 'a.vmdk');
    const qcow2 = join(dir, 'b-ova.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', rawA, vmdk);
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', rawB, qcow2);
    const files = [
      { id: 'boot', href: 'boot.vmdk' },
      { id: 'data', href: 'data.qcow2' },
    ];
    const file = join(dir, 'vm.ova');
    await writeFile(
      file,
      await buildTar([
        { name: 'vm.ovf', data: makeOvf(files, ['boot', 'data']) },
        { name: 'data.qcow2', data: await readFile(qcow2) },
        { name: 'boot.vmdk', data: await readFile(vmdk) },
      ]),
    );
    const { disks, workDir, calls } = await preparer('ova');
    const results = await prepareAll(disks, file);
    const made = await calls();
    // vmdk -> qcow2 (three backends), vmdk -> raw and qcow2 -> raw (one): three conversions.
    assert.equal(count(made, 'convert'), 3, made.join(' '));
    assert.equal(count(made, 'info'), 2, made.join(' '));
    assert.equal((await listTree(workDir)).filter((name) => /\/ova-[^/]+\/$/.test(name)).length, 1);
    const shape = (set: PreparedDisk[] | undefined) => set?.map((d) => [d.index, d.name, d.format]);
    const qcow2s = [
      [0, 'boot.vmdk', 'qcow2'],
      [1, 'data.qcow2', 'qcow2'],
    ];
    assert.deepEqual(results.slice(0, 3).map(shape), [qcow2s, qcow2s, qcow2s]);
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
    assert.deepEqual(shape(results[3]), [
      [0, 'boot.vmdk', 'raw'],
      [1, 'data.qcow2', 'raw'],
    ]);
    for (const [index, source] of [rawA, rawB].entries()) {
      const [asQcow2, asRaw] = [results[0]?.[index]?.path ?? '', results[3]?.[index]?.path ?? ''];
      assert.equal(probedFormat(asQcow2), 'qcow2');
      assert.equal(probedFormat(asRaw), 'raw');
      assert.ok(sameContent(source, 'raw', asQcow2, 'qcow2'), `disk ${index} as qcow2`);
      assert.ok(sameContent(source, 'raw', asRaw, 'raw'), `disk ${index} as raw`);
    }
    await disks.close();
    assert.deepEqual(await listTree(workDir), []);
  });

  it('gives a refusal again without new work, and prepares a replaced file anew', async (t) => {
    if (!requireTools(t, 'qemu-img')) return;
    const { disks, workDir, calls } = await preparer('refusal');
    const junk = join(dir, 'junk.img.gz');
    await writeFile(junk, gzipSync('not a disk\n'));
    const [first, second] = await Promise.allSettled([
      disks.prepare(junk, ['raw']),
      disks.prepare(junk, ['qcow2']),
    ]);
    assert.ok(first.status === 'rejected' && second.status === 'rejected');
    assert.ok(first.reason instanceof VmiError && first.reason.code === 'FORMAT_UNSUPPORTED');
    assert.equal(second.reason, first.reason, 'the same refusal, not a second attempt');
    await rejectsWith(disks.prepare(rawA, []), 'CONFIG_INVALID', 'at least one disk format');

    const file = join(dir, 'replaced.raw');
    await writeFile(file, await readFile(rawA));
    const [before] = await disks.prepare(file, ['qcow2']);
    await writeFile(`${file}.new`, await readFile(rawB));
    await rename(`${file}.new`, file);
    const [after] = await disks.prepare(file, ['qcow2']);
    assert.notEqual(after?.path, before?.path);
    assert.ok(sameContent(rawB, 'raw', after?.path ?? '', 'qcow2'), 'the new bytes, not the old copy');
    assert.equal(count(await calls(), 'convert'), 2);
    await disks.close();
    assert.deepEqual(await listTree(workDir), []);
  });
});
