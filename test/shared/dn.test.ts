import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { DnMap, dnKey, formatOneline, sameDn, sameName } from '../../src/shared/pki/dn.js';
import { issue, newKey, type KeyPair, type NameInput, type RawAttribute } from '../helpers/x509.js';
import { opensslSubject } from './openssl.js';

/** DN oneline form, checked against `openssl x509 -noout -subject -nameopt compat`. */

const OIDS = {
  CN: '2.5.4.3',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  C: '2.5.4.6',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  email: '1.2.840.113549.1.9.1',
  serialNumber: '2.5.4.5',
} as const;
const TAG = { utf8: 12, printable: 19, t61: 20, ia5: 22, universal: 28, bmp: 30, general: 27 } as const;

function attr(oid: string, tag: number, value: string | Uint8Array): RawAttribute {
  return { oid, tag, value: typeof value === 'string' ? new TextEncoder().encode(value) : value };
}

function bmp(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf16le').swap16());
}

function ucs4(text: string): Uint8Array {
  return new Uint8Array(Array.from(text, (c) => [0, 0, 0, c.charCodeAt(0)]).flat());
}

const base = [[attr(OIDS.DC, TAG.ia5, 'org')], [attr(OIDS.DC, TAG.ia5, 'example')]];

const NAMES: [string, NameInput][] = [
  ['plain grid DN', '/DC=org/DC=example/O=Hosts/CN=publisher.example.org'],
  ['country and organisation', '/C=DE/O=GermanGrid/OU=KIT/CN=Jane Doe'],
  ['multi-valued RDN', [...base, [attr(OIDS.CN, TAG.utf8, 'Jane'), attr(OIDS.UID, TAG.utf8, 'jdoe')]]],
  ['slash in a value', [...base, [attr(OIDS.CN, TAG.utf8, 'host/service.example.org')]]],
  ['plus in a value', [...base, [attr(OIDS.CN, TAG.utf8, 'a+b')]]],
  ['backslash and equals in a value', [...base, [attr(OIDS.CN, TAG.utf8, 'a\\b=c, d')]]],
  ['UTF-8 non-ASCII', [...base, [attr(OIDS.CN, TAG.utf8, 'Zoë Åström 東京')]]],
  ['BMPString', [...base, [attr(OIDS.CN, TAG.bmp, bmp('Bmp Näme'))]]],
  ['UniversalString', [...base, [attr(OIDS.CN, TAG.universal, ucs4('Univ'))]]],
  ['T61String with Latin-1', [...base, [attr(OIDS.CN, TAG.t61, new Uint8Array([0x4d, 0xfc, 0x6c]))]]],
  ['control characters', [...base, [attr(OIDS.CN, TAG.utf8, 'tab\there\x01\x7f end')]]],
  [
    'emailAddress',
    [...base, [attr(OIDS.CN, TAG.utf8, 'Jane')], [attr(OIDS.email, TAG.ia5, 'jane@example.org')]],
  ],
  ['DC only', [[attr(OIDS.DC, TAG.ia5, 'ch')], [attr(OIDS.DC, TAG.ia5, 'cern')]]],
  [
    'unknown OIDs',
    [...base, [attr('1.3.6.1.4.1.99999.1', TAG.utf8, 'x')], [attr('2.999.3', TAG.printable, 'y')]],
  ],
  [
    'serialNumber and three-valued RDN',
    [
      [
        attr(OIDS.C, TAG.printable, 'IT'),
        attr(OIDS.O, TAG.utf8, 'INFN'),
        attr(OIDS.OU, TAG.utf8, 'Personal'),
      ],
      [attr(OIDS.serialNumber, TAG.printable, '1234')],
    ],
  ],
  ['leading and trailing spaces', [...base, [attr(OIDS.CN, TAG.utf8, '  spaced  ')]]],
  ['empty value', [...base, [attr(OIDS.CN, TAG.utf8, '')]]],
];

describe('formatOneline against openssl -nameopt compat', () => {
  let key: KeyPair;
  before(() => {
    key = newKey('ec');
  });

  for (const [label, name] of NAMES) {
    it(label, () => {
      const cert = issue({ subject: name, key, noKeyIds: true, keyUsage: null });
      const ours = formatOneline(decodeCertificate(cert.der).subject);
      assert.equal(ours, opensslSubject(cert.pem));
    });
  }

  it('strips UCS-4 padding from GeneralStrings as X509_NAME_oneline does (OpenSSL cannot parse such names)', () => {
    const gen = (value: Uint8Array) =>
      formatOneline(
        decodeCertificate(
          issue({ subject: [[attr(OIDS.CN, TAG.general, value)]], key, noKeyIds: true, keyUsage: null }).der,
        ).subject,
      );
    assert.equal(gen(ucs4('Gen')), '/CN=Gen');
    assert.equal(gen(new TextEncoder().encode('abcd')), '/CN=abcd');
  });

  it('formats the string test names exactly as written', () => {
    const dn = '/DC=org/DC=example/CN=a\\/b+UID=c\\+d';
    const cert = issue({ subject: dn, key, noKeyIds: true, keyUsage: null });
    assert.equal(formatOneline(decodeCertificate(cert.der).subject), dn);
  });
});

