import * as asn1js from 'asn1js';
import type { ErrorCode } from '../../errors.js';
import { OID } from '../oids.js';
import type { Certificate, Crl, Extension, KeyUsage } from '../types.js';
import { crlFromDer } from './crlder.js';
import {
  algorithmOf,
  bitsOf,
  boolOf,
  children,
  copy,
  decodeWith,
  encoded,
  fail,
  intOf,
  integerHex,
  isContext,
  isInteger,
  nameOf,
  octetsOf,
  octetStringOf,
  oidOf,
  parseDer,
  sequence,
  timeOf,
} from './der.js';

/**
 * X.509 certificates (RFC 5280 section 4.1), walked field by field over asn1js: every
 * element has the tag, the place and the count the structure gives it, or the decoding
 * fails. (pkijs, used before, took about 40 ms of every verifying command to load and
 * decoded through a schema matcher.)
 */

function extensionOf(block: asn1js.AsnType): Extension {
  const fields = sequence(block, 'an extension');
  const [id, second, third, ...more] = fields;
  if (more.length > 0 || fields.length < 2) fail('an extension with other than two or three fields');
  const critical = third === undefined ? false : boolOf(second);
  return { oid: oidOf(id), critical, value: octetStringOf(third ?? second) };
}

function extensionsOf(block: asn1js.AsnType | undefined): Extension[] {
  const [list, ...more] = children(block);
  if (more.length > 0) fail('extensions followed by more');
  const seen = new Set<string>();
  return sequence(list, 'the extensions').map((item) => {
    const ext = extensionOf(item);
    if (seen.has(ext.oid)) fail(`extension ${ext.oid} appears twice`);
    seen.add(ext.oid);
    return ext;
  });
}

/** The version, 1 when the [0] field is absent (DEFAULT v1). */
function versionOf(block: asn1js.AsnType | undefined): number {
  const [value, ...more] = children(block);
  if (more.length > 0) fail('version followed by more');
  return intOf(value) + 1;
}

/** The field at `at` when it carries the context tag [tag] (an optional field present). */
function optional(fields: asn1js.AsnType[], at: number, tag: number): asn1js.AsnType | undefined {
  return isContext(fields[at], tag) ? fields[at] : undefined;
}

const KEY_USAGE_BITS: KeyUsage[] = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

function keyUsageOf(value: Uint8Array): Set<KeyUsage> {
  const { bytes } = bitsOf(parseDer(value));
  const usages = new Set<KeyUsage>();
  KEY_USAGE_BITS.forEach((usage, bit) => {
    const byte = bytes[bit >> 3] ?? 0;
    if ((byte & (0x80 >> (bit & 7))) !== 0) usages.add(usage);
  });
  return usages;
}

function basicConstraintsOf(value: Uint8Array): { ca: boolean; pathLen: number | undefined } {
  const items = children(parseDer(value));
  let index = 0;
  let ca = false;
  if (items[index] instanceof asn1js.Boolean) ca = boolOf(items[index++]);
  const pathLen = items[index] === undefined ? undefined : intOf(items[index]);
  return { ca, pathLen };
}

function proxyCertInfoOf(value: Uint8Array): { pathLen: number | undefined; policyLanguage: string } {
  const items = children(parseDer(value));
  const first = items[0];
  const hasPathLen = isInteger(first);
  const pathLen = hasPathLen ? intOf(first) : undefined;
  const policy = items[hasPathLen ? 1 : 0];
  if (policy === undefined) fail('proxyCertInfo without proxyPolicy');
  return { pathLen, policyLanguage: oidOf(children(policy)[0]) };
}

function authorityKeyIdOf(value: Uint8Array): Uint8Array | undefined {
  const first = children(parseDer(value))[0];
  return isContext(first, 0) ? octetsOf(first) : undefined;
}

function find(extensions: Extension[], oid: string): Uint8Array | undefined {
  return extensions.find((e) => e.oid === oid)?.value;
}

function certificateFrom(der: Uint8Array): Certificate {
  const [tbs, signatureAlgorithm, signatureValue, ...more] = sequence(parseDer(der), 'a certificate');
  if (more.length > 0) fail('a certificate with more than three fields');
  const fields = sequence(tbs, 'tbsCertificate');
  let at = 0;
  const version = optional(fields, at, 0) === undefined ? 1 : versionOf(fields[at++]);
  const serial = integerHex(fields[at++]);
  const tbsSignatureAlgorithm = algorithmOf(fields[at++]);
  const issuer = nameOf(fields[at++]);
  const [notBefore, notAfter, ...late] = sequence(fields[at++], 'validity');
  if (late.length > 0) fail('validity with more than two times');
  const subject = nameOf(fields[at++]);
  const spki = fields[at++];
  sequence(spki, 'subjectPublicKeyInfo');
  for (const tag of [1, 2]) {
    // issuerUniqueID, subjectUniqueID: primitive BIT STRINGs, not used.
    const unique = optional(fields, at, tag);
    if (unique !== undefined && unique.idBlock.isConstructed) fail(`constructed [${tag}] unique identifier`);
    if (unique !== undefined) at++;
  }
  const extensionsBlock = optional(fields, at, 3);
  if (extensionsBlock !== undefined) at++;
  if (at !== fields.length) fail('tbsCertificate with fields out of place');
  const signature = bitsOf(signatureValue);
  // A signature value with unused bits is not the signer's output (OpenSSL: "invalid bit
  // string bits left"); ignoring them would accept a changed certificate.
  if (signature.unused !== 0) fail('signature value with unused bits');
  const extensions = extensionsBlock === undefined ? [] : extensionsOf(extensionsBlock);
  const bc = find(extensions, OID.basicConstraints);
  const ku = find(extensions, OID.keyUsage);
  const eku = find(extensions, OID.extKeyUsage);
  const ski = find(extensions, OID.subjectKeyIdentifier);
  const aki = find(extensions, OID.authorityKeyIdentifier);
  const pci = find(extensions, OID.proxyCertInfo);
  return {
    der: copy(der),
    tbs: encoded(tbs as asn1js.AsnType),
    version,
    serial,
    signatureAlgorithm: algorithmOf(signatureAlgorithm),
    tbsSignatureAlgorithm,
    signature: signature.bytes,
    issuer,
    subject,
    notBefore: timeOf(notBefore),
    notAfter: timeOf(notAfter),
    spki: encoded(spki as asn1js.AsnType),
    extensions,
    basicConstraints: bc === undefined ? undefined : basicConstraintsOf(bc),
    keyUsage: ku === undefined ? undefined : keyUsageOf(ku),
    extKeyUsage: eku === undefined ? undefined : children(parseDer(eku)).map((b) => oidOf(b)),
    subjectKeyId: ski === undefined ? undefined : octetStringOf(parseDer(ski)),
    authorityKeyId: aki === undefined ? undefined : authorityKeyIdOf(aki),
    proxyCertInfo: pci === undefined ? undefined : proxyCertInfoOf(pci),
  };
}

/** Decodes a DER X.509 certificate; any failure becomes `code`. */
export function decodeCertificate(der: Uint8Array, code: ErrorCode = 'LIST_MALFORMED'): Certificate {
  return decodeWith(code, 'certificate', () => certificateFrom(der));
}

/** Decodes a DER CRL; any failure becomes `code`. */
export function decodeCrl(der: Uint8Array, code: ErrorCode = 'CRL_MISSING'): Crl {
  return decodeWith(code, 'CRL', () => crlFromDer(der));
}
