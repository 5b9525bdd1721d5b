import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { VmiError } from '../../shared/errors.js';
import { decodeCertificate } from '../../shared/pki/asn1/cert.js';
import { validateChain, type ChainPolicy } from '../../shared/pki/chain.js';
import { formatOneline } from '../../shared/pki/dn.js';
import type { TrustStore } from '../../shared/pki/truststore.js';
import type { Certificate } from '../../shared/pki/types.js';

/**
 * TLS client certificates of the push API, validated with the grid rules lists are held
 * to (issue 12): path to a trusted CA, CRLs, IGTF namespaces, RFC 3820 proxies (a VOMS
 * proxy is how grid publishers authenticate) and legacy proxies refused. The TLS layer
 * only proves that the client holds the key of the first certificate; it does not judge
 * the chain, because OpenSSL refuses proxies and knows no namespaces.
 */

export interface ClientIdentity {
  /** Subject and issuer of the end-entity certificate behind any proxies, oneline. */
  dn: string;
  ca: string;
  eec: Certificate;
  proxies: number;
}

const MAX_PRESENTED = 16;

/**
 * The certificates the client presented, its own first, then the issuers OpenSSL linked
 * to it from what the client sent and from the server's CA list. Undefined when the client
 * sent no certificate. Which of them form a valid path is decided by validateChain alone.
 */
export function presentedCertificates(socket: Partial<TLSSocket>): Certificate[] | undefined {
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  // An empty object when the client sent no certificate.
  const first = socket.getPeerCertificate(true) as Partial<DetailedPeerCertificate>;
  if (first.raw === undefined) return undefined;
  const certs: Certificate[] = [];
  const seen = new Set<Partial<DetailedPeerCertificate>>();
  let current: Partial<DetailedPeerCertificate> | undefined = first;
  while (current?.raw !== undefined && !seen.has(current) && certs.length < MAX_PRESENTED) {
    seen.add(current);
    certs.push(decodeCertificate(new Uint8Array(current.raw), 'ENDORSER_UNAUTHORIZED'));
    current = current.issuerCertificate;
  }
  return certs;
}

/** Validates a presented client chain; a refusal is 401 ENDORSER_UNAUTHORIZED naming the rule. */
export function validateClient(
  certs: Certificate[],
  store: TrustStore,
  policy: ChainPolicy,
  now: Date,
): ClientIdentity {
  const [leaf, ...others] = certs;
  if (leaf === undefined) {
    throw new VmiError('ENDORSER_UNAUTHORIZED', 'no client certificate', { details: { status: 401 } });
  }
  const purpose = policy.purpose === 'any' ? 'any' : 'client';
  try {
    const chain = validateChain(leaf, others, store, { ...policy, purpose }, now);
    return {
      dn: formatOneline(chain.eec.subject),
      ca: formatOneline(chain.eec.issuer),
      eec: chain.eec,
      proxies: chain.proxies.length,
    };
  } catch (err) {
    if (!(err instanceof VmiError)) throw err;
    throw new VmiError(
      'ENDORSER_UNAUTHORIZED',
      `the client certificate is not trusted (${err.code}): ${err.message}`,
      { cause: err, details: { status: 401, reason: err.code } },
    );
  }
}
