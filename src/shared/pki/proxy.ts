import { VmiError } from '../errors.js';
import {
  checkAlgorithmsAgree,
  checkCriticalExtensions,
  checkSmimeEku,
  checkValidity,
  signedBy,
  type ChainPolicy,
} from './checks.js';
import { formatOneline } from './dn.js';
import { OID } from './oids.js';
import { digestStrength, publicKeyOf, rsaBits, signatureDigest } from './signature.js';
import type { Certificate, Name } from './types.js';

/**
 * RFC 3820 proxy certificates, followed from the signer to the end-entity certificate
 * (EEC). Generic path validators cannot do this (pkijs only admits CAs as issuers), so
 * the rules of RFC 3820 section 4.1.3 are checked here, one by one, with their reason.
 */

const MAX_PROXIES = 16;
const POLICY_LANGUAGES = new Set<string>([OID.proxyInheritAll, OID.proxyIndependent, OID.proxyLimited]);
const COMMON_NAME = '2.5.4.3';

function invalid(proxy: Certificate, reason: string): never {
  throw new VmiError('PROXY_INVALID', `proxy ${formatOneline(proxy.subject)}: ${reason}`, {
    details: { subject: formatOneline(proxy.subject) },
  });
}

function rdnKey(rdn: Name['rdns'][number]): string {
  return rdn.map((a) => `${a.oid}=${a.tag}:${Buffer.from(a.value).toString('hex')}`).join('+');
}

/** Subject = issuer subject + exactly one single-valued CN (RFC 3820 section 3.4). */
function extendsIssuerName(proxy: Certificate, issuer: Certificate): boolean {
  const base = issuer.subject.rdns;
  const own = proxy.subject.rdns;
  if (own.length !== base.length + 1) return false;
  if (!base.every((rdn, i) => rdnKey(rdn) === rdnKey(own[i] ?? []))) return false;
  const last = own[own.length - 1];
  return last?.length === 1 && last[0]?.oid === COMMON_NAME;
}

/** Pre-RFC (Globus legacy or draft) proxies: refused with a message saying so. */
function legacyKind(cert: Certificate): string | undefined {
  if (cert.extensions.some((e) => e.oid === OID.legacyProxyCertInfo)) return 'draft (GT3) proxies';
  const last = cert.subject.rdns[cert.subject.rdns.length - 1];
  const cn =
    last?.length === 1 && last[0]?.oid === COMMON_NAME ? Buffer.from(last[0].value).toString('latin1') : '';
  const own = cert.subject.rdns;
  const issuerPrefix =
    cert.issuer.rdns.length === own.length - 1 &&
    cert.issuer.rdns.every((rdn, i) => rdnKey(rdn) === rdnKey(own[i] ?? []));
  return issuerPrefix && (cn === 'proxy' || cn === 'limited proxy') ? 'legacy Globus proxies' : undefined;
}

function checkProxyRules(proxy: Certificate, issuer: Certificate, depth: number, policy: ChainPolicy): void {
  const pci = proxy.proxyCertInfo;
  if (pci === undefined) return invalid(proxy, 'no proxyCertInfo extension');
  if (!POLICY_LANGUAGES.has(pci.policyLanguage))
    invalid(proxy, `unknown proxy policy language ${pci.policyLanguage}`);
  if (issuer.basicConstraints?.ca === true)
    invalid(proxy, 'issued by a CA certificate, not by an end entity or proxy');
  if (!extendsIssuerName(proxy, issuer)) invalid(proxy, 'subject is not the issuer subject plus one CN');
  if (proxy.basicConstraints?.ca === true) invalid(proxy, 'a proxy must not be a CA');
  if (proxy.extensions.some((e) => e.oid === OID.subjectAltName || e.oid === OID.issuerAltName)) {
    invalid(proxy, 'a proxy must not carry subject or issuer alternative names');
  }
  if (issuer.keyUsage !== undefined && !issuer.keyUsage.has('digitalSignature')) {
    invalid(proxy, `issuer ${formatOneline(issuer.subject)} may not sign (no digitalSignature key usage)`);
  }
  // `depth` proxies lie below this one on the way to the signer.
  if (pci.pathLen !== undefined && depth > pci.pathLen) {
    invalid(proxy, `proxy path length ${pci.pathLen} exceeded`);
  }
  const bits = rsaBits(publicKeyOf(proxy.spki));
  if (bits !== undefined && bits < policy.minRsaBits) {
    throw new VmiError('WEAK_ALGORITHM', `proxy ${formatOneline(proxy.subject)} has a ${bits}-bit RSA key`);
  }
  checkAlgorithmsAgree(proxy, `proxy ${formatOneline(proxy.subject)}`);
  const strength = digestStrength(signatureDigest(proxy.signatureAlgorithm));
  if (strength === 'broken' || (strength === 'sha1' && !policy.allowSha1)) {
    throw new VmiError(
      'WEAK_ALGORITHM',
      `proxy ${formatOneline(proxy.subject)} is signed with a weak algorithm`,
    );
  }
}

/**
 * Walks from `signer` through its proxy issuers to the EEC. Returns the proxies (signer
 * first) and the EEC, which the caller then validates against the trust store.
 */
export function walkProxies(
  signer: Certificate,
  embedded: Certificate[],
  policy: ChainPolicy,
  now: Date,
): { proxies: Certificate[]; eec: Certificate } {
  const proxies: Certificate[] = [];
  let current = signer;
  for (;;) {
    const legacy = legacyKind(current);
    if (legacy !== undefined)
      invalid(current, `${legacy} are not accepted; use an RFC 3820 proxy (voms-proxy-init -rfc)`);
    if (current.proxyCertInfo === undefined) return { proxies, eec: current };
    if (proxies.length >= MAX_PROXIES) invalid(current, 'too many proxy levels');
    const proxy = current;
    const issuer = embedded.find((c) => c !== proxy && signedBy(proxy, c));
    if (issuer === undefined) invalid(proxy, 'its issuer certificate is not in the signature');
    checkCriticalExtensions(proxy);
    checkSmimeEku(proxy, policy);
    checkProxyRules(proxy, issuer, proxies.length, policy);
    checkValidity(proxy, now);
    proxies.push(proxy);
    current = issuer;
  }
}
