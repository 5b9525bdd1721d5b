import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as asn1js from 'asn1js';
import { VmiError } from '../../src/shared/errors.js';
import { decodeCertificate, decodeCrl } from '../../src/shared/pki/asn1/cert.js';
import { checkRevocation, type CrlMode } from '../../src/shared/pki/crl.js';
import { OID } from '../../src/shared/pki/oids.js';
import { buildTrustStore, summarizeTrustStore } from '../../src/shared/pki/truststore.js';
import { issue, makeCrl, type CrlSpec, type TestCert } from '../helpers/x509.js';
import { openssl } from './openssl.js';

/** Revocation (SPEC.md section 4 item 4) on in-memory trust stores. */

const DAY = 86400_000;

function storeWith(ca: TestCert, crls: Omit<CrlSpec, 'issuer'>[], signer = ca) {
  return buildTrustStore('memory', [
    { name: 'ca.0', bytes: new TextEncoder().encode(ca.pem) },
    ...crls.map((c, i) => ({ name: `ca.r${i}`, bytes: makeCrl({ issuer: signer, ...c }).der })),
  ]);
}

function code(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof VmiError) return err.code;
    throw err;
  }
}

/** IssuingDistributionPoint with one boolean flag set ([1] onlyUser, [2] onlyCA, [4] indirect). */
function idp(tag: number): Uint8Array {
  const flag = new asn1js.Primitive({
    idBlock: { tagClass: 3, tagNumber: tag },
    valueHex: new Uint8Array([0xff]),
  });
  return new Uint8Array(new asn1js.Sequence({ value: [flag] }).toBER());
}

