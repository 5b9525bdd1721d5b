import { createHash, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { VmiError } from './errors.js';
import { decodeCertificate } from './pki/asn1/cert.js';
import {
  encodeDetachedSignedData,
  encodeOctets,
  encodeOid,
  encodeSignedAttributes,
  encodeUtcTime,
  decodeSignedData,
} from './pki/asn1/cms.js';
import { decodeOctetString, decodeOid, decodeWith } from './pki/asn1/der.js';
import { sameName } from './pki/dn.js';
import { OID } from './pki/oids.js';
import {
  digestName,
  digestStrength,
  publicKeyOf,
  signatureDigest,
  verifySignature,
} from './pki/signature.js';
import type { AlgorithmId, Certificate, SignerInfo } from './pki/types.js';
import { canonicalize } from './smime.js';

/** CMS detached signatures (RFC 5652) as S/MIME uses them. */

export type SigningDigest = 'sha256' | 'sha384' | 'sha512';

const DIGEST_OIDS: Record<SigningDigest, string> = {
  sha256: OID.sha256,
  sha384: OID.sha384,
  sha512: OID.sha512,
};

const ECDSA_OIDS: Record<SigningDigest, string> = {
  sha256: OID.ecdsaWithSha256,
  sha384: OID.ecdsaWithSha384,
  sha512: OID.ecdsaWithSha512,
};

export interface SignInput {
  content: Uint8Array;
  /** DER of the signer certificate. */
  certificate: Uint8Array;
  /** DER certificates to embed after the signer (proxy chain, intermediates). */
  chain: Uint8Array[];
  key: KeyObject;
  digest: SigningDigest;
  signingTime: Date;
}

function signatureAlgorithmFor(key: KeyObject, digest: SigningDigest): AlgorithmId {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      // What OpenSSL writes in a SignerInfo: rsaEncryption, the digest comes from digestAlgorithm.
      return { oid: OID.rsaEncryption, params: new Uint8Array([0x05, 0x00]) };
    case 'ec':
      return { oid: ECDSA_OIDS[digest], params: undefined };
    case 'ed25519':
      return { oid: OID.ed25519, params: undefined };
    default:
      throw new VmiError(
        'USAGE',
        `cannot sign with a ${String(key.asymmetricKeyType)} key (use RSA, EC or Ed25519)`,
      );
  }
}

/** Signs `content` as a detached CMS SignedData with signed attributes (DER). */
export function signDetached(input: SignInput): Uint8Array {
  const cert = decodeCertificate(input.certificate, 'USAGE');
  if (!publicKeyOf(cert.spki).equals(publicKeyOfPrivate(input.key))) {
    throw new VmiError('USAGE', 'the private key does not belong to the signing certificate');
  }
  const signatureAlgorithm = signatureAlgorithmFor(input.key, input.digest);
  const signedAttrs = [
    { oid: OID.contentType, values: [encodeOid(OID.data)] },
    { oid: OID.signingTime, values: [encodeUtcTime(input.signingTime)] },
    {
      oid: OID.messageDigest,
      values: [encodeOctets(createHash(input.digest).update(input.content).digest())],
    },
  ];
  const toBeSigned = encodeSignedAttributes(signedAttrs);
  const hash = input.key.asymmetricKeyType === 'ed25519' ? null : input.digest;
  const signature = new Uint8Array(cryptoSign(hash, toBeSigned, input.key));
  return encodeDetachedSignedData({
    certificates: [input.certificate, ...input.chain],
    digestOid: DIGEST_OIDS[input.digest],
    signatureAlgorithm,
    signedAttrs,
    signature,
  });
}

function publicKeyOfPrivate(key: KeyObject): KeyObject {
  return createPublicKey(key);
}

export interface VerifiedSignature {
  signer: Certificate;
  /** Every certificate the SignedData carried (the signer included). */
  certificates: Certificate[];
  /** True when the digest matched only after `\r*\n -> \r\n` canonicalisation. */
  canonicalized: boolean;
  digest: string;
}

function findSigner(info: SignerInfo, certificates: Certificate[]): Certificate {
  const sid = info.sid;
  const found = certificates.find((c) =>
    'subjectKeyId' in sid
      ? c.subjectKeyId !== undefined && Buffer.compare(c.subjectKeyId, sid.subjectKeyId) === 0
      : c.serial === sid.serial && sameName(c.issuer, sid.issuer),
  );
  if (found === undefined) {
    throw new VmiError('SIGNER_UNTRUSTED', 'the signer certificate is not included in the signature');
  }
  return found;
}

function checkDigestStrength(digest: string | undefined, allowSha1: boolean, what: string): void {
  const strength = digestStrength(digest);
  if (strength === 'broken' || (strength === 'sha1' && !allowSha1)) {
    const hint = strength === 'sha1' ? ' (SHA-1 is refused unless --allow-sha1 is given)' : '';
    throw new VmiError('WEAK_ALGORITHM', `${what} uses ${digest ?? 'an unknown digest'}${hint}`);
  }
}

function singleValue(info: SignerInfo, oid: string, name: string): Uint8Array {
  const attrs = info.signedAttrs.filter((a) => a.oid === oid);
  const value = attrs[0]?.values[0];
  if (attrs.length !== 1 || attrs[0]?.values.length !== 1 || value === undefined) {
    throw new VmiError(
      'SIGNATURE_INVALID',
      `the signed attribute ${name} must appear exactly once with one value`,
    );
  }
  return value;
}

