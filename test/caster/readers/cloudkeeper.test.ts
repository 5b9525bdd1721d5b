/**
 * Contract with cloudkeeper, whose lists came from AppDB: its rules are what every AppDB list in
 * the cloudkeeper fixtures carries (every image with the ad:* keys and its own dc:date:expires),
 * checked against those fixtures first, then against what vmicaster publishes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  documentProblems,
  EXACT_DATE,
  readerContract,
  readerProblems,
  type ReaderRules,
  withoutImageKey,
} from '../../helpers/caster-readers.js';

const CLOUDKEEPER: ReaderRules = {
  name: 'cloudkeeper',
  listKeys: [
    'ad:vo',
    'dc:date:created',
    'dc:date:expires',
    'dc:description',
    'dc:identifier',
    'dc:source',
    'dc:title',
    'hv:endorser',
    'hv:images',
    'hv:uri',
    'hv:version',
  ],
  endorserKeys: ['dc:creator', 'hv:ca', 'hv:dn', 'hv:email'],
  imageKeys: [
    'ad:group',
    'ad:mpuri',
    'ad:user:fullname',
    'ad:user:guid',
    'ad:user:uri',
    'dc:date:expires',
    'dc:description',
    'dc:identifier',
    'dc:title',
    'hv:format',
    'hv:hypervisor',
    'hv:size',
    'hv:uri',
    'hv:version',
    'sl:arch',
    'sl:checksum:sha512',
    'sl:comments',
    'sl:os',
    'sl:osname',
    'sl:osversion',
  ],
  missingImageKey: 'refuses the list',
  emptyIsMissing: false,
  listForms: { 'dc:date:created': EXACT_DATE, 'dc:date:expires': EXACT_DATE },
  imageForms: { 'dc:date:expires': { pattern: EXACT_DATE, otherwise: 'refuses the list' } },
  endorserArray: 'refuses the list',
  signerDn: 'not compared',
  acceptsProxySigner: false,
};

const FIXTURES = new URL('../../fixtures/interop/cloudkeeper/', import.meta.url).pathname;

readerContract(
  CLOUDKEEPER,
  [
    {
      name: 'has rules that catch an image without the AppDB keys',
      run: (doc) =>
        assert.match(
          documentProblems(CLOUDKEEPER, withoutImageKey(doc, 'ad:mpuri')).join(),
          /lacks ad:mpuri/,
        ),
    },
  ],
  {
    name: 'has rules that every AppDB list of the fixtures meets',
    run: async () => {
      for (const name of ['imagelist01', 'imagelist02', 'imagelist03', 'imagelist04']) {
        const file = join(FIXTURES, `${name}.signed`);
        assert.deepEqual(await readerProblems(CLOUDKEEPER, file, join(FIXTURES, 'ca')), [], name);
      }
    },
  },
);