/** A CRL written by `openssl ca -gencrl` with digest `md` from an index.txt database. */
function opensslCrl(ca: TestCert, index: string, md: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'vmicast-ca-'));
  writeFileSync(join(dir, 'index.txt'), index);
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  writeFileSync(join(dir, 'ca.pem'), ca.pem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem);
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca = c\n[c]\ndatabase = ${dir}/index.txt\ncrlnumber = ${dir}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n`,
  );
  const r = openssl([
    'ca',
    '-gencrl',
    '-md',
    md,
    '-config',
    join(dir, 'ca.cnf'),
    '-keyfile',
    join(dir, 'ca.key'),
    '-cert',
    join(dir, 'ca.pem'),
    '-out',
    join(dir, 'crl.pem'),
  ]);
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(join(dir, 'crl.pem'));
}

describe('checkRevocation', () => {
  let ca: TestCert;
  let leaf: TestCert;
  let subCa: TestCert;
  const check = (crls: Omit<CrlSpec, 'issuer'>[], mode: CrlMode = 'require', who = leaf, signer = ca) =>
    code(() => {
      checkRevocation(
        decodeCertificate(who.der),
        decodeCertificate(ca.der),
        storeWith(ca, crls, signer),
        mode,
        new Date(),
      );
    });

  before(() => {
    ca = issue({ subject: '/DC=org/DC=example/CN=CRL CA', ca: true });
    leaf = issue({ subject: '/DC=org/DC=example/CN=leaf', issuer: ca, ca: false });
    subCa = issue({ subject: '/DC=org/DC=example/CN=sub', issuer: ca, ca: true });
  });

  it('passes with a fresh CRL that does not list the certificate; refuses a listed one', () => {
    assert.equal(check([{}]), null);
    assert.equal(check([{ revoked: [leaf] }]), 'CERT_REVOKED');
    assert.equal(check([{ revoked: [leaf] }], 'if-present'), 'CERT_REVOKED');
    assert.equal(check([{ revoked: [leaf] }], 'off'), null);
  });

  it('CRL_MISSING without a CRL unless if-present or off', () => {
    assert.equal(check([]), 'CRL_MISSING');
    assert.equal(check([], 'if-present'), null);
    assert.equal(check([], 'off'), null);
  });

  it('CRL_STALE past nextUpdate; a CRL without nextUpdate never goes stale', () => {
    const stale = { thisUpdate: new Date(Date.now() - 9 * DAY), nextUpdate: new Date(Date.now() - DAY) };
    assert.equal(check([stale]), 'CRL_STALE');
    assert.equal(check([stale], 'if-present'), 'CRL_STALE');
    assert.equal(check([{ nextUpdate: null }]), null);
  });

  it('uses the newest CRL: a fresh one that revokes beats an older one that does not', () => {
    const older = { thisUpdate: new Date(Date.now() - 2 * DAY) };
    assert.equal(check([older, { revoked: [leaf] }]), 'CERT_REVOKED');
    // A CRL issued in the future is ignored.
    assert.equal(check([{ thisUpdate: new Date(Date.now() + DAY), revoked: [leaf] }, older]), null);
  });

  it('ignores CRLs that cannot speak for the certificate, and says why (fail closed)', () => {
    const other = issue({ subject: '/DC=org/DC=example/CN=CRL CA', ca: true });
    assert.equal(check([{ revoked: [leaf] }], 'require', leaf, other), 'CRL_MISSING');
    const critical = [{ oid: '1.3.6.1.4.1.99999.9', critical: true, value: new Uint8Array([5, 0]) }];
    assert.equal(check([{ extensions: critical }]), 'CRL_MISSING');
    const delta = [{ oid: OID.deltaCrlIndicator, critical: true, value: new Uint8Array([2, 1, 1]) }];
    assert.equal(check([{ extensions: delta }]), 'CRL_MISSING');
    const onlyCa = [{ oid: OID.issuingDistributionPoint, critical: true, value: idp(2) }];
    assert.equal(check([{ extensions: onlyCa }]), 'CRL_MISSING');
    assert.equal(check([{ extensions: onlyCa }], 'require', subCa), null);
    const onlyUser = [{ oid: OID.issuingDistributionPoint, critical: true, value: idp(1) }];
    assert.equal(check([{ extensions: onlyUser }]), null);
    assert.equal(check([{ extensions: onlyUser }], 'require', subCa), 'CRL_MISSING');
    const indirect = [{ oid: OID.issuingDistributionPoint, critical: true, value: idp(4) }];
    assert.equal(check([{ extensions: indirect }], 'if-present'), 'CRL_MISSING');
  });

  it('refuses a CRL signed with MD5, or SHA-1 unless SHA-1 is allowed: WEAK_ALGORITHM', () => {
    // Read the clock at each check: openssl dates its CRL at the current second.
    const now = () => new Date();
    const verdict = (store: ReturnType<typeof storeWith>, mode: CrlMode, allowSha1: boolean) =>
      code(() => {
        checkRevocation(
          decodeCertificate(leaf.der),
          decodeCertificate(ca.der),
          store,
          mode,
          now(),
          allowSha1,
        );
      });
    const fromOpenssl = (md: string) =>
      buildTrustStore('memory', [
        { name: 'ca.0', bytes: new TextEncoder().encode(ca.pem) },
        { name: 'ca.r0', bytes: new Uint8Array(opensslCrl(ca, '', md)) },
      ]);
    for (const [name, store] of [
      ['md5', storeWith(ca, [{ hash: 'md5' }])],
      ['openssl ca -gencrl -md md5', fromOpenssl('md5')],
    ] as const) {
      for (const mode of ['require', 'if-present'] as const) {
        assert.equal(verdict(store, mode, false), 'WEAK_ALGORITHM', `${name}, ${mode}`);
        assert.equal(verdict(store, mode, true), 'WEAK_ALGORITHM', `${name}, ${mode}, SHA-1 allowed`);
      }
      assert.equal(verdict(store, 'off', false), null, `${name}, off`);
    }
    for (const [name, store] of [
      ['sha1', storeWith(ca, [{ hash: 'sha1' }])],
      ['openssl ca -gencrl -md sha1', fromOpenssl('sha1')],
    ] as const) {
      assert.equal(verdict(store, 'require', false), 'WEAK_ALGORITHM', name);
      assert.equal(verdict(store, 'if-present', false), 'WEAK_ALGORITHM', name);
      assert.equal(verdict(store, 'require', true), null, `${name}, SHA-1 allowed`);
    }
    // A weak CRL that revokes: still WEAK_ALGORITHM, never an answer taken from it.
    assert.equal(
      verdict(storeWith(ca, [{ hash: 'md5', revoked: [leaf] }]), 'require', true),
      'WEAK_ALGORITHM',
    );
    // A newer MD5 CRL that omits the revocation does not hide the SHA-256 one that lists it.
    const older = { thisUpdate: new Date(Date.now() - 2 * DAY), revoked: [leaf] };
    assert.equal(verdict(storeWith(ca, [older, { hash: 'md5' }]), 'require', false), 'CERT_REVOKED');
    assert.throws(
      () => {
        checkRevocation(
          decodeCertificate(leaf.der),
          decodeCertificate(ca.der),
          fromOpenssl('sha1'),
          'require',
          now(),
        );
      },
      (e: unknown) =>
        e instanceof VmiError &&
        e.code === 'WEAK_ALGORITHM' &&
        /CRL of \/DC=org\/DC=example\/CN=CRL CA/.test(e.message) &&
        /--allow-sha1/.test(e.message),
    );
  });

  it('refuses a CRL from a CA whose key usage forbids CRL signing', () => {
    const noCrlSign = issue({
      subject: '/DC=org/DC=example/CN=No CRL Sign',
      ca: true,
      keyUsage: ['keyCertSign'],
    });
    const l = issue({ subject: '/DC=org/DC=example/CN=l2', issuer: noCrlSign, ca: false });
    const store = storeWith(noCrlSign, [{}]);
    assert.throws(
      () =>
        checkRevocation(
          decodeCertificate(l.der),
          decodeCertificate(noCrlSign.der),
          store,
          'require',
          new Date(),
        ),
      (e: unknown) =>
        e instanceof VmiError && e.code === 'CRL_MISSING' && /may not sign CRLs/.test(e.message),
    );
  });

  it('decodes CRLs of 10,000 entries (beyond asn1js default node limit) and finds the revoked one', () => {
    const many = Array.from(
      { length: 10_000 },
      (_, i) => ({ spec: { subject: '', serial: `7f${i.toString(16).padStart(8, '0')}` } }) as TestCert,
    );
    const der = makeCrl({ issuer: ca, revoked: [...many, leaf] }).der;
    assert.equal(decodeCrl(der).revoked.size, 10_001);
    const store = buildTrustStore('memory', [
      { name: 'ca.0', bytes: new TextEncoder().encode(ca.pem) },
      { name: 'ca.r0', bytes: der },
    ]);
    assert.deepEqual(store.warnings, []);
    assert.throws(
      () =>
        checkRevocation(decodeCertificate(leaf.der), decodeCertificate(ca.der), store, 'require', new Date()),
      (e: unknown) => e instanceof VmiError && e.code === 'CERT_REVOKED',
    );
  });

  it('decodes CRLs written by openssl ca -gencrl (reason codes, many entries) and refuses broken ones', () => {
    const when = '251231235959Z';
    const lines = [
      leaf,
      ...Array.from({ length: 50 }, () => issue({ subject: '/CN=x', issuer: ca, key: ca.key })),
    ].map(
      (c, i) =>
        `R\t${when}\t240101000000Z,${i % 2 === 0 ? 'keyCompromise' : 'superseded'}\t${c.serial.toUpperCase()}\tunknown\t/CN=x\n`,
    );
    const pem = opensslCrl(ca, lines.join(''), 'sha256');
    const store = buildTrustStore('memory', [
      { name: 'ca.0', bytes: new TextEncoder().encode(ca.pem) },
      { name: 'ca.r0', bytes: new Uint8Array(pem) },
    ]);
    assert.deepEqual(store.warnings, []);
    const crl = store.crls[0];
    assert.equal(crl?.revoked.size, 51);
    assert.equal(crl.revoked.get(leaf.serial)?.date.toISOString(), '2024-01-01T00:00:00.000Z');
    assert.throws(
      () =>
        checkRevocation(decodeCertificate(leaf.der), decodeCertificate(ca.der), store, 'require', new Date()),
      (e: unknown) => e instanceof VmiError && e.code === 'CERT_REVOKED',
    );
    // Truncated or trailing bytes: the file is reported and the CA has no usable CRL.
    const der = makeCrl({ issuer: ca }).der;
    for (const broken of [der.subarray(0, der.length - 1), Buffer.concat([der, new Uint8Array([0])])]) {
      const bad = buildTrustStore('memory', [
        { name: 'ca.0', bytes: new TextEncoder().encode(ca.pem) },
        { name: 'ca.r0', bytes: new Uint8Array(broken) },
      ]);
      assert.equal(bad.warnings.length, 1);
      assert.equal(bad.crls.length, 0);
    }
  });

  it('summarizeTrustStore lists CRLs with their dates and counts the stale ones', () => {
    const store = storeWith(ca, [
      {},
      { thisUpdate: new Date(Date.now() - 9 * DAY), nextUpdate: new Date(Date.now() - DAY) },
    ]);
    const summary = summarizeTrustStore(store, new Date());
    assert.equal(summary.anchors, 1);
    assert.equal(summary.crls.length, 2);
    assert.equal(summary.staleCrls, 1);
    assert.equal(summary.crls[0]?.issuer, '/DC=org/DC=example/CN=CRL CA');
    assert.deepEqual(summary.expiredAnchors, []);
  });
});
