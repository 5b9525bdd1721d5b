import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { DEFAULT_CHAIN_POLICY, validateChain, type ChainPolicy } from '../../src/shared/pki/chain.js';
import { formatOneline } from '../../src/shared/pki/dn.js';
import { OID } from '../../src/shared/pki/oids.js';
import { makeGrid, PUBLISHER_DN, publisherSpec, type Grid } from '../helpers/grid.js';
import { issue, makeProxy, utf8Value, type TestCert } from '../helpers/x509.js';

/** RFC 3820 proxy rules (SPEC.md section 4 item 3), one rule per case, with its reason. */

const DAY = 86400_000;

describe('proxy certificates', () => {
  let grid: Grid;
  const validate = (signer: TestCert, chain: TestCert[], policy: Partial<ChainPolicy> = {}) =>
    validateChain(
      decodeCertificate(signer.der),
      [signer, ...chain].map((c) => decodeCertificate(c.der)),
      grid.store,
      { ...DEFAULT_CHAIN_POLICY, ...policy },
      new Date(),
    );
  const refuses = (signer: TestCert, chain: TestCert[], code: string, reason: RegExp) =>
    assert.throws(
      () => validate(signer, chain),
      (e: unknown) => e instanceof VmiError && e.code === code && reason.test(e.message),
    );

  before(async () => {
    grid = await makeGrid();
  });

  it('follows a chain of three proxies to the EEC and reports it', () => {
    const p1 = makeProxy(grid.publisher);
    const p2 = makeProxy(p1);
    const p3 = makeProxy(p2, { keyType: 'ec' });
    const chain = validate(p3, [p2, p1, grid.publisher]);
    assert.equal(formatOneline(chain.eec.subject), PUBLISHER_DN);
    assert.equal(chain.proxies.length, 3);
    assert.deepEqual(
      chain.path.map((c) => formatOneline(c.subject)),
      [PUBLISHER_DN, grid.intermediate.subject, grid.root.subject],
    );
  });

  it('accepts the independent and limited policy languages, refuses unknown ones', () => {
    for (const policyLanguage of [OID.proxyIndependent, OID.proxyLimited]) {
      assert.equal(
        validate(makeProxy(grid.publisher, { proxy: { policyLanguage } }), [grid.publisher]).proxies.length,
        1,
      );
    }
    refuses(
      makeProxy(grid.publisher, { proxy: { policyLanguage: '1.2.3.4' } }),
      [grid.publisher],
      'PROXY_INVALID',
      /unknown proxy policy language/,
    );
  });

  it('refuses a proxy that is a CA', () => {
    refuses(makeProxy(grid.publisher, { ca: true }), [grid.publisher], 'PROXY_INVALID', /must not be a CA/);
  });

  it('refuses a proxy with subject alternative names', () => {
    const san = [
      {
        oid: OID.subjectAltName,
        critical: false,
        value: new Uint8Array([0x30, 0x05, 0x82, 0x03, 0x61, 0x2e, 0x62]),
      },
    ];
    refuses(
      makeProxy(grid.publisher, { extensions: san }),
      [grid.publisher],
      'PROXY_INVALID',
      /alternative names/,
    );
  });

  it('refuses a proxy whose issuer may not sign (no digitalSignature)', () => {
    const eec = issue(publisherSpec(grid.intermediate, { keyUsage: ['nonRepudiation'] }));
    refuses(makeProxy(eec), [eec], 'PROXY_INVALID', /may not sign \(no digitalSignature/);
  });

  it('refuses a proxy whose issuer is not in the signature', () => {
    refuses(makeProxy(grid.publisher), [], 'PROXY_INVALID', /issuer certificate is not in the signature/);
  });

  it('refuses an expired proxy and one not yet valid', () => {
    const old = makeProxy(grid.publisher, {
      notBefore: new Date(Date.now() - 2 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    refuses(old, [grid.publisher], 'CERT_EXPIRED', /expired/);
    const future = makeProxy(grid.publisher, {
      notBefore: new Date(Date.now() + DAY),
      notAfter: new Date(Date.now() + 2 * DAY),
    });
    refuses(future, [grid.publisher], 'CERT_NOT_YET_VALID', /not valid before/);
  });

  it('refuses unknown critical extensions, weak keys and weak signatures in a proxy', () => {
    const critical = [{ oid: '1.3.6.1.4.1.99999.3', critical: true, value: utf8Value('x') }];
    refuses(
      makeProxy(grid.publisher, { extensions: critical }),
      [grid.publisher],
      'CERT_CRITICAL_EXTENSION',
      /unknown critical extension/,
    );
    refuses(
      makeProxy(grid.publisher, { keyType: 'rsa1024' }),
      [grid.publisher],
      'WEAK_ALGORITHM',
      /1024-bit RSA key/,
    );
    refuses(
      makeProxy(grid.publisher, { hash: 'sha1' }),
      [grid.publisher],
      'WEAK_ALGORITHM',
      /weak algorithm/,
    );
    assert.equal(
      validate(makeProxy(grid.publisher, { hash: 'sha1' }), [grid.publisher], { allowSha1: true }).proxies
        .length,
      1,
    );
  });

  it('refuses a proxy whose extended key usage excludes S/MIME, unless purpose is any', () => {
    const p = makeProxy(grid.publisher, { extKeyUsage: ['clientAuth'] });
    refuses(p, [grid.publisher], 'CERT_PURPOSE', /emailProtection/);
    assert.equal(validate(p, [grid.publisher], { purpose: 'any' }).proxies.length, 1);
  });

  it('refuses draft (GT3) and legacy Globus proxies with a clear message', () => {
    const draft = issue({
      subject: `${PUBLISHER_DN}/CN=12345`,
      issuer: grid.publisher,
      noKeyIds: true,
      extensions: [{ oid: OID.legacyProxyCertInfo, critical: true, value: new Uint8Array([0x30, 0x00]) }],
    });
    refuses(
      draft,
      [grid.publisher],
      'PROXY_INVALID',
      /draft \(GT3\) proxies are not accepted; use an RFC 3820 proxy/,
    );
    const limited = issue({
      subject: `${PUBLISHER_DN}/CN=limited proxy`,
      issuer: grid.publisher,
      noKeyIds: true,
    });
    refuses(limited, [grid.publisher], 'PROXY_INVALID', /legacy Globus proxies are not accepted/);
    // A plain certificate whose last CN happens to be "proxy" but that is not issued by its prefix is no proxy.
    // (The issuer has one RDN less than the subject: only the names themselves tell.)
    const named = issue(publisherSpec(grid.intermediate, { subject: '/DC=org/DC=example/O=Hosts/CN=proxy' }));
    assert.equal(validate(named, []).proxies.length, 0);
  });
});
