import assert from 'node:assert/strict';
import { createHash, sign } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { checkSignature, openSignature, signDetached, verifyDetached } from '../../src/shared/cms.js';
import { VmiError } from '../../src/shared/errors.js';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import {
  encodeDetachedSignedData,
  encodeOctets,
  encodeOid,
  encodeSignedAttributes,
} from '../../src/shared/pki/asn1/cms.js';
import { OID } from '../../src/shared/pki/oids.js';
import { splitEnvelope } from '../../src/shared/smime.js';
import { listFor, makeGrid, publisherSpec, type Grid } from '../helpers/grid.js';
import { issue, type TestCert } from '../helpers/x509.js';
import { opensslSign, writeScratch } from './openssl.js';
import { checkRow, withSignature, type Trust } from './table.js';

/** CMS SignedData details (SPEC.md section 3), each against OpenSSL's verdict where it has one. */

function code(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof VmiError) return err.code;
    throw err;
  }
}

type Attr = { oid: string; values: Uint8Array[] };

describe('CMS signatures', () => {
  let grid: Grid;
  let trust: Trust;
  let content: Uint8Array;
  let second: TestCert;
  const osign = (extra: string[], signer: TestCert = grid.publisher) =>
    opensslSign({ content, signerPem: signer.pem, keyPem: signer.keyPem, cms: true, binary: true, extra });

  before(async () => {
    grid = await makeGrid();
    trust = { caDir: grid.caDir, store: grid.store };
    content = serializeImageList(listFor({ eec: grid.publisher, issuer: grid.intermediate }));
    second = issue(publisherSpec(grid.intermediate, { subject: '/DC=org/DC=example/CN=second' }));
  });

  it('verifies signatures without signed attributes (-noattr), identified by key id (-keyid), RSA-PSS', () => {
    checkRow({ name: '-noattr', signed: osign(['-noattr']), trust, code: null });
    checkRow({ name: '-keyid', signed: osign(['-keyid']), trust, code: null });
    checkRow({ name: 'RSA-PSS', signed: osign(['-keyopt', 'rsa_padding_mode:pss']), trust, code: null });
  });

  it('refuses two SignerInfos (SIGNATURE_INVALID); OpenSSL accepts them', () => {
    const extra = [
      '-signer',
      writeScratch('second.pem', second.pem),
      '-inkey',
      writeScratch('second.key', second.keyPem),
    ];
    checkRow({
      name: 'two signers',
      signed: osign(extra),
      trust,
      code: 'SIGNATURE_INVALID',
      stricter: 'exactly one SignerInfo (SPEC.md section 3)',
    });
  });

  it('refuses an MD5 digest even where SHA-1 is allowed (WEAK_ALGORITHM)', () => {
    checkRow({
      name: 'MD5 digest',
      signed: osign(['-md', 'md5']),
      trust,
      code: 'WEAK_ALGORITHM',
      policy: { allowSha1: true },
      stricter: 'MD5 refused (OpenSSL 3.0 accepts MD5-signed certificates)',
    });
  });

  it('refuses a signature that does not carry its signer certificate (SIGNER_UNTRUSTED)', () => {
    checkRow({ name: '-nocerts', signed: osign(['-nocerts']), trust, code: 'SIGNER_UNTRUSTED' });
  });

  /** A SHA-256 SignedData made by hand: its attributes, signed with `hash` under `algorithm`. */
  function build(attrs: Attr[], algorithm: string = OID.rsaEncryption, hash = 'sha256'): Uint8Array {
    const signature = new Uint8Array(
      sign(hash, encodeSignedAttributes(attrs), grid.publisher.key.privateKey),
    );
    return encodeDetachedSignedData({
      certificates: [grid.publisher.der],
      digestOid: OID.sha256,
      signatureAlgorithm: { oid: algorithm, params: new Uint8Array([5, 0]) },
      signedAttrs: attrs,
      signature,
    });
  }
  const goodAttrs = (): Attr[] => [
    { oid: OID.contentType, values: [encodeOid(OID.data)] },
    { oid: OID.messageDigest, values: [encodeOctets(createHash('sha256').update(content).digest())] },
  ];

  it('refuses duplicate signed attributes and a contentType other than data', () => {
    const digest = createHash('sha256').update(content).digest();
    const [contentType, md] = goodAttrs() as [Attr, Attr];
    const good = build([contentType, md]);
    assert.equal(
      code(() => verifyDetached(content, good, false)),
      null,
    );
    const envelope = withSignature(osign([]), good);
    assert.equal(Buffer.compare(splitEnvelope(envelope).signedBytes, content), 0);
    checkRow({ name: 'hand-made', signed: envelope, trust, code: null });
    const twice = build([contentType, md, { oid: OID.messageDigest, values: [encodeOctets(digest)] }]);
    checkRow({
      name: 'duplicate messageDigest',
      signed: withSignature(envelope, twice),
      trust,
      code: 'SIGNATURE_INVALID',
    });
    const twoValues = build([
      contentType,
      { oid: OID.messageDigest, values: [encodeOctets(digest), encodeOctets(digest)] },
    ]);
    checkRow({
      name: 'two messageDigest values',
      signed: withSignature(envelope, twoValues),
      trust,
      code: 'SIGNATURE_INVALID',
    });
    const notData = build([{ oid: OID.contentType, values: [encodeOid(OID.signedData)] }, md]);
    assert.equal(
      code(() => verifyDetached(content, notData, false)),
      'SIGNATURE_INVALID',
    );
  });

  it('reads RSA named as sha256WithRSAEncryption like rsaEncryption; refuses a hash other than the digest algorithm', () => {
    const envelope = osign([]);
    const row = (name: string, algorithm: string, hash: string) => ({
      name,
      signed: withSignature(envelope, build(goodAttrs(), algorithm, hash)),
      trust,
    });
    // RFC 5754 section 3.2 allows either name; the long fuzz run found the one-byte change
    // from 1.1.1 to 1.1.11 accepted, which is this equivalence and not a forgery.
    checkRow({ ...row('sha256WithRSAEncryption', OID.sha256WithRSA, 'sha256'), code: null });
    // OpenSSL hashes with digestAlgorithm and ignores the name's hash.
    checkRow({
      ...row('sha512WithRSAEncryption over a SHA-256 digest', OID.sha512WithRSA, 'sha256'),
      code: 'SIGNATURE_INVALID',
      stricter: 'one hash per signature (RFC 5754 section 3.2)',
    });
    // Signed as the name says: OpenSSL refuses it too.
    checkRow({
      ...row('sha512WithRSAEncryption signed with SHA-512', OID.sha512WithRSA, 'sha512'),
      code: 'SIGNATURE_INVALID',
    });
  });

  it('checks the exact bytes first and the canonical CRLF form second', () => {
    const opened = openSignature(splitEnvelope(osign([])).signature, false);
    assert.deepEqual(checkSignature(content, opened), { canonicalized: false });
    const lf = Buffer.from(Buffer.from(content).toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    assert.deepEqual(checkSignature(lf, opened), { canonicalized: true });
    assert.equal(
      code(() => checkSignature(Buffer.concat([lf, Buffer.from(' ')]), opened)),
      'SIGNATURE_INVALID',
    );
  });

  it('refuses SHA-1 digests unless allowed, and garbage as LIST_MALFORMED', () => {
    const sha1 = splitEnvelope(osign(['-md', 'sha1'])).signature;
    assert.equal(
      code(() => openSignature(sha1, false)),
      'WEAK_ALGORITHM',
    );
    assert.equal(
      code(() => openSignature(sha1, true)),
      null,
    );
    assert.equal(
      code(() => openSignature(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), false)),
      'LIST_MALFORMED',
    );
    assert.equal(
      code(() => openSignature(new Uint8Array([1, 2, 3]), false)),
      'LIST_MALFORMED',
    );
  });

  it('signDetached: RSA, EC and Ed25519 keys; refuses a key that does not match the certificate', () => {
    for (const keyType of ['rsa', 'ec', 'ed25519'] as const) {
      const signer =
        keyType === 'rsa' ? grid.publisher : issue(publisherSpec(grid.intermediate, { keyType }));
      const der = signDetached({
        content,
        certificate: signer.der,
        chain: [grid.intermediate.der],
        key: signer.key.privateKey,
        digest: 'sha384',
        signingTime: new Date(),
      });
      const verified = verifyDetached(content, der, false);
      assert.equal(verified.digest, 'sha384');
      assert.equal(verified.certificates.length, 2);
      assert.deepEqual(verified.signer.der, decodeCertificate(signer.der).der);
    }
    assert.equal(
      code(() =>
        signDetached({
          content,
          certificate: grid.publisher.der,
          chain: [],
          key: second.key.privateKey,
          digest: 'sha256',
          signingTime: new Date(),
        }),
      ),
      'USAGE',
    );
  });
});
