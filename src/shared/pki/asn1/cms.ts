import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../oids.js';
import type { AlgorithmId, SignedAttribute, SignedData, SignerInfo } from '../types.js';
import { decodeCertificate } from './cert.js';
import {
  children,
  copy,
  decodeName,
  decodeWith,
  encoded,
  fail,
  isContext,
  isInteger,
  octetsOf,
  oidOf,
  parseDer,
} from './der.js';

function algorithm(alg: pkijs.AlgorithmIdentifier): AlgorithmId {
  const params = alg.algorithmParams as asn1js.AsnType | undefined;
  return { oid: alg.algorithmId, params: params === undefined ? undefined : copy(params.toBER()) };
}

function signerInfoFrom(info: pkijs.SignerInfo): SignerInfo {
  const sid =
    info.sid instanceof pkijs.IssuerAndSerialNumber
      ? {
          issuer: decodeName(copy(info.sid.issuer.valueBeforeDecode)),
          serial: Buffer.from(info.sid.serialNumber.valueBlock.valueHexView)
            .toString('hex')
            .replace(/^(00)+(?=..)/, ''),
        }
      : { subjectKeyId: octetsOf(info.sid as asn1js.AsnType) };
  const attrs = info.signedAttrs;
  const signedAttrs: SignedAttribute[] = (attrs?.attributes ?? []).map((a) => ({
    oid: a.type,
    values: (a.values as asn1js.AsnType[]).map((v) => encoded(v)),
  }));
  return {
    sid,
    digestAlgorithm: algorithm(info.digestAlgorithm),
    // pkijs keeps the received encoding with its first octet already changed to SET (0x31).
    signedAttrsDer: attrs === undefined ? undefined : copy(attrs.encodedValue),
    signedAttrs,
    signatureAlgorithm: algorithm(info.signatureAlgorithm),
    signature: copy(info.signature.valueBlock.valueHexView),
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
    signerInfos: children(signerInfos).map((block) =>
      signerInfoFrom(new pkijs.SignerInfo({ schema: block })),
    ),
  };
}

/** Decodes a DER CMS ContentInfo holding SignedData; any failure is LIST_MALFORMED. */
export function decodeSignedData(der: Uint8Array): SignedData {
  return decodeWith('LIST_MALFORMED', 'CMS signature', () => signedDataFrom(der));
}

function toAttribute(attr: SignedAttribute): pkijs.Attribute {
  return new pkijs.Attribute({ type: attr.oid, values: attr.values.map((v) => parseDer(v)) });
}

function sortedAttributes(attrs: SignedAttribute[]): pkijs.Attribute[] {
  // DER orders SET OF by encoding; OpenSSL re-encodes before verifying, so order matters.
  return attrs
    .map((a) => ({ attr: toAttribute(a), der: Buffer.from(toAttribute(a).toSchema().toBER()) }))
    .sort((x, y) => Buffer.compare(x.der, y.der))
    .map((x) => x.attr);
}

/** DER of the signed attributes as a SET: the bytes a CMS signer signs. */
export function encodeSignedAttributes(attrs: SignedAttribute[]): Uint8Array {
  const set = new asn1js.Set({ value: sortedAttributes(attrs).map((a) => a.toSchema()) });
  return copy(set.toBER());
}

export function encodeOid(oid: string): Uint8Array {
  return copy(new asn1js.ObjectIdentifier({ value: oid }).toBER());
}

export function encodeOctets(bytes: Uint8Array): Uint8Array {
  return copy(new asn1js.OctetString({ valueHex: bytes.slice() }).toBER());
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

function algorithmIdentifier(alg: AlgorithmId): pkijs.AlgorithmIdentifier {
  return new pkijs.AlgorithmIdentifier({
    algorithmId: alg.oid,
    ...(alg.params === undefined ? {} : { algorithmParams: parseDer(alg.params) }),
  });
}

/** Encodes a detached CMS SignedData (no eContent) as a DER ContentInfo. */
export function encodeDetachedSignedData(input: DetachedSignedDataInput): Uint8Array {
  const certificates = input.certificates.map((der) => pkijs.Certificate.fromBER(der.slice()));
  const signer = certificates[0];
  if (signer === undefined) throw new TypeError('the signer certificate is required');
  const digest = algorithmIdentifier({ oid: input.digestOid, params: copy(new asn1js.Null().toBER()) });
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: signer.issuer, serialNumber: signer.serialNumber }),
    digestAlgorithm: digest,
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: sortedAttributes(input.signedAttrs),
    }),
    signatureAlgorithm: algorithmIdentifier(input.signatureAlgorithm),
    signature: new asn1js.OctetString({ valueHex: input.signature.slice() }),
  });
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [digest],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }),
    certificates,
    signerInfos: [signerInfo],
  });
  const info = new pkijs.ContentInfo({
    contentType: OID.signedData,
    content: signedData.toSchema(true),
  });
  return copy(info.toSchema().toBER());
}
