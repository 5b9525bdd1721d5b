import * as asn1js from 'asn1js';
import { OID } from '../oids.js';
import type { AlgorithmId, SignedAttribute, SignedData, SignerInfo } from '../types.js';
import { decodeCertificate } from './cert.js';
import {
  algorithmOf,
  children,
  copy,
  decodeWith,
  encoded,
  fail,
  integerHex,
  intOf,
  isContext,
  isInteger,
  nameOf,
  octetsOf,
  octetStringOf,
  oidOf,
  parseDer,
  sequence,
} from './der.js';

/** SignerIdentifier: IssuerAndSerialNumber, or [0] SubjectKeyIdentifier (primitive). */
function sidOf(block: asn1js.AsnType | undefined): SignerInfo['sid'] {
  if (isContext(block, 0) && block?.idBlock.isConstructed === false) return { subjectKeyId: octetsOf(block) };
  const [issuer, serial, ...more] = sequence(block, 'the signer identifier');
  if (more.length > 0) fail('a signer identifier with more than two fields');
  return { issuer: nameOf(issuer), serial: integerHex(serial) };
}

function attributeOf(block: asn1js.AsnType): SignedAttribute {
  const [type, values, ...more] = sequence(block, 'an attribute');
  if (more.length > 0 || !(values instanceof asn1js.Set)) fail('an attribute without its SET of values');
  return { oid: oidOf(type), values: children(values).map((v) => encoded(v)) };
}

/**
 * SignerInfo (RFC 5652 section 5.3): version, sid, digestAlgorithm, [0] signedAttrs?,
 * signatureAlgorithm, signature, [1] unsignedAttrs? (read past, not used).
 */
function signerInfoFrom(block: asn1js.AsnType): SignerInfo {
  const fields = sequence(block, 'a SignerInfo');
  let at = 0;
  intOf(fields[at++]);
  const sid = sidOf(fields[at++]);
  const digestAlgorithm = algorithmOf(fields[at++]);
  const attrs = isContext(fields[at], 0) ? fields[at++] : undefined;
  const signatureAlgorithm = algorithmOf(fields[at++]);
  const signature = octetStringOf(fields[at++]);
  if (isContext(fields[at], 1)) children(fields[at++]);
  if (at !== fields.length) fail('a SignerInfo with fields out of place');
  const signedAttrsDer = attrs === undefined ? undefined : encoded(attrs);
  // What was signed is the attributes as a SET: the same bytes with the SET tag (RFC 5652 5.4).
  if (signedAttrsDer !== undefined) signedAttrsDer[0] = 0x31;
  return {
    sid,
    digestAlgorithm,
    signedAttrsDer,
    signedAttrs: attrs === undefined ? [] : children(attrs).map(attributeOf),
    signatureAlgorithm,
    signature,
  };
}

/**
 * ContentInfo { signedData, [0] SignedData { version, digestAlgorithms, encapContentInfo,
 * [0] certificates?, [1] crls?, signerInfos } }, walked directly: pkijs's SignedData
 * schema match and a re-encoding of every certificate cost most of a verification.
 * Embedded certificates keep their exact bytes.
 */
function signedDataFrom(der: Uint8Array): SignedData {
  const info = parseDer(der);
  if (!(info instanceof asn1js.Sequence)) fail('ContentInfo is not a SEQUENCE');
  const [contentType, wrapped, ...more] = children(info);
  if (oidOf(contentType) !== OID.signedData) fail(`content type ${oidOf(contentType)} is not signedData`);
  if (!isContext(wrapped, 0) || more.length > 0) fail('ContentInfo without its [0] content');
  const [sd, ...extra] = children(wrapped);
  if (!(sd instanceof asn1js.Sequence) || extra.length > 0) fail('not a SignedData');
  const fields = children(sd);
  const [version, digestAlgorithms, encap] = fields;
  if (!isInteger(version) || !(digestAlgorithms instanceof asn1js.Set)) fail('not a SignedData');
  if (!(encap instanceof asn1js.Sequence)) fail('SignedData without encapContentInfo');
  let i = 3;
  const certificateSet = isContext(fields[i], 0) ? fields[i++] : undefined;
  if (isContext(fields[i], 1)) i++; // CRLs inside the message are not used
  const signerInfos = fields[i++];
  if (!(signerInfos instanceof asn1js.Set) || i !== fields.length) fail('not a SignedData');
  const [eContentType, eContent, ...encapExtra] = children(encap);
  if (encapExtra.length > 0 || (eContent !== undefined && !isContext(eContent, 0)))
    fail('bad encapContentInfo');
  const certificates = (certificateSet === undefined ? [] : children(certificateSet))
    .filter((c) => c instanceof asn1js.Sequence) // other CertificateChoices are tagged
    .map((c) => decodeCertificate(encoded(c)));
  return {
    eContentType: oidOf(eContentType),
    hasEContent: eContent !== undefined,
    certificates,
    signerInfos: children(signerInfos).map(signerInfoFrom),
  };
}

