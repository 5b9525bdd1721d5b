import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/shared/errors.js';
import { extractOva, normalizeEntryName, readOvaDisks } from '../../../src/shared/format/ova.js';
import { tempDir } from '../../helpers/tmp.js';
import { buildTar, listTree, makeOvf, rejectsWith, type TarEntrySpec } from './images.js';

const FILES = [
  { id: 'file1', href: 'vm-disk1.vmdk' },
  { id: 'file2', href: 'vm-disk2.vmdk' },
];
const OVF = makeOvf(FILES, ['file2', 'file1']);

/** A valid two-disk OVA; tests change one thing. Tar order: ovf, disk1, manifest, disk2. */
function validEntries(): TarEntrySpec[] {
  return [
    { name: 'vm.ovf', data: OVF },
    { name: 'vm-disk1.vmdk', data: 'first disk bytes' },
    { name: 'vm.mf', data: 'SHA256(vm.ovf)= 00' },
    { name: 'vm-disk2.vmdk', data: 'second disk bytes' },
  ];
}

/** A scratch root with the archive and an empty work directory. */
async function setUp(archive: Buffer): Promise<{ root: string; file: string; work: string }> {
  const root = await tempDir('vmicast-ova-');
  const file = join(root, 'image.ova');
  const work = join(root, 'work');
  await writeFile(file, archive);
  await mkdir(work);
  return { root, file, work };
}

/** Changes the declared size of the first tar entry and fixes the header checksum. */
function withDeclaredSize(archive: Buffer, size: number): Buffer {
  const copy = Buffer.from(archive);
  copy.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  copy.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of copy.subarray(0, 512)) sum += byte;
  copy.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return copy;
}

