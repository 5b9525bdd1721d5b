import {
  checkAlgorithmsAgree,
  checkCriticalExtensions,
  checkSigningKeyUsage,
  checkSmimeEku,
  checkValidity,
  fail,
  isSelfSigned,
  signedBy,
  type ChainPolicy,
} from './checks.js';
import { checkRevocation } from './crl.js';
import { formatOneline, nameKey, sameDn, sameName } from './dn.js';
import { checkNamespace } from './namespaces.js';
import { walkProxies } from './proxy.js';
import { digestStrength, publicKeyOf, rsaBits, signatureDigest } from './signature.js';
import { fingerprint, type TrustStore } from './truststore.js';
import type { Certificate } from './types.js';

export { DEFAULT_CHAIN_POLICY, type ChainPolicy } from './checks.js';

/**
 * Certificate path validation for list signers (SPEC.md section 4, items 2 to 5): proxies
 * are followed to the end-entity certificate, a path is built from it to a self-signed
 * anchor of the trust store, and every rule is checked at one fixed `now`.
 */

export interface ValidatedChain {
  signer: Certificate;
  /** Proxy certificates from the signer down to (not including) the EEC. */
  proxies: Certificate[];
  eec: Certificate;
  /** EEC, intermediate CAs, anchor. */
  path: Certificate[];
}

const MAX_PATH = 10;
const MAX_PATHS = 16;

function issuerCandidates(cert: Certificate, pool: Certificate[], store: TrustStore): Certificate[] {
  const seen = new Set<string>();
  const out: Certificate[] = [];
  for (const c of [...(store.bySubject.get(nameKey(cert.issuer)) ?? []), ...pool]) {
    const print = fingerprint(c.der);
    if (seen.has(print) || !signedBy(cert, c)) continue;
    seen.add(print);
    out.push(c);
  }
  // Prefer the issuer whose key identifier the certificate names.
  const aki = cert.authorityKeyId;
  if (aki === undefined) return out;
  const matches = (c: Certificate) =>
    c.subjectKeyId !== undefined && Buffer.compare(c.subjectKeyId, aki) === 0;
  return [...out.filter(matches), ...out.filter((c) => !matches(c))];
}

/** All paths from `eec` to a self-signed certificate of the trust store. */
export function buildPaths(eec: Certificate, pool: Certificate[], store: TrustStore): Certificate[][] {
  const paths: Certificate[][] = [];
  const walk = (path: Certificate[]): void => {
    const top = path[path.length - 1] as Certificate;
    if (store.fingerprints.has(fingerprint(top.der)) && isSelfSigned(top)) {
      paths.push(path);
      return;
    }
    if (path.length >= MAX_PATH) return;
    for (const next of issuerCandidates(top, pool, store)) {
      if (paths.length >= MAX_PATHS) return;
      if (path.some((c) => c.der.length === next.der.length && fingerprint(c.der) === fingerprint(next.der)))
        continue;
      walk([...path, next]);
    }
  };
  walk([eec]);
  return paths;
}

function checkAlgorithms(cert: Certificate, policy: ChainPolicy, isAnchor: boolean): void {
  const bits = rsaBits(publicKeyOf(cert.spki));
  if (bits !== undefined && bits < policy.minRsaBits) {
    fail(
      'WEAK_ALGORITHM',
      `${formatOneline(cert.subject)} has a ${bits}-bit RSA key (minimum ${policy.minRsaBits})`,
      cert,
    );
  }
  if (isAnchor) return; // An anchor is trusted as configured, not by its self-signature.
  checkAlgorithmsAgree(cert, formatOneline(cert.subject));
  const strength = digestStrength(signatureDigest(cert.signatureAlgorithm));
  if (strength === 'broken' || (strength === 'sha1' && !policy.allowSha1)) {
    fail(
      'WEAK_ALGORITHM',
      `${formatOneline(cert.subject)} is signed with a weak algorithm (${cert.signatureAlgorithm.oid})`,
      cert,
    );
  }
}