export interface OpenedSignature {
  info: SignerInfo;
  signer: Certificate;
  /** Every certificate the SignedData carried (the signer included). */
  certificates: Certificate[];
  digest: string;
}

/**
 * Decodes a detached CMS signature and checks its structure (no eContent, one signer,
 * acceptable digest) and finds the signer certificate. OpenSSL validates the signer
 * chain before the content digest, and so do we: see verifySignedList.
 */
export function openSignature(signatureDer: Uint8Array, allowSha1: boolean): OpenedSignature {
  const sd = decodeSignedData(signatureDer);
  if (sd.hasEContent) {
    throw new VmiError(
      'LIST_MALFORMED',
      'the signature encapsulates content; a multipart/signed list must be detached',
    );
  }
  if (sd.eContentType !== OID.data)
    throw new VmiError('LIST_MALFORMED', `signed content type ${sd.eContentType} is not data`);
  if (sd.signerInfos.length !== 1) {
    throw new VmiError('SIGNATURE_INVALID', `expected exactly one signer, found ${sd.signerInfos.length}`);
  }
  const info = sd.signerInfos[0] as SignerInfo;
  const digest = digestName(info.digestAlgorithm.oid);
  checkDigestStrength(digest, allowSha1, 'the signature digest');
  const named = signatureDigest(info.signatureAlgorithm, digest);
  checkDigestStrength(named, allowSha1, 'the signature algorithm');
  checkOneHash(info.signatureAlgorithm, named, digest as string);
  return {
    info,
    signer: findSigner(info, sd.certificates),
    certificates: sd.certificates,
    digest: digest as string,
  };
}

/**
 * A signature algorithm that names a hash (sha256WithRSAEncryption, ECDSA, RSA-PSS) must
 * name the digest algorithm's: RFC 5754 lets a SignerInfo spell RSA either as rsaEncryption
 * or as the matching <hash>WithRSAEncryption, and one signature then has one hash. OpenSSL
 * hashes with digestAlgorithm whatever the name says; a mismatch is refused rather than
 * read two ways. Ed25519 hashes inside the algorithm (RFC 8419) and names none here.
 */
function checkOneHash(algorithm: AlgorithmId, named: string | undefined, digest: string): void {
  if (algorithm.oid === OID.ed25519 || named === digest) return;
  throw new VmiError(
    'SIGNATURE_INVALID',
    `the signature algorithm ${algorithm.oid} hashes with ${String(named)}, the digest algorithm with ${digest}`,
  );
}

/**
 * Checks the signature over `content`: the exact bytes first, then their canonical CRLF
 * form (SPEC.md section 3). Returns whether canonicalisation was needed.
 */
export function checkSignature(content: Uint8Array, opened: OpenedSignature): { canonicalized: boolean } {
  const { info, signer, digest } = opened;
  const key = publicKeyOf(signer.spki);
  const hash = (data: Uint8Array) => createHash(digest).update(data).digest();
  const canonical = canonicalize(content);
  const differs = Buffer.compare(canonical, content) !== 0;

  if (info.signedAttrsDer === undefined) {
    if (verifySignature(info.signatureAlgorithm, content, info.signature, key, digest))
      return { canonicalized: false };
    if (differs && verifySignature(info.signatureAlgorithm, canonical, info.signature, key, digest)) {
      return { canonicalized: true };
    }
    throw new VmiError('SIGNATURE_INVALID', 'the signature does not verify over the list content');
  }
  const seen = new Set<string>();
  for (const a of info.signedAttrs) {
    if (seen.has(a.oid)) throw new VmiError('SIGNATURE_INVALID', `signed attribute ${a.oid} appears twice`);
    seen.add(a.oid);
  }
  const contentType = decodeWith('SIGNATURE_INVALID', 'contentType attribute', () =>
    decodeOid(singleValue(info, OID.contentType, 'contentType')),
  );
  if (contentType !== OID.data) throw new VmiError('SIGNATURE_INVALID', 'the signed contentType is not data');
  const md = decodeWith('SIGNATURE_INVALID', 'messageDigest attribute', () =>
    decodeOctetString(singleValue(info, OID.messageDigest, 'messageDigest')),
  );
  let canonicalized = false;
  if (Buffer.compare(hash(content), md) !== 0) {
    if (!differs || Buffer.compare(hash(canonical), md) !== 0) {
      throw new VmiError(
        'SIGNATURE_INVALID',
        'the list content does not match its signature (message digest differs)',
      );
    }
    canonicalized = true;
  }
  if (!verifySignature(info.signatureAlgorithm, info.signedAttrsDer, info.signature, key, digest)) {
    throw new VmiError('SIGNATURE_INVALID', 'the signature does not verify with the signer certificate');
  }
  return { canonicalized };
}

/** Both steps at once, without chain validation (vmicaster's check of its own output). */
export function verifyDetached(
  content: Uint8Array,
  signatureDer: Uint8Array,
  allowSha1: boolean,
): VerifiedSignature {
  const opened = openSignature(signatureDer, allowSha1);
  const { canonicalized } = checkSignature(content, opened);
  return { signer: opened.signer, certificates: opened.certificates, canonicalized, digest: opened.digest };
}
