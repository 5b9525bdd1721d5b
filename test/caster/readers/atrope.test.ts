/**
 * Contract with atrope 2.1 (EGI's central service filling every site's Glance), its rules as
 * observed (issue 17): it verifies with `openssl smime -verify -CApath` (no proxy signers), compares
 * hv:dn with the signer's subject as UTF-8 text, refuses the whole list when one image lacks a
 * key it requires, and crashes (ending its run for every VO) on an image without a
 * timezone-marked dc:date:expires.
 */
import assert from 'node:assert/strict';
import {
  documentProblems,
  readerContract,
  ZONED_DATE,
  type ReaderRules,
  withoutImageKey,
} from '../../helpers/caster-readers.js';

const ATROPE: ReaderRules = {
  name: 'atrope 2.1',
  listKeys: ['dc:identifier', 'dc:date:created', 'dc:date:expires', 'hv:endorser', 'hv:images'],
  endorserKeys: ['hv:dn', 'hv:ca'],
  imageKeys: [
    'ad:group',
    'ad:mpuri',
    'ad:user:fullname',
    'ad:user:guid',
    'ad:user:uri',
    'dc:description',
    'dc:identifier',
    'dc:title',
    'hv:hypervisor',
    'hv:format',
    'hv:size',
    'hv:uri',
    'hv:version',
    'sl:arch',
    'sl:comments',
    'sl:os',
    'sl:osname',
    'sl:osversion',
    'sl:checksum:sha512',
  ],
  missingImageKey: 'refuses the list',
  emptyIsMissing: false,
  listForms: {},
  imageForms: {
    // Its default for a missing expiry is naive, and naive and aware dates do not compare.
    'dc:date:expires': { pattern: ZONED_DATE, otherwise: 'crashes' },
    // Any string passes, "" included.
    'sl:checksum:sha512': { pattern: /^/, otherwise: 'refuses the list' },
  },
  endorserArray: 'refuses the list',
  signerDn: 'utf8',
  acceptsProxySigner: false,
};

readerContract(ATROPE, [
  {
    name: 'has rules that catch what refused and crashed it before (issue 17)',
    run: (doc) => {
      assert.match(
        documentProblems(ATROPE, withoutImageKey(doc, 'ad:group')).join(),
        /refuses the list: .* lacks ad:group/,
      );
      assert.match(documentProblems(ATROPE, withoutImageKey(doc, 'hv:format')).join(), /refuses the list/);
      assert.match(documentProblems(ATROPE, withoutImageKey(doc, 'dc:date:expires')).join(), /crashes: /);
    },
  },
]);
