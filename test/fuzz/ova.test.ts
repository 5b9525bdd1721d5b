import assert from 'node:assert/strict';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { readOvaDisks } from '../../src/shared/format/ova.js';
import { tempDir } from '../helpers/tmp.js';
import { buildTar, listTree, makeOvf, type TarEntrySpec } from '../shared/format/images.js';
import { codedAsync, mutated, params } from './fuzz.js';

/**
 * The streaming OVA reader (SPEC.md section 6) on archives built from hostile entry lists
 * (escaping names, links, devices, duplicates, several descriptors, descriptors naming
 * missing disks) and on byte-level mutations of valid archives. It yields disks, or refuses
 * with ARCHIVE_UNSAFE / FORMAT_UNSUPPORTED; it never writes outside its work directory and
 * leaves nothing behind when it refuses.
 */

const CODES = ['ARCHIVE_UNSAFE', 'FORMAT_UNSUPPORTED'] as const;
const DISKS = [
  { id: 'file1', href: 'vm-disk1.vmdk' },
  { id: 'file2', href: 'vm-disk2.vmdk' },
];
const OVF = makeOvf(DISKS, ['file2', 'file1']);

const entryName = fc.oneof(
  fc.constantFrom(
    'vm.ovf',
    'VM.OVF',
    'vm-disk1.vmdk',
    'vm-disk2.vmdk',
    './vm-disk1.vmdk',
    'dir/vm-disk2.vmdk',
    'vm.mf',
    '../escape',
    '/etc/passwd',
    'a/../../b',
    'C:evil',
    'a\\b',
    'dir/',
    '.',
    '',
  ),
  fc.stringMatching(/^[a-z./]{1,12}$/),
);

const entry: fc.Arbitrary<TarEntrySpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ name: entryName, data: fc.oneof(fc.constant(OVF), fc.string({ maxLength: 64 })) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      name: entryName,
      type: fc.constantFrom('directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo'),
      linkname: fc.constantFrom('/etc/shadow', '../x', 'vm-disk1.vmdk'),
    }),
  },
);

function validEntries(): TarEntrySpec[] {
  return [
    { name: 'vm.ovf', data: OVF },
    { name: 'vm-disk1.vmdk', data: 'first disk bytes' },
    { name: 'vm.mf', data: 'SHA256(vm.ovf)= 00' },
    { name: 'vm-disk2.vmdk', data: 'second disk bytes' },
  ];
}

describe('OVA reader (fuzz, issue 8)', () => {
  let root: string;
  let valid: Uint8Array;
  let n = 0;

  before(async () => {
    root = await tempDir('vmicast-fuzz-ova-');
    valid = await buildTar(validEntries());
  });

  /** Reads one archive in a fresh directory; checks containment and clean-up. */
  async function readOne(archive: Uint8Array): Promise<boolean> {
    const dir = join(root, String(++n));
    const work = join(dir, 'work');
    await mkdir(work, { recursive: true });
    const file = join(dir, 'image.ova');
    await writeFile(file, archive);
    const started = performance.now();
    const outcome = await codedAsync(
      () => readOvaDisks(file, work, { limits: { maxOvaEntries: 16 } }),
      CODES,
    );
    assert.ok(performance.now() - started < 10_000, 'an archive took more than 10 s');
    assert.deepEqual(
      (await readdir(dir)).sort(),
      ['image.ova', 'work'],
      'nothing written beside the work directory',
    );
    try {
      if ('error' in outcome) {
        assert.deepEqual(await listTree(work), [], 'a refused archive leaves nothing behind');
        return false;
      }
      assert.ok(outcome.value.length > 0);
      for (const disk of outcome.value) {
        const inside = relative(resolve(work), resolve(disk.path));
        assert.ok(!inside.startsWith('..') && !inside.startsWith('/'), `${disk.path} is outside ${work}`);
        assert.equal((await stat(disk.path)).size, disk.size);
      }
      return true;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('archives built from hostile entry lists', async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 8 }), fc.boolean(), async (entries, withValid) => {
        const list = withValid ? [...validEntries(), ...entries] : entries;
        const archive = await buildTar(list).catch(() => undefined);
        if (archive !== undefined && !(await readOne(archive))) refused++;
      }),
      params(60),
    );
    assert.ok(refused > 0, 'hostile lists are refused');
  });

  it('byte-level mutations of a valid two-disk OVA', async () => {
    let read = 0;
    await fc.assert(
      fc.asyncProperty(mutated(valid, 3), async (archive) => {
        if (await readOne(archive)) read++;
      }),
      params(60),
    );
    assert.ok(await readOne(valid), 'the seed itself is a valid OVA');
    assert.ok(read > 0, 'some mutations keep the archive readable');
  });
});
