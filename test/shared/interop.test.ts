import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import { DEFAULT_CHAIN_POLICY } from '../../src/shared/pki/chain.js';
import { loadTrustStore } from '../../src/shared/pki/trustdir.js';
import type { TrustStore } from '../../src/shared/pki/truststore.js';
import { verifyDetached } from '../../src/shared/cms.js';
import { VmiError } from '../../src/shared/errors.js';
import { extractPayload, splitEnvelope } from '../../src/shared/smime.js';
import { listFor, makeGrid, publisherSpec, signDocument, type Grid } from '../helpers/grid.js';
import { issue, makeProxy, type TestCert } from '../helpers/x509.js';
import { opensslSign, opensslVerify } from './openssl.js';
import { ourVerdict, type Row } from './table.js';

/**
 * Interoperability both ways (issue 2): lists signed by `openssl smime -sign` in every
 * variant publishers use verify in vmicast exactly when OpenSSL accepts them; lists that
 * vmicaster signs verify with `openssl smime -verify -CApath`; the cloudkeeper lists
 * signed by another team's tools verify as documented.
 */

const MDS = ['sha1', 'sha256', 'sha512'] as const;
const FIXTURES = fileURLToPath(new URL('../fixtures/interop/cloudkeeper/', import.meta.url));

function lfOnly(bytes: Uint8Array): Uint8Array {
  return Buffer.from(Buffer.from(bytes).toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

describe('lists signed by openssl smime -sign', () => {
  let grid: Grid;
  let ec: TestCert;
  before(async () => {
    grid = await makeGrid();
    ec = issue(
      publisherSpec(grid.intermediate, { keyType: 'ec', subject: '/DC=org/DC=example/CN=ec.example.org' }),
    );
  });

  for (const keyType of ['rsa', 'ec'] as const) {
    for (const md of MDS) {
      it(`${keyType.toUpperCase()} ${md}: every variant (text, binary, LF or CRLF content, LF-mangled) matches OpenSSL`, () => {
        const signer = keyType === 'rsa' ? grid.publisher : ec;
        const doc = listFor({ eec: signer, issuer: grid.intermediate });
        const crlf = serializeImageList(doc);
        const trust = { caDir: grid.caDir, store: grid.store };
        let cases = 0;
        for (const [contentName, content] of [
          ['CRLF', crlf],
          ['LF', lfOnly(crlf)],
        ] as const) {
          for (const text of [false, true]) {
            for (const binary of [false, true]) {
              const original = opensslSign({
                content,
                signerPem: signer.pem,
                keyPem: signer.keyPem,
                md,
                text,
                binary,
              });
              for (const mangled of [false, true]) {
                const signed = mangled ? lfOnly(original) : original;
                // LF content signed with -binary has nothing to mangle.
                if (mangled && Buffer.compare(signed, original) === 0) {
                  cases++;
                  continue;
                }
                const label = `${contentName} content${text ? ' -text' : ''}${binary ? ' -binary' : ''}${mangled ? ', LF-mangled' : ''}`;
                // OpenSSL must be told the mode: text canonicalises, -binary takes the bytes as they are.
                // vmicast tries the exact bytes first and the canonical form second (SPEC.md section 3).
                const opensslOk =
                  opensslVerify(signed, { caDir: grid.caDir, crlCheck: true }).ok ||
                  opensslVerify(signed, { caDir: grid.caDir, crlCheck: true, binary: true }).ok;
                const row: Row = { name: label, signed, trust, code: null };
                const lenient = ourVerdict({ ...row, policy: { allowSha1: true } });
                assert.equal(
                  lenient.code === null,
                  opensslOk,
                  `${label}: vmicast ${lenient.code ?? 'ok'}, OpenSSL ${opensslOk}`,
                );
                const strict = ourVerdict(row);
                const expected = !opensslOk ? lenient.code : md === 'sha1' ? 'WEAK_ALGORITHM' : null;
                assert.equal(strict.code, expected, `${label}: default policy`);
                if (lenient.result !== undefined) {
                  // The payload is the list itself, -text header stripped, byte for byte up to line ends.
                  const payload = extractPayload(lenient.result.signedBytes);
                  assert.deepEqual(lfOnly(payload), lfOnly(content), label);
                  assert.deepEqual(lenient.result.list.document, doc, label);
                }
                cases++;
              }
            }
          }
        }
        assert.equal(cases, 16);
      });
    }
  }

  it('an opaque (-nodetach) signed list is refused as LIST_MALFORMED; OpenSSL accepts it', () => {
    const signed = opensslSign({
      content: serializeImageList(listFor({ eec: grid.publisher, issuer: grid.intermediate })),
      signerPem: grid.publisher.pem,
      keyPem: grid.publisher.keyPem,
      nodetach: true,
    });
    assert.equal(opensslVerify(signed, { caDir: grid.caDir }).ok, true);
    // Documented difference: SPEC.md section 3 takes multipart/signed only.
    assert.equal(ourVerdict({ name: 'opaque', signed, trust: grid, code: null }).code, 'LIST_MALFORMED');
  });
});

describe('lists signed by vmicaster, verified by openssl smime -verify -CApath', () => {
  let grid: Grid;
  before(async () => {
    grid = await makeGrid();
  });

  for (const keyType of ['rsa', 'ec'] as const) {
    for (const digest of ['sha256', 'sha384', 'sha512'] as const) {
      it(`${keyType.toUpperCase()} signer, ${digest}`, () => {
        const signer =
          keyType === 'rsa' ? grid.publisher : issue(publisherSpec(grid.intermediate, { keyType: 'ec' }));
        const signed = signDocument(listFor({ eec: signer, issuer: grid.intermediate }), signer, [], digest);
        const verdict = opensslVerify(signed, {
          caDir: grid.caDir,
          smime: true,
          crlCheck: false,
          proxies: false,
        });
        assert.ok(verdict.ok, verdict.stderr);
        assert.ok(opensslVerify(signed, { caDir: grid.caDir, crlCheck: true }).ok);
        assert.equal(ourVerdict({ name: digest, signed, trust: grid, code: null }).code, null);
      });
    }
  }

  it('a proxy signer with its chain embedded (needs -allow_proxy_certs)', () => {
    const proxy = makeProxy(grid.publisher);
    const signed = signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }), proxy, [
      grid.publisher,
    ]);
    assert.ok(opensslVerify(signed, { caDir: grid.caDir, smime: true, crlCheck: false }).ok);
    assert.equal(
      opensslVerify(signed, { caDir: grid.caDir, smime: true, crlCheck: false, proxies: false }).ok,
      false,
    );
  });
});

