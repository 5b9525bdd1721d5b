import { createPublicKey } from 'node:crypto';
import type { SigningCredential } from '../shared/credentials.js';
import { VmiError } from '../shared/errors.js';
import { decodeVomsExtension } from '../shared/pki/asn1/ac.js';
import { validateChain, type ChainPolicy, type ValidatedChain } from '../shared/pki/chain.js';
import { checkSigningKeyUsage, checkValidity } from '../shared/pki/checks.js';
import { formatOneline } from '../shared/pki/dn.js';
import { OID } from '../shared/pki/oids.js';
import { fingerprint, type TrustStore } from '../shared/pki/truststore.js';
import { collectVoms, requireVoms, type VomsDir } from '../shared/pki/voms.js';

/**
 * Is a credential entitled to sign for a VO? A pure decision over the loaded credential,
 * the trust material and `now`: the key belongs to the certificate, the certificate may
 * sign (key usage) and is valid, its chain validates against the trust store, and a VOMS
 * proxy speaks for that VO. The endorser is the end-entity certificate behind any proxy.
 */

export interface CheckedCredential {
  kind: 'certificate' | 'proxy';
  chain: ValidatedChain;
  /** EEC subject and issuer, oneline: what `hv:dn` and `hv:ca` must say. */
  eecDn: string;
  eecCa: string;
  /** The VO of the VOMS attributes the proxy carries for the wanted VO, if it carries any. */
  vomsVo: string | null;
  /** The earliest end of validity of anything the signature will rely on. */
  notAfter: Date;
  /** SHA-256 of the signer certificate. */
  fingerprint: string;
}

function keyMatches(credential: SigningCredential): boolean {
  const fromKey = createPublicKey(credential.key).export({ type: 'spki', format: 'der' });
  return Buffer.compare(fromKey, Buffer.from(credential.certificate.spki)) === 0;
}

/** The end of validity of the VOMS attributes for `vo` in the proxies (the earliest one). */
function vomsNotAfter(chain: ValidatedChain, vo: string): Date | undefined {
  let earliest: Date | undefined;
  for (const proxy of chain.proxies) {
    const ext = proxy.extensions.find((e) => e.oid === OID.vomsAcSeq);
    if (ext === undefined) continue;
    for (const ac of decodeVomsExtension(ext.value)) {
      if (ac.vo === vo && (earliest === undefined || ac.notAfter < earliest)) earliest = ac.notAfter;
    }
  }
  return earliest;
}

export function checkCredential(
  credential: SigningCredential,
  store: TrustStore,
  vomsDir: VomsDir,
  policy: ChainPolicy,
  now: Date,
  vo: string | undefined,
): CheckedCredential {
  if (!keyMatches(credential)) {
    throw new VmiError('USAGE', 'the private key does not belong to the certificate');
  }
  const signer = credential.certificate;
  checkSigningKeyUsage(signer);
  checkValidity(signer, now);
  const chain = validateChain(signer, credential.chain, store, policy, now);
  const voms = collectVoms(chain.proxies, chain.eec, store, vomsDir, policy, now);
  let vomsVo: string | null = null;
  if (voms.present) {
    const seen = new Set([...voms.attributes.map((a) => a.vo), ...voms.problems.map((p) => p.vo)]);
    seen.delete(undefined);
    if (vo !== undefined && seen.size > 0 && !seen.has(vo)) {
      throw new VmiError(
        'VOMS_VO_MISMATCH',
        `the proxy carries VOMS attributes for ${[...seen].join(', ')}, not for ${vo}`,
      );
    }
    if (vo !== undefined) vomsVo = requireVoms(voms, vo, undefined).vo;
  }
  const ends = [...chain.proxies, ...chain.path].map((c) => c.notAfter);
  const acEnd = vomsVo === null ? undefined : vomsNotAfter(chain, vomsVo);
  if (acEnd !== undefined) ends.push(acEnd);
  const notAfter = new Date(Math.min(...ends.map((d) => d.getTime())));
  return {
    kind: chain.proxies.length > 0 ? 'proxy' : 'certificate',
    chain,
    eecDn: formatOneline(chain.eec.subject),
    eecCa: formatOneline(chain.eec.issuer),
    vomsVo,
    notAfter,
    fingerprint: fingerprint(signer.der),
  };
}
