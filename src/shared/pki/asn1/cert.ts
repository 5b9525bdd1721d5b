import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { ErrorCode } from '../../errors.js';
import { OID } from '../oids.js';
import type { AlgorithmId, Certificate, Crl, Extension, KeyUsage } from '../types.js';
import { crlFromDer } from './crlder.js';
import {
  bitsOf,
  boolOf,
  checkBer,
  children,
  copy,
  decodeName,
  decodeWith,
  fail,
  intOf,
  isContext,
  isInteger,
  octetsOf,
  oidOf,
  parseDer,
} from './der.js';

function algorithm(alg: pkijs.AlgorithmIdentifier): AlgorithmId {
  const params = alg.algorithmParams as asn1js.AsnType | undefined;
  return {
    oid: alg.algorithmId,
    params: params === undefined ? undefined : copy(params.toBER()),
  };
}

function extensionsOf(list: pkijs.Extension[] | undefined): Extension[] {
  const seen = new Set<string>();
  return (list ?? []).map((ext) => {
    if (seen.has(ext.extnID)) fail(`extension ${ext.extnID} appears twice`);
    seen.add(ext.extnID);
    return { oid: ext.extnID, critical: ext.critical, value: copy(ext.extnValue.valueBlock.valueHexView) };
  });
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
  checkBer(der);
  const cert = pkijs.Certificate.fromBER(der.slice());
  // A signature value with unused bits is not the signer's output (OpenSSL: "invalid bit
  // string bits left"); ignoring them would accept a changed certificate.
  if (cert.signatureValue.valueBlock.unusedBits !== 0) fail('signature value with unused bits');
  const extensions = extensionsOf(cert.extensions);
  const bc = find(extensions, OID.basicConstraints);
  const ku = find(extensions, OID.keyUsage);
  const eku = find(extensions, OID.extKeyUsage);
  const ski = find(extensions, OID.subjectKeyIdentifier);
  const aki = find(extensions, OID.authorityKeyIdentifier);
  const pci = find(extensions, OID.proxyCertInfo);
  return {
    der: copy(der),
    tbs: copy(cert.tbsView),
    version: cert.version + 1,
    serial: Buffer.from(cert.serialNumber.valueBlock.valueHexView)
      .toString('hex')
      .replace(/^(00)+(?=..)/, ''),
    signatureAlgorithm: algorithm(cert.signatureAlgorithm),
    tbsSignatureAlgorithm: algorithm(cert.signature),
    signature: copy(cert.signatureValue.valueBlock.valueHexView),
    issuer: decodeName(copy(cert.issuer.valueBeforeDecode)),
    subject: decodeName(copy(cert.subject.valueBeforeDecode)),
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    spki: copy(cert.subjectPublicKeyInfo.toSchema().toBER()),
    extensions,
    basicConstraints: bc === undefined ? undefined : basicConstraintsOf(bc),
    keyUsage: ku === undefined ? undefined : keyUsageOf(ku),
    extKeyUsage: eku === undefined ? undefined : children(parseDer(eku)).map((b) => oidOf(b)),
    subjectKeyId: ski === undefined ? undefined : octetsOf(parseDer(ski)),
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