/** Decodes a DER CMS ContentInfo holding SignedData; any failure is LIST_MALFORMED. */
export function decodeSignedData(der: Uint8Array): SignedData {
  return decodeWith('LIST_MALFORMED', 'CMS signature', () => signedDataFrom(der));
}

/** One DER element: `tag`, its definite length, then `parts` (already DER). */
function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  const header = length < 0x80 ? [tag, length] : [tag, 0x80 | octets.length, ...octets];
  return new Uint8Array(Buffer.concat([Uint8Array.from(header), ...parts]));
}

const NULL = Uint8Array.of(0x05, 0x00);
const VERSION_1 = Uint8Array.of(0x02, 0x01, 0x01);

/** DER of the signed attributes as a SET: the bytes a CMS signer signs. */
export function encodeSignedAttributes(attrs: SignedAttribute[]): Uint8Array {
  // DER orders SET OF by encoding; OpenSSL re-encodes before verifying, so order matters.
  const encodedAttrs = attrs
    .map((a) => tlv(0x30, encodeOid(a.oid), tlv(0x31, ...a.values)))
    .sort((x, y) => Buffer.compare(x, y));
  return tlv(0x31, ...encodedAttrs);
}

export function encodeOid(oid: string): Uint8Array {
  return copy(new asn1js.ObjectIdentifier({ value: oid }).toBER());
}

export function encodeOctets(bytes: Uint8Array): Uint8Array {
  return tlv(0x04, bytes);
}

export function encodeUtcTime(date: Date): Uint8Array {
  // RFC 5652: UTCTime for dates between 1950 and 2049, GeneralizedTime otherwise.
  const year = date.getUTCFullYear();
  const block =
    year >= 1950 && year < 2050
      ? new asn1js.UTCTime({ valueDate: date })
      : new asn1js.GeneralizedTime({ valueDate: date });
  return copy(block.toBER());
}

export interface DetachedSignedDataInput {
  /** DER certificates to embed, the signer's first. */
  certificates: Uint8Array[];
  digestOid: string;
  signatureAlgorithm: AlgorithmId;
  signedAttrs: SignedAttribute[];
  signature: Uint8Array;
}

/** The signer's issuer and serial number exactly as its certificate encodes them. */
function issuerAndSerial(certificate: Uint8Array): Uint8Array {
  const fields = sequence(sequence(parseDer(certificate), 'a certificate')[0], 'tbsCertificate');
  const at = isContext(fields[0], 0) ? 1 : 0;
  const [serial, , issuer] = fields.slice(at);
  if (!isInteger(serial) || issuer === undefined) fail('a certificate without serial number or issuer');
  return tlv(0x30, encoded(issuer), encoded(serial));
}

/** Encodes a detached CMS SignedData (no eContent) as a DER ContentInfo. */
export function encodeDetachedSignedData(input: DetachedSignedDataInput): Uint8Array {
  const signer = input.certificates[0];
  if (signer === undefined) throw new TypeError('the signer certificate is required');
  const digest = tlv(0x30, encodeOid(input.digestOid), NULL);
  const attrs = encodeSignedAttributes(input.signedAttrs);
  attrs[0] = 0xa0; // [0] IMPLICIT SET OF Attribute
  const { oid, params } = input.signatureAlgorithm;
  const signerInfo = tlv(
    0x30,
    VERSION_1,
    issuerAndSerial(signer),
    digest,
    attrs,
    tlv(0x30, encodeOid(oid), ...(params === undefined ? [] : [params])),
    encodeOctets(input.signature),
  );
  const signedData = tlv(
    0x30,
    VERSION_1,
    tlv(0x31, digest),
    tlv(0x30, encodeOid(OID.data)),
    tlv(0xa0, ...input.certificates),
    tlv(0x31, signerInfo),
  );
  return tlv(0x30, encodeOid(OID.signedData), tlv(0xa0, signedData));
}
