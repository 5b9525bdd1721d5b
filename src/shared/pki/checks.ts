import { VmiError, type ErrorCode } from '../errors.js';
import type { ChainPolicy } from './policy.js';
import { formatOneline, sameName } from './dn.js';
import { OID } from './oids.js';
import { publicKeyOf, verifySignature } from './signature.js';
import type { Certificate } from './types.js';

/** Rules shared by the CA path validator (chain.ts) and the proxy walker (proxy.ts). */

export { DEFAULT_CHAIN_POLICY, type ChainPolicy } from './policy.js';

/** Extensions this validator understands; an unknown critical one refuses the certificate. */
const KNOWN_EXTENSIONS = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.issuerAltName,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.policyConstraints,
  OID.inhibitAnyPolicy,
  OID.crlDistributionPoints,
  OID.authorityInfoAccess,
  OID.proxyCertInfo,
  OID.netscapeCertType,
  OID.vomsAcSeq,
]);

export function fail(code: ErrorCode, message: string, cert?: Certificate): never {
  const subject = cert === undefined ? undefined : formatOneline(cert.subject);
  throw new VmiError(code, message, subject === undefined ? undefined : { details: { subject } });
}

export function isSelfSigned(cert: Certificate): boolean {
  return (
    sameName(cert.subject, cert.issuer) &&
    verifySignature(cert.signatureAlgorithm, cert.tbs, cert.signature, publicKeyOf(cert.spki))
  );
}

/**
 * The certificate's outer signature algorithm must be its signed (inner) one, parameters
 * included, as OpenSSL's X509_verify requires: the outer one is not covered by the
 * signature, so a difference there is a change nobody signed.
 */
export function checkAlgorithmsAgree(cert: Certificate, who: string): void {
  const outer = cert.signatureAlgorithm;
  const inner = cert.tbsSignatureAlgorithm;
  const params = (a: typeof outer) => Buffer.from(a.params ?? new Uint8Array()).toString('hex');
  if (outer.oid !== inner.oid || params(outer) !== params(inner)) {
    fail('SIGNATURE_INVALID', `${who}: inner and outer signature algorithms differ`, cert);
  }
}

/** True when `issuer`'s key made `cert`'s signature. */
export function signedBy(cert: Certificate, issuer: Certificate): boolean {
  if (!sameName(cert.issuer, issuer.subject)) return false;
  return verifySignature(cert.signatureAlgorithm, cert.tbs, cert.signature, publicKeyOf(issuer.spki));
}

export function checkValidity(cert: Certificate, now: Date): void {
  const who = formatOneline(cert.subject);
  if (now.getTime() < cert.notBefore.getTime()) {
    fail('CERT_NOT_YET_VALID', `${who} is not valid before ${cert.notBefore.toISOString()}`, cert);
  }
  if (now.getTime() > cert.notAfter.getTime()) {
    fail('CERT_EXPIRED', `${who} expired at ${cert.notAfter.toISOString()}`, cert);
  }
}

export function checkCriticalExtensions(cert: Certificate): void {
  const unknown = cert.extensions.find((e) => e.critical && !KNOWN_EXTENSIONS.has(e.oid));
  if (unknown !== undefined) {
    fail(
      'CERT_CRITICAL_EXTENSION',
      `${formatOneline(cert.subject)} has an unknown critical extension ${unknown.oid}`,
      cert,
    );
  }
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Extended key usage compatible with the policy's purpose, where the extension is present. */
export function checkSmimeEku(cert: Certificate, policy: ChainPolicy): void {
  const eku = cert.extKeyUsage;
  if (policy.purpose === 'any' || eku === undefined || eku.includes(OID.anyExtendedKeyUsage)) return;
  const [wanted, use] =
    policy.purpose === 'client'
      ? [CLIENT_AUTH, 'TLS client authentication (no clientAuth']
      : [OID.emailProtection, 'S/MIME signing (no emailProtection'];
  if (!eku.includes(wanted)) {
    fail('CERT_PURPOSE', `${formatOneline(cert.subject)} is not for ${use} extended key usage)`, cert);
  }
}

export function checkSigningKeyUsage(cert: Certificate): void {
  const ku = cert.keyUsage;
  if (ku !== undefined && !ku.has('digitalSignature') && !ku.has('nonRepudiation')) {
    fail('CERT_PURPOSE', `${formatOneline(cert.subject)} may not sign (key usage)`, cert);
  }
}