describe('OVA reader', () => {
  it('extracts the disks in OVF order under generated names and drops other entries', async () => {
    const { file, work } = await setUp(await buildTar(validEntries()));
    const disks = await readOvaDisks(file, work);
    assert.deepEqual(
      disks.map((d) => d.name),
      ['vm-disk2.vmdk', 'vm-disk1.vmdk'],
    );
    assert.equal((await readFile(disks[0]?.path ?? '')).toString(), 'second disk bytes');
    assert.equal((await readFile(disks[1]?.path ?? '')).toString(), 'first disk bytes');
    assert.deepEqual(
      disks.map((d) => d.size),
      [17, 16],
    );
    const tree = await listTree(work);
    assert.equal(tree.length, 3, `only the two disks remain: ${tree.join(', ')}`);
    assert.ok(
      tree.every((path) => /^ova-[^/]+\/(entry-\d{3})?$/.test(path)),
      tree.join(', '),
    );
  });

  it('returns the descriptor and every regular file by normalized name', async () => {
    const entries = validEntries();
    entries.unshift({ name: './', type: 'directory' });
    entries[2] = { name: './vm-disk1.vmdk', data: 'first disk bytes' };
    const { file, work } = await setUp(await buildTar(entries));
    const contents = await extractOva(file, work);
    assert.equal(contents.descriptorName, 'vm.ovf');
    assert.equal(contents.descriptor, OVF);
    assert.deepEqual([...contents.entries.keys()], ['vm-disk1.vmdk', 'vm.mf', 'vm-disk2.vmdk']);
  });

  const unsafe: {
    what: string;
    change: (entries: TarEntrySpec[]) => TarEntrySpec[];
    code: ErrorCode;
    fragment: string;
  }[] = [
    {
      what: 'absolute path',
      change: (e) => [...e, { name: '/etc/cron.d/x', data: 'x' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'absolute path',
    },
    {
      what: '.. component',
      change: (e) => [...e, { name: '../x', data: 'x' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'path with ".."',
    },
    {
      what: 'nested ..',
      change: (e) => [...e, { name: 'a/../../x', data: 'x' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: '".."',
    },
    {
      what: 'backslash',
      change: (e) => [...e, { name: '..\\x', data: 'x' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'backslash',
    },
    {
      what: 'symlink',
      change: (e) => [...e, { name: 'link.vmdk', type: 'symlink', linkname: '/etc/shadow' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'symlink entry',
    },
    {
      what: 'hardlink',
      change: (e) => [...e, { name: 'hard.vmdk', type: 'link', linkname: 'vm-disk1.vmdk' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'link entry',
    },
    {
      what: 'character device',
      change: (e) => [...e, { name: 'null', type: 'character-device' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'character-device entry',
    },
    {
      what: 'block device',
      change: (e) => [...e, { name: 'sda', type: 'block-device' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'block-device entry',
    },
    {
      what: 'fifo',
      change: (e) => [...e, { name: 'pipe', type: 'fifo' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'fifo entry',
    },
    {
      what: '1000 entries',
      change: (e) => [...e, ...Array.from({ length: 996 }, (_, i) => ({ name: `f${i}`, data: 'x' }))],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'more than 64 entries',
    },
    {
      what: 'a file entry named "./"',
      change: (e) => [...e, { name: './', data: 'x' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'file entry without a name',
    },
    {
      what: 'duplicate entry name',
      change: (e) => [...e, { name: './vm-disk1.vmdk', data: 'shadow copy' }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'appears twice',
    },
    {
      what: 'two OVF descriptors (ambiguous: two readers could pick different disks)',
      change: (e) => [...e, { name: 'other.ovf', data: OVF }],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'two OVF descriptors',
    },
    {
      what: 'OVF with DOCTYPE and ENTITY',
      change: (e) => [
        {
          name: 'vm.ovf',
          data: OVF.replace('<Envelope', '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Envelope'),
        },
        ...e.slice(1),
      ],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'DOCTYPE or ENTITY',
    },
    // Not unsafe, just not an OVA: FORMAT_UNSUPPORTED.
    {
      what: 'no OVF descriptor',
      change: (e) => e.slice(1),
      code: 'FORMAT_UNSUPPORTED',
      fragment: 'holds no OVF descriptor',
    },
    {
      what: 'OVF naming a disk the archive lacks',
      change: (e) => e.filter((x) => x.name !== 'vm-disk2.vmdk'),
      code: 'FORMAT_UNSUPPORTED',
      fragment: 'which the archive lacks',
    },
    {
      what: 'OVF href escaping the archive',
      change: (e) => [
        { name: 'vm.ovf', data: OVF.replace('vm-disk2.vmdk', '../vm-disk2.vmdk') },
        ...e.slice(1),
      ],
      code: 'ARCHIVE_UNSAFE',
      fragment: 'path with ".."',
    },
    {
      what: 'OVF without disks',
      change: (e) => [{ name: 'vm.ovf', data: makeOvf([], []) }, ...e.slice(1)],
      code: 'FORMAT_UNSUPPORTED',
      fragment: 'OVA holds no disk',
    },
  ];

  for (const { what, change, code, fragment } of unsafe) {
    it(`refuses an archive with ${what} (${code}) and leaves nothing behind`, async () => {
      const { root, file, work } = await setUp(await buildTar(change(validEntries())));
      await rejectsWith(readOvaDisks(file, work), code, fragment);
      assert.deepEqual(await listTree(root), ['image.ova', 'work/']);
    });
  }

  it('refuses an entry whose header declares more bytes than the archive holds', async () => {
    const archive = await buildTar([{ name: 'vm-disk1.vmdk', data: 'x'.repeat(100) }, ...validEntries()]);
    const { root, file, work } = await setUp(withDeclaredSize(archive, 64 * 1024 * 1024));
    await rejectsWith(readOvaDisks(file, work), 'ARCHIVE_UNSAFE', 'more than the archive holds');
    assert.deepEqual(await listTree(root), ['image.ova', 'work/']);
  });

  it('refuses a truncated archive, cut inside a header or inside the data', async () => {
    const archive = await buildTar([...validEntries(), { name: 'big.bin', data: Buffer.alloc(8192, 1) }]);
    const endOfData = archive.length - 1024;
    const cuts: [number, string][] = [
      [endOfData - 8192 - 300, 'malformed tar archive: Unexpected end of data'],
      [endOfData - 4096, 'more than the archive holds'],
    ];
    for (const [length, fragment] of cuts) {
      const { root, file, work } = await setUp(archive.subarray(0, length));
      await rejectsWith(readOvaDisks(file, work), 'ARCHIVE_UNSAFE', fragment);
      assert.deepEqual(await listTree(root), ['image.ova', 'work/']);
    }
  });

  it('stops when aborted and removes what it extracted', async () => {
    const { root, file, work } = await setUp(await buildTar(validEntries()));
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await assert.rejects(readOvaDisks(file, work, { signal: controller.signal }), /shutting down/);
    assert.deepEqual(await listTree(root), ['image.ova', 'work/']);
  });

  it('stops in the middle of a large entry when aborted and removes the partial file', async () => {
    const big = Buffer.alloc(64 * 1024 * 1024, 7);
    const { root, file, work } = await setUp(
      await buildTar([
        { name: 'vm.ovf', data: OVF },
        { name: 'vm-disk1.vmdk', data: big },
      ]),
    );
    const controller = new AbortController();
    const reading = readOvaDisks(file, work, { signal: controller.signal });
    // Abort as soon as the first extracted file shows up, well before 64 MiB are written.
    while ((await listTree(work)).every((path) => !path.includes('entry-')))
      await new Promise((r) => setImmediate(r));
    controller.abort(new Error('shutting down'));
    await assert.rejects(reading, /shutting down/);
    assert.deepEqual(await listTree(root), ['image.ova', 'work/']);
  });

  it('normalizes entry names and refuses the ones that could escape', () => {
    assert.equal(normalizeEntryName('./a//b/./c.vmdk'), 'a/b/c.vmdk');
    assert.equal(normalizeEntryName('disk.vmdk'), 'disk.vmdk');
    for (const bad of ['/abs', 'C:/x', '..', 'a/..', 'a\\b', 'nul\0byte', 'x'.repeat(1025)]) {
      assert.throws(() => normalizeEntryName(bad), { code: 'ARCHIVE_UNSAFE' }, bad.slice(0, 20));
    }
  });
});