function checkCa(cert: Certificate, below: number, isAnchor: boolean, policy: ChainPolicy): void {
  const who = formatOneline(cert.subject);
  const bc = cert.basicConstraints;
  // X.509 v1 roots predate basicConstraints; they can only be anchors, never intermediates.
  const v1Anchor = isAnchor && cert.version < 3;
  if (bc?.ca !== true && !v1Anchor) fail('CERT_PURPOSE', `${who} is not a CA certificate`, cert);
  if (cert.keyUsage !== undefined && !cert.keyUsage.has('keyCertSign')) {
    fail('CERT_PURPOSE', `${who} may not sign certificates (key usage)`, cert);
  }
  if (bc?.pathLen !== undefined && below > bc.pathLen) {
    fail('SIGNER_UNTRUSTED', `path length constraint of ${who} exceeded`, cert);
  }
  checkSmimeEku(cert, policy);
}

/**
 * IGTF namespaces: each certificate's subject must be one its issuing CA may certify. The
 * rule is found by the certificate that actually issued it (the next one on the path,
 * whose key signed it), never by the issuer name the child carries: a CA writing its own
 * name in another spelling must not slip out of its rule (issue 12).
 */
function checkNamespaces(path: Certificate[], store: TrustStore): void {
  for (let i = 0; i < path.length - 1; i++) {
    const cert = path[i] as Certificate;
    const issuerCert = path[i + 1] as Certificate;
    const policy = store.namespaces.get(issuerCert.subject);
    if (policy === undefined) continue;
    const verdict = checkNamespace(policy, formatOneline(issuerCert.subject), formatOneline(cert.subject));
    if (!verdict.ok) fail('SIGNER_NAMESPACE', verdict.reason, cert);
  }
}

/** The CRL mode for paths ending at `anchor`: a per-anchor setting names it by any spelling. */
function crlModeFor(anchor: Certificate, policy: ChainPolicy): ChainPolicy['crl'] {
  const entry = Object.entries(policy.crlByAnchor).find(([dn]) => sameDn(dn, anchor.subject));
  return entry?.[1] ?? policy.crl;
}

/** Validates one candidate path [EEC, CAs..., anchor]; throws the first rule it breaks. */
function validatePath(path: Certificate[], store: TrustStore, policy: ChainPolicy, now: Date): void {
  const anchorIndex = path.length - 1;
  path.forEach(checkCriticalExtensions);
  checkSmimeEku(path[0] as Certificate, policy);
  let intermediates = 0;
  for (let i = 1; i < path.length; i++) {
    const cert = path[i] as Certificate;
    checkCa(cert, intermediates, i === anchorIndex, policy);
    if (!sameName(cert.subject, cert.issuer)) intermediates++;
  }
  path.forEach((c, i) => checkAlgorithms(c, policy, i === anchorIndex));
  path.forEach((c) => checkValidity(c, now));
  checkNamespaces(path, store);
  const anchor = path[anchorIndex] as Certificate;
  const mode = crlModeFor(anchor, policy);
  // Every certificate, the anchor included, is checked against its issuer's CRL.
  path.forEach((cert, i) =>
    checkRevocation(
      cert,
      path[Math.min(i + 1, anchorIndex)] as Certificate,
      store,
      mode,
      now,
      policy.allowSha1,
    ),
  );
}

/**
 * Validates the signer certificate of a list: proxies first (RFC 3820), then a path from
 * the EEC to a trust anchor. `embedded` are the certificates the signature carried.
 */
export function validateChain(
  signer: Certificate,
  embedded: Certificate[],
  store: TrustStore,
  policy: ChainPolicy,
  now: Date,
): ValidatedChain {
  checkSigningKeyUsage(signer);
  const { proxies, eec } = walkProxies(signer, embedded, policy, now);
  const pool = embedded.filter((c) => c.proxyCertInfo === undefined);
  const paths = buildPaths(eec, pool, store);
  if (paths.length === 0) {
    fail(
      'SIGNER_UNTRUSTED',
      `no path from ${formatOneline(eec.subject)} (issued by ${formatOneline(eec.issuer)}) to a trusted CA in ${store.location}`,
      eec,
    );
  }
  let firstError: unknown;
  for (const path of paths) {
    try {
      validatePath(path, store, policy, now);
      return { signer, proxies, eec, path };
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}
