import { before, describe, it } from 'node:test';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import { splitEnvelope } from '../../src/shared/smime.js';
import {
  INTERMEDIATE_DN,
  listFor,
  makeGrid,
  PUBLISHER_DN,
  publisherSpec,
  ROOT_DN,
  signDocument,
  type Grid,
} from '../helpers/grid.js';
import { issue, utf8Value, type TestCert } from '../helpers/x509.js';
import { opensslSign } from './openssl.js';
import { checkRow, flipByte, trustFor, withContent, withSignature, type Row, type Trust } from './table.js';

/**
 * Tamper table of issue 2: one change each from a valid signed list, the exact code, and
 * OpenSSL's verdict on the same bytes (`openssl cms -verify -crl_check_all`).
 */

const UNKNOWN_EXTENSION = { oid: '1.3.6.1.4.1.99999.7', critical: true, value: utf8Value('must understand') };
const UNKNOWN_CRITICAL = [UNKNOWN_EXTENSION];

describe('tamper table (signature, chain, purpose, extensions)', () => {
  let grid: Grid;
  let trust: Trust;
  let doc: ReturnType<typeof listFor>;
  let valid: Uint8Array;
  const sign = (signer: TestCert, chain: TestCert[] = []) => signDocument(doc, signer, chain);
  const row = (r: Omit<Row, 'trust'> & { trust?: Trust }) => checkRow({ trust, ...r });

  before(async () => {
    grid = await makeGrid();
    trust = { caDir: grid.caDir, store: grid.store };
    doc = listFor({ eec: grid.publisher, issuer: grid.intermediate });
    valid = sign(grid.publisher);
  });

  it('accepts the valid list (and so does OpenSSL)', () => {
    row({ name: 'valid', signed: valid, code: null });
  });

  it('one byte of content changed: SIGNATURE_INVALID', () => {
    const content = splitEnvelope(valid).signedBytes;
    const at = Buffer.from(content).indexOf('Test list');
    row({
      name: 'content byte',
      signed: withContent(valid, flipByte(content, at)),
      code: 'SIGNATURE_INVALID',
    });
  });

  it('one byte of the signature value changed: SIGNATURE_INVALID', () => {
    // The SignerInfo signature (256 bytes for RSA-2048) ends the DER when there are no unsigned attributes.
    const der = splitEnvelope(valid).signature;
    row({
      name: 'signature byte',
      signed: withSignature(valid, flipByte(der, -20)),
      code: 'SIGNATURE_INVALID',
    });
  });

  it('signature swapped from another list by the same signer: SIGNATURE_INVALID', () => {
    const other = signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }), grid.publisher);
    row({
      name: 'swapped',
      signed: withSignature(valid, splitEnvelope(other).signature),
      code: 'SIGNATURE_INVALID',
    });
  });

  it("self-signed impostor with the publisher's DN: SIGNER_UNTRUSTED", () => {
    const impostor = issue({ subject: PUBLISHER_DN, ca: false, extKeyUsage: ['emailProtection'] });
    row({ name: 'impostor', signed: sign(impostor), code: 'SIGNER_UNTRUSTED' });
  });

  it("impostor issued by a CA with the intermediate's DN but another key: SIGNER_UNTRUSTED", () => {
    const fakeRoot = issue({ subject: ROOT_DN, ca: true });
    const fakeCa = issue({ subject: INTERMEDIATE_DN, issuer: fakeRoot, ca: true });
    const impostor = issue(publisherSpec(fakeCa));
    row({ name: 'same-name CA', signed: sign(impostor, [fakeCa, fakeRoot]), code: 'SIGNER_UNTRUSTED' });
  });

  it('signer from an untrusted CA: SIGNER_UNTRUSTED', () => {
    const otherCa = issue({ subject: '/DC=org/DC=elsewhere/CN=Other CA', ca: true });
    row({
      name: 'untrusted CA',
      signed: sign(issue(publisherSpec(otherCa)), [otherCa]),
      code: 'SIGNER_UNTRUSTED',
    });
  });

  it('expired signer: CERT_EXPIRED; signer not yet valid: CERT_NOT_YET_VALID', () => {
    const day = 86400_000;
    const expired = issue(
      publisherSpec(grid.intermediate, {
        notBefore: new Date(Date.now() - 9 * day),
        notAfter: new Date(Date.now() - day),
      }),
    );
    row({ name: 'expired', signed: sign(expired), code: 'CERT_EXPIRED' });
    const future = issue(
      publisherSpec(grid.intermediate, {
        notBefore: new Date(Date.now() + day),
        notAfter: new Date(Date.now() + 9 * day),
      }),
    );
    row({ name: 'not yet valid', signed: sign(future), code: 'CERT_NOT_YET_VALID' });
  });

  it('eContent with a forged visible part: LIST_MALFORMED (and OpenSSL refuses too)', () => {
    const real = serializeImageList(doc);
    const der = opensslSign({
      content: real,
      signerPem: grid.publisher.pem,
      keyPem: grid.publisher.keyPem,
      cms: true,
      nodetach: true,
      binary: true,
      der: true,
    });
    const forged = serializeImageList(listFor({ eec: grid.publisher, issuer: grid.intermediate }));
    row({ name: 'eContent', signed: withContent(withSignature(valid, der), forged), code: 'LIST_MALFORMED' });
  });

  it('host certificate without emailProtection: CERT_PURPOSE, accepted with purpose any', () => {
    const host = issue(publisherSpec(grid.intermediate, { extKeyUsage: ['serverAuth', 'clientAuth'] }));
    const signed = sign(host);
    row({ name: 'host cert', signed, code: 'CERT_PURPOSE' });
    row({ name: 'host cert, purpose any', signed, code: null, policy: { purpose: 'any' } });
    const anyEku = issue(publisherSpec(grid.intermediate, { extKeyUsage: ['anyExtendedKeyUsage'] }));
    row({
      name: 'anyExtendedKeyUsage',
      signed: sign(anyEku),
      code: null,
      laxer:
        "SPEC.md section 4 item 2 admits anyExtendedKeyUsage; OpenSSL's smimesign purpose wants emailProtection",
    });
  });

  it('signer whose key usage forbids signing: CERT_PURPOSE', () => {
    const enc = issue(publisherSpec(grid.intermediate, { keyUsage: ['keyEncipherment'] }));
    row({ name: 'keyEncipherment only', signed: sign(enc), code: 'CERT_PURPOSE' });
  });

  it('unknown critical extension in the leaf: CERT_CRITICAL_EXTENSION', () => {
    const leaf = issue(publisherSpec(grid.intermediate, { extensions: UNKNOWN_CRITICAL }));
    row({ name: 'critical in leaf', signed: sign(leaf), code: 'CERT_CRITICAL_EXTENSION' });
    // The same extension, not critical, is fine.
    const soft = issue(
      publisherSpec(grid.intermediate, { extensions: [{ ...UNKNOWN_EXTENSION, critical: false }] }),
    );
    row({ name: 'non-critical unknown', signed: sign(soft), code: null });
  });

  it('unknown critical extension in the CA: CERT_CRITICAL_EXTENSION', async () => {
    const ca = issue({ subject: INTERMEDIATE_DN, issuer: grid.root, ca: true, extensions: UNKNOWN_CRITICAL });
    const caTrust = await trustFor([[grid.root], [ca]]);
    row({
      name: 'critical in CA',
      signed: sign(issue(publisherSpec(ca))),
      code: 'CERT_CRITICAL_EXTENSION',
      trust: caTrust,
    });
  });

  it('intermediate that is not a CA, or may not sign certificates: CERT_PURPOSE', async () => {
    const notCa = issue({ subject: INTERMEDIATE_DN, issuer: grid.root, ca: false });
    const t1 = await trustFor([[grid.root], [notCa]]);
    row({
      name: 'intermediate not CA',
      signed: sign(issue(publisherSpec(notCa))),
      code: 'CERT_PURPOSE',
      trust: t1,
    });
    const noSign = issue({
      subject: INTERMEDIATE_DN,
      issuer: grid.root,
      ca: true,
      keyUsage: ['cRLSign', 'digitalSignature'],
    });
    const t2 = await trustFor([[grid.root], [noSign]]);
    row({
      name: 'CA without keyCertSign',
      signed: sign(issue(publisherSpec(noSign))),
      code: 'CERT_PURPOSE',
      trust: t2,
    });
  });

  it('CA path length exceeded: SIGNER_UNTRUSTED', async () => {
    // The intermediate allows no CA below it; a sub-CA then issues the publisher.
    const sub = issue({ subject: '/DC=org/DC=example/CN=Sub CA', issuer: grid.intermediate, ca: true });
    const t = await trustFor([[grid.root], [grid.intermediate], [sub]]);
    row({ name: 'path length', signed: sign(issue(publisherSpec(sub))), code: 'SIGNER_UNTRUSTED', trust: t });
  });
});
