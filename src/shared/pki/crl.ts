import { VmiError } from '../errors.js';
import { formatOneline, nameKey } from './dn.js';
import { OID } from './oids.js';
import { publicKeyOf, verifySignature, weakSignatureAlgorithm } from './signature.js';
import type { TrustStore } from './truststore.js';
import type { Certificate, Crl } from './types.js';

export type CrlMode = 'require' | 'if-present' | 'off';

const KNOWN_CRL_EXTENSIONS = new Set<string>([
  OID.crlNumber,
  OID.authorityKeyIdentifier,
  OID.issuingDistributionPoint,
  OID.authorityInfoAccess,
  '2.5.29.46', // freshestCRL: points at delta CRLs, which are not used
]);
const KNOWN_ENTRY_EXTENSIONS = new Set<string>(['2.5.29.21', '2.5.29.24']);

const WEAK = 'weak signature algorithm: ';

/** Why a CRL cannot speak about `subject`, or undefined when it can. */
function unusable(
  crl: Crl,
  issuer: Certificate,
  subjectIsCa: boolean,
  allowSha1: boolean,
): string | undefined {
  if (crl.extensions.some((e) => e.oid === OID.deltaCrlIndicator)) return 'delta CRL';
  const unknown = crl.extensions.find((e) => e.critical && !KNOWN_CRL_EXTENSIONS.has(e.oid));
  if (unknown !== undefined) return `unknown critical CRL extension ${unknown.oid}`;
  const entry = crl.criticalEntryExtensions.find((oid) => !KNOWN_ENTRY_EXTENSIONS.has(oid));
  if (entry !== undefined) return `unknown critical CRL entry extension ${entry}`;
  const scope = crl.scope;
  if (scope !== undefined) {
    if (scope.indirect || scope.onlySomeReasons || scope.onlyAttributeCerts) return 'partitioned CRL';
    if (scope.onlyUserCerts && subjectIsCa) return 'CRL covers end-entity certificates only';
    if (scope.onlyCaCerts && !subjectIsCa) return 'CRL covers CA certificates only';
  }
  if (issuer.keyUsage !== undefined && !issuer.keyUsage.has('cRLSign')) return 'issuer may not sign CRLs';
  // The policy of certificates (chain.ts), checked before the signature so that nothing
  // is ever taken from a CRL whose signature a collision could have moved: a forged, newer
  // CRL without the revoked entry would otherwise win over the genuine one.
  const weak = weakSignatureAlgorithm(crl.signatureAlgorithm, allowSha1);
  if (weak !== undefined) return `${WEAK}${weak}`;
  const key = publicKeyOf(issuer.spki);
  if (!verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, key)) return 'bad CRL signature';
  return undefined;
}

/**
 * Checks `subject` against the newest usable CRL of `issuer` in the trust store
 * (RFC 5280 section 6.3, complete CRLs only). Throws CERT_REVOKED, CRL_MISSING, CRL_STALE,
 * or WEAK_ALGORITHM when the only CRLs there are signed with an algorithm the certificate
 * rules refuse (`allowSha1` relaxes SHA-1 as it does for certificates).
 */
export function checkRevocation(
  subject: Certificate,
  issuer: Certificate,
  store: TrustStore,
  mode: CrlMode,
  now: Date,
  allowSha1 = false,
): void {
  if (mode === 'off') return;
  const subjectIsCa = subject.basicConstraints?.ca === true;
  const reasons: string[] = [];
  const usable = (store.crlsByIssuer.get(nameKey(issuer.subject)) ?? []).filter((crl) => {
    const why = unusable(crl, issuer, subjectIsCa, allowSha1);
    if (why !== undefined) reasons.push(why);
    return why === undefined && crl.thisUpdate.getTime() <= now.getTime();
  });
  const ca = formatOneline(issuer.subject);
  const crl = usable.sort((a, b) => b.thisUpdate.getTime() - a.thisUpdate.getTime())[0];
  const weak = reasons.find((r) => r.startsWith(WEAK));
  if (crl === undefined && weak !== undefined) {
    throw new VmiError(
      'WEAK_ALGORITHM',
      `the CRL of ${ca} is signed with a weak algorithm: ${weak.slice(WEAK.length)}`,
      { details: { ca } },
    );
  }
  if (crl === undefined) {
    if (mode === 'if-present' && reasons.length === 0) return;
    const detail = reasons.length > 0 ? ` (${[...new Set(reasons)].join('; ')})` : '';
    throw new VmiError('CRL_MISSING', `no valid CRL of ${ca}${detail}`, { details: { ca } });
  }
  if (crl.nextUpdate !== undefined && crl.nextUpdate.getTime() < now.getTime()) {
    throw new VmiError(
      'CRL_STALE',
      `the CRL of ${ca} expired at ${crl.nextUpdate.toISOString()} (is fetch-crl running?)`,
      { details: { ca, nextUpdate: crl.nextUpdate.toISOString() } },
    );
  }
  const entry = crl.revoked.get(subject.serial);
  if (entry !== undefined) {
    const who = formatOneline(subject.subject);
    throw new VmiError(
      'CERT_REVOKED',
      `${who} (serial ${subject.serial}) was revoked by ${ca} on ${entry.date.toISOString()}`,
      { details: { subject: who, serial: subject.serial } },
    );
  }
}
