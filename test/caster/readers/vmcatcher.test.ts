/**
 * Contract with vmcatcher (through hepixvmitrust), its rules from its code (issue 17): the list,
 * endorser and image keys it requires, none of them empty (an empty one fails its verify(): the
 * list is refused, an image dropped), dates exactly %Y-%m-%dT%H:%M:%SZ, hv:endorser an object (it
 * crashes on an array), and hv:dn/hv:ca compared as OpenSSL oneline strings.
 */
import assert from 'node:assert/strict';
import {
  documentProblems,
  EXACT_DATE,
  readerContract,
  type ReaderRules,
  withImageValue,
} from '../../helpers/caster-readers.js';

const VMCATCHER: ReaderRules = {
  name: 'vmcatcher',
  listKeys: [
    'dc:date:created',
    'dc:date:expires',
    'dc:identifier',
    'dc:description',
    'dc:title',
    'dc:source',
    'hv:version',
    'hv:uri',
  ],
  endorserKeys: ['hv:ca', 'hv:dn', 'hv:email', 'dc:creator'],
  imageKeys: [
    'dc:title',
    'dc:description',
    'hv:size',
    'sl:checksum:sha512',
    'sl:arch',
    'hv:uri',
    'dc:identifier',
    'sl:os',
    'sl:osversion',
    'sl:comments',
    'hv:hypervisor',
    'hv:version',
  ],
  missingImageKey: 'drops the image',
  emptyIsMissing: true,
  listForms: { 'dc:date:created': EXACT_DATE, 'dc:date:expires': EXACT_DATE },
  imageForms: { 'dc:date:expires': { pattern: EXACT_DATE, otherwise: 'drops the image' } },
  endorserArray: 'crashes',
  signerDn: 'oneline',
  acceptsProxySigner: false,
};

readerContract(VMCATCHER, [
  {
    name: 'has rules that catch empty values, endorser arrays and other date forms',
    run: (doc) => {
      assert.match(
        documentProblems(VMCATCHER, withImageValue(doc, 'sl:osversion', '')).join(),
        /drops the image/,
      );
      const body = doc['hv:imagelist'] as Record<string, unknown>;
      const array = { 'hv:imagelist': { ...body, 'hv:endorser': [body['hv:endorser']] } };
      assert.match(documentProblems(VMCATCHER, array).join(), /crashes: hv:endorser is an array/);
      const dated = { 'hv:imagelist': { ...body, 'dc:date:expires': '2030-01-01T00:00:00+00:00' } };
      assert.match(documentProblems(VMCATCHER, dated).join(), /refuses the list: dc:date:expires/);
    },
  },
]);