describe('cloudkeeper fixtures (signed by another team with openssl smime)', () => {
  let store: TrustStore;
  const at = new Date('2020-01-01T00:00:00Z');
  const read = (name: string) => new Uint8Array(readFileSync(`${FIXTURES}${name}`));
  const verdict = (name: string, over: Partial<Row> = {}) =>
    ourVerdict({
      name,
      signed: read(name),
      trust: { caDir: `${FIXTURES}ca`, store },
      code: null,
      now: at,
      policy: { crl: 'off' },
      allowEndorserMismatch: true,
      ...over,
    });

  before(async () => {
    store = await loadTrustStore(`${FIXTURES}ca`);
  });

  for (const n of ['01', '02', '03', '04']) {
    const name = `imagelist${n}.signed`;
    it(`${name} verifies at 2020-01-01 with --crl off --allow-endorser-mismatch, as OpenSSL says`, () => {
      const ok = verdict(name);
      assert.equal(ok.code, null, ok.error?.message);
      assert.ok((ok.result?.list.images.length ?? 0) > 0);
      assert.equal(ok.result?.signer.dn, '/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd');
      assert.ok(opensslVerify(read(name), { caDir: `${FIXTURES}ca`, crlCheck: false, attime: at }).ok);
      // Refused by default: the list's hv:dn does not name its signer, and the CA has no CRL.
      assert.equal(verdict(name, { allowEndorserMismatch: false }).code, 'ENDORSER_MISMATCH');
      assert.equal(verdict(name, { policy: { crl: 'require' } }).code, 'CRL_MISSING');
      assert.equal(verdict(name, { policy: DEFAULT_CHAIN_POLICY }).code, 'CRL_MISSING');
      // Outside the lists' validity.
      assert.equal(verdict(name, { now: new Date('2099-01-01T00:00:00Z') }).code, 'CERT_EXPIRED');
    });
  }

  it('imagelist_invalid.signed is refused with SIGNER_UNTRUSTED (its digest is bad too: the chain is judged first)', () => {
    assert.equal(verdict('imagelist_invalid.signed').code, 'SIGNER_UNTRUSTED');
    assert.equal(
      opensslVerify(read('imagelist_invalid.signed'), { caDir: `${FIXTURES}ca`, crlCheck: false, attime: at })
        .ok,
      false,
    );
    // Its content does not match its signature either: the signature alone is refused.
    const envelope = splitEnvelope(read('imagelist_invalid.signed'));
    assert.throws(
      () => verifyDetached(envelope.signedBytes, envelope.signature, true),
      (e: unknown) => e instanceof VmiError && e.code === 'SIGNATURE_INVALID',
    );
  });

  it('the unsigned payload of imagelist01 is what imagelist01.signed carries', () => {
    const ok = verdict('imagelist01.signed');
    const unsigned = JSON.parse(readFileSync(`${FIXTURES}imagelist01.unsigned`, 'utf8')) as unknown;
    assert.deepEqual(ok.result?.list.document, unsigned);
  });
});
