import { createPublicKey, constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { VmiError } from '../errors.js';
import { decodePssParams } from './asn1/pss.js';
import { OID } from './oids.js';
import type { AlgorithmId } from './types.js';

/**
 * Signature primitives on Node's crypto. They answer questions (is this signature valid,
 * how strong is this algorithm); the layers above decide what to do with the answer.
 */

const DIGEST_NAMES: Record<string, string> = {
  [OID.md5]: 'md5',
  [OID.sha1]: 'sha1',
  [OID.sha224]: 'sha224',
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

const SIGNATURE_DIGESTS: Record<string, string> = {
  [OID.md5WithRSA]: 'md5',
  [OID.md2WithRSA]: 'md2',
  [OID.sha1WithRSA]: 'sha1',
  [OID.sha224WithRSA]: 'sha224',
  [OID.sha256WithRSA]: 'sha256',
  [OID.sha384WithRSA]: 'sha384',
  [OID.sha512WithRSA]: 'sha512',
  [OID.ecdsaWithSha1]: 'sha1',
  [OID.ecdsaWithSha224]: 'sha224',
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.ecdsaWithSha512]: 'sha512',
};

export function digestName(oid: string): string | undefined {
  return DIGEST_NAMES[oid];
}

/** The digest a signature algorithm uses; `fallbackDigest` serves bare rsaEncryption in CMS. */
export function signatureDigest(alg: AlgorithmId, fallbackDigest?: string): string | undefined {
  if (alg.oid === OID.rsaPss) return DIGEST_NAMES[decodePssParams(alg.params).hashOid];
  if (alg.oid === OID.ed25519) return 'sha512';
  if (alg.oid === OID.rsaEncryption || alg.oid === OID.ecPublicKey) return fallbackDigest;
  return SIGNATURE_DIGESTS[alg.oid];
}

export type Strength = 'ok' | 'sha1' | 'broken';

/** MD2/MD5 are always refused; SHA-1 only where a policy allows it. */
export function digestStrength(digest: string | undefined): Strength {
  if (digest === 'sha1') return 'sha1';
  if (digest === undefined || digest === 'md5' || digest === 'md2') return 'broken';
  return 'ok';
}

/**
 * Why `alg` fails the algorithm policy of certificates (MD2/MD5 or an unknown digest
 * always, SHA-1 unless allowed), or undefined when it passes. Unreadable RSASSA-PSS
 * parameters count as an unknown digest.
 */
export function weakSignatureAlgorithm(alg: AlgorithmId, allowSha1: boolean): string | undefined {
  let digest: string | undefined;
  try {
    digest = signatureDigest(alg);
  } catch {
    digest = undefined;
  }
  const strength = digestStrength(digest);
  if (strength === 'ok' || (strength === 'sha1' && allowSha1)) return undefined;
  if (strength === 'sha1') return 'sha1 (SHA-1 is refused unless --allow-sha1 is given)';
  return digest ?? `unknown digest (${alg.oid})`;
}

/** Keys by the SPKI array of a decoded certificate: trust store certificates live long. */
const KEYS = new WeakMap<Uint8Array, KeyObject>();

export function publicKeyOf(spki: Uint8Array): KeyObject {
  const cached = KEYS.get(spki);
  if (cached !== undefined) return cached;
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    KEYS.set(spki, key);
    return key;
  } catch (err) {
    throw new VmiError('SIGNER_UNTRUSTED', 'unsupported or invalid public key', { cause: err });
  }
}

/** RSA modulus size in bits, or undefined for other key types. */
export function rsaBits(key: KeyObject): number | undefined {
  return key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss'
    ? key.asymmetricKeyDetails?.modulusLength
    : undefined;
}

/**
 * Verifies `signature` over `data` with `key` under `alg`. Returns false for a wrong
 * signature and for algorithms it does not know (fail closed).
 */
export function verifySignature(
  alg: AlgorithmId,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
  fallbackDigest?: string,
): boolean {
  const digest = signatureDigest(alg, fallbackDigest);
  try {
    if (alg.oid === OID.ed25519) return cryptoVerify(null, data, key, signature);
    if (digest === undefined) return false;
    if (alg.oid === OID.rsaPss) {
      const pss = decodePssParams(alg.params);
      if (pss.mgfHashOid !== pss.hashOid) return false;
      return cryptoVerify(
        digest,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pss.saltLength },
        signature,
      );
    }
    const isEc = alg.oid.startsWith('1.2.840.10045.');
    if (isEc !== (key.asymmetricKeyType === 'ec')) return false;
    return cryptoVerify(digest, data, key, signature);
  } catch {
    return false;
  }
}