describe('sameName (path building)', () => {
  function name(input: NameInput) {
    return decodeCertificate(issue({ subject: input, key: newKey('ec'), noKeyIds: true, keyUsage: null }).der)
      .subject;
  }

  it('matches names that differ only in case, surrounding and inner whitespace, or string type', () => {
    const a = name([[attr(OIDS.CN, TAG.utf8, 'Example  CA')]]);
    assert.ok(sameName(a, name([[attr(OIDS.CN, TAG.printable, ' example ca ')]])));
    assert.ok(sameName(a, name([[attr(OIDS.CN, TAG.utf8, 'EXAMPLE CA')]])));
  });

  it('keeps different names, different order and multi-valued RDNs apart', () => {
    const a = name('/DC=org/CN=A');
    assert.ok(!sameName(a, name('/DC=org/CN=B')));
    assert.ok(!sameName(a, name('/CN=A/DC=org')));
    assert.ok(!sameName(name('/DC=org+CN=A'), a));
    assert.ok(
      sameName(name('/DC=org+CN=A'), name([[attr(OIDS.CN, TAG.utf8, 'A'), attr(OIDS.DC, TAG.ia5, 'org')]])),
    );
  });
});

describe('sameDn (the one DN comparison, issue 12)', () => {
  const cert = (input: NameInput) =>
    decodeCertificate(issue({ subject: input, key: newKey('ec'), noKeyIds: true, keyUsage: null }).der)
      .subject;

  it('reads UTF-8 text and OpenSSL escaped bytes as the same name, in any case and spacing', () => {
    const name = cert('/DC=org/DC=example/CN=José Müller');
    const escaped = formatOneline(name);
    assert.equal(escaped, '/DC=org/DC=example/CN=Jos\\xC3\\xA9 M\\xC3\\xBCller');
    for (const text of [
      escaped,
      '/DC=org/DC=example/CN=José Müller',
      '/dc=ORG/dc=Example/cn=JOSÉ  MÜLLER ',
      '/DC=org/DC=example/CN=jos\\xc3\\xa9 m\\xc3\\xbcller',
      '/DC=org/DC=example/CN=Jose\u0301 Müller', // decomposed accent (NFKC)
    ]) {
      assert.ok(sameDn(text, name), text);
      assert.ok(sameDn(name, text), text);
      assert.ok(sameDn(text, escaped), text);
    }
  });

  it('keeps other names apart: other characters, order, RDN structure, attribute type', () => {
    const name = '/DC=org/DC=example/CN=José';
    for (const other of [
      '/DC=org/DC=example/CN=Jose',
      '/DC=org/DC=example/CN=Josè',
      '/DC=example/DC=org/CN=José',
      '/DC=org/DC=example+CN=José',
      '/DC=org/DC=example/O=José',
      '/DC=org/DC=example/CN=José/CN=x',
      '/DC=org/DC=example/CN=Jos\\xC3',
      'DC=org,DC=example,CN=José',
      '',
    ]) {
      assert.ok(!sameDn(name, other), other);
    }
  });

  it('reads multi-valued RDNs in any member order, escaped separators and unescaped slashes in values', () => {
    assert.ok(sameDn('/DC=org/CN=A+UID=b', '/DC=org/UID=b+CN=A'));
    assert.ok(
      sameDn(
        cert([[{ oid: '2.5.4.3', tag: 12, value: new TextEncoder().encode('host/x.org') }]]),
        '/CN=host/x.org',
      ),
    );
    assert.ok(sameDn('/CN=host\\/x.org', '/CN=host/x.org'));
    assert.ok(
      sameDn('/CN=a\\+b', cert([[{ oid: '2.5.4.3', tag: 12, value: new TextEncoder().encode('a+b') }]])),
    );
    assert.ok(sameDn('/Email=a@b.org/CN=x', '/emailAddress=A@B.org/CN=x'));
    assert.ok(sameDn('/2.5.4.3=x', '/CN=X'));
  });

  it('text that is not a oneline DN equals only itself', () => {
    assert.ok(sameDn('not a dn', 'not a dn'));
    assert.ok(!sameDn('not a dn', 'NOT A DN'));
    assert.notEqual(dnKey('CN=x'), dnKey('/CN=x'));
  });

  it('DnMap finds an entry by any spelling of its name', () => {
    const map = new DnMap<number>();
    map.set('/DC=org/CN=Example CA', 1);
    assert.equal(map.get('/dc=ORG/cn=example  ca'), 1);
    assert.equal(map.get(cert('/DC=org/CN=EXAMPLE CA')), 1);
    assert.ok(!map.has('/DC=org/CN=Example CA 2'));
    assert.equal(map.size, 1);
  });
});
