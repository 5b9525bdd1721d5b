/**
 * The cloudkeeper project's OVA edge cases (test/fixtures/interop/cloudkeeper/ova, see
 * PROVENANCE.md there). Their "disks" and "descriptors" are short placeholder texts
 * ("dummy ovf\n", "dummy vmdk\n"), so none of them yields a usable disk: what matters is
 * that each one gets one clear, exact answer, both from the archive reader alone and from
 * the full preparation pipeline, and that no file is left behind.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/shared/errors.js';
import { detectFileFormat } from '../../../src/shared/format/detect.js';
import { extractOva } from '../../../src/shared/format/ova.js';
import { prepareDisks } from '../../../src/shared/format/prepare.js';
import type { DetectedFormat } from '../../../src/shared/format/types.js';
import { tempDir } from '../../helpers/tmp.js';
import { listTree, rejectsWith } from './images.js';

const FIXTURES = new URL('../../fixtures/interop/cloudkeeper/ova/', import.meta.url).pathname;

interface Expected {
  file: string;
  what: string;
  detected: DetectedFormat;
  /** The archive reader alone: the descriptor and other files found, or the refusal. */
  extract: { descriptor: string; entries: string[] } | { code: ErrorCode; fragment: string };
  /** The whole pipeline (`prepareDisks`). */
  prepare: { code: ErrorCode; fragment: string };
}

const NOT_XML = { code: 'FORMAT_UNSUPPORTED', fragment: 'image.ovf: OVF descriptor is not XML' } as const;
const NO_OVF = { code: 'FORMAT_UNSUPPORTED', fragment: 'tar archive holds no OVF descriptor' } as const;

const TABLE: Expected[] = [
  {
    file: 'image.ova',
    what: 'one OVF and one VMDK (placeholder texts)',
    detected: 'ova',
    extract: { descriptor: 'image.ovf', entries: ['image.vmdk'] },
    prepare: NOT_XML,
  },
  {
    file: 'fake-image01.ova',
    what: 'an OVF without a disk',
    detected: 'ova',
    extract: { descriptor: 'image.ovf', entries: ['dummy-file'] },
    prepare: NOT_XML,
  },
  {
    file: 'fake-image02.ova',
    what: 'a disk without an OVF',
    detected: 'tar',
    extract: NO_OVF,
    prepare: NO_OVF,
  },
  {
    file: 'fake-image03.ova',
    what: 'neither OVF nor disk',
    detected: 'tar',
    extract: NO_OVF,
    prepare: NO_OVF,
  },
  {
    file: 'fake-image04.ova',
    what: 'not a tar at all (15 bytes of text)',
    detected: 'raw',
    extract: { code: 'ARCHIVE_UNSAFE', fragment: 'malformed tar archive: Unexpected end of data' },
    prepare: { code: 'FORMAT_UNSUPPORTED', fragment: '15 bytes is not a whole number of 512-byte sectors' },
  },
  {
    file: 'fake-image05.ova',
    what: '500 entries',
    detected: 'tar',
    extract: { code: 'ARCHIVE_UNSAFE', fragment: 'more than 64 entries' },
    prepare: { code: 'ARCHIVE_UNSAFE', fragment: 'more than 64 entries' },
  },
  {
    file: 'fake-image06.ova',
    what: 'two disks behind pax headers',
    detected: 'ova',
    extract: { descriptor: 'image.ovf', entries: ['image-disk002.vmdk', 'image-disk001.vmdk'] },
    prepare: NOT_XML,
  },
  {
    file: 'fake-image07.ova',
    what: 'two OVF descriptors',
    detected: 'ova',
    extract: { code: 'ARCHIVE_UNSAFE', fragment: 'two OVF descriptors ("image-fake.ovf" and "image.ovf")' },
    prepare: { code: 'ARCHIVE_UNSAFE', fragment: 'two OVF descriptors' },
  },
];

describe('cloudkeeper OVA fixtures', () => {
  for (const expected of TABLE) {
    it(`${expected.file}: ${expected.what}`, async () => {
      const file = join(FIXTURES, expected.file);
      assert.equal(await detectFileFormat(file), expected.detected);
      const root = await tempDir('vmicast-ck-');
      const work = join(root, 'work');
      await mkdir(work);

      if ('descriptor' in expected.extract) {
        const contents = await extractOva(file, work);
        assert.equal(contents.descriptorName, expected.extract.descriptor);
        assert.deepEqual([...contents.entries.keys()], expected.extract.entries);
        for (const entry of contents.entries.values())
          assert.ok(entry.path.startsWith(`${contents.dir}/entry-`));
      } else {
        await rejectsWith(extractOva(file, work), expected.extract.code, expected.extract.fragment);
        assert.deepEqual(await listTree(work), []);
      }

      const prepareWork = join(root, 'prepare');
      await mkdir(prepareWork);
      await rejectsWith(
        prepareDisks(file, 'any', prepareWork),
        expected.prepare.code,
        expected.prepare.fragment,
      );
      assert.deepEqual(await listTree(prepareWork), []);
    });
  }
});
