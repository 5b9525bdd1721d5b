import { VmiError } from '../errors.js';
import { decodeTargets, decodeVomsExtension } from './asn1/ac.js';
import { validateChain } from './chain.js';
import type { ChainPolicy } from './checks.js';
import { formatOneline, sameDn, sameName } from './dn.js';
import { OID } from './oids.js';
import { publicKeyOf, verifySignature, weakSignatureAlgorithm } from './signature.js';
import type { TrustStore } from './truststore.js';
import type { AttributeCertificate, Certificate } from './types.js';

/**
 * VOMS attribute certificates (SPEC.md section 4 item 8): who vouches that the signer is
 * a member of a VO, with which groups and roles (FQANs). An AC counts only when its
 * signature verifies with a VOMS server certificate that the trust store validates and
 * that the vomsdir lists for that VO (`<vomsdir>/<vo>/<host>.lsc`).
 */

/** `.lsc` entries: for each VO, the accepted chains (server DN, its CA DN, ...). */
export type VomsDir = ReadonlyMap<string, { file: string; chain: string[] }[]>;

export interface VomsAttributes {
  vo: string;
  fqans: string[];
  /** Oneline DN of the VOMS server that signed. */
  server: string;
}

export interface VomsProblem {
  vo: string | undefined;
  message: string;
}

const KNOWN_AC_EXTENSIONS = new Set<string>([
  OID.vomsCerts,
  OID.vomsTags,
  OID.acNoRevAvail,
  OID.acTargets,
  OID.authorityKeyIdentifier,
]);

/** Parses the text of an `.lsc` file: DN lines, chains separated by `------ NEXT CHAIN ------`. */
export function parseLsc(text: string): string[][] {
  const chains: string[][] = [[]];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^-+\s*NEXT CHAIN\s*-+$/i.test(line)) chains.push([]);
    else chains[chains.length - 1]?.push(line);
  }
  return chains.filter((c) => c.length >= 2);
}

/**
 * An AC's targets name the services meant to accept it (voms-proxy-init --target). A list
 * verifier is none of them by default: it has no service name of its own, and VOMS's own
 * verifier refuses an AC whose targets do not name its host. So an AC that carries a
 * targets extension, critical or not, counts only when one of its targetName URIs equals
 * (ignoring case) a target the operator told this verifier to accept; with none given,
 * every targeted AC is refused. Targets of other kinds (groups, certificates) never match,
 * and an empty target list names nobody.
 */
function checkTargets(ac: AttributeCertificate, vo: string, accepted: readonly string[]): void {
  const wanted = new Set(accepted.map((t) => t.toLowerCase()));
  for (const ext of ac.extensions.filter((e) => e.oid === OID.acTargets)) {
    const targets = decodeTargets(ext.value);
    if (targets.uris.some((uri) => wanted.has(uri.toLowerCase()))) continue;
    const named = [...targets.uris, ...(targets.others > 0 ? [`${targets.others} other target(s)`] : [])];
    throw new Error(
      `the AC for ${vo} is targeted at ${named.length > 0 ? named.join(', ') : 'no service'}, ` +
        `not at this verifier (accepted AC targets: ${accepted.length > 0 ? accepted.join(', ') : 'none'})`,
    );
  }
}

/** Every FQAN of an AC is a group of its own VO: `/<vo>` or below it. */
function checkFqans(ac: AttributeCertificate, vo: string): void {
  const outside = ac.fqans.find((f) => f !== `/${vo}` && !f.startsWith(`/${vo}/`));
  if (outside !== undefined) {
    throw new Error(
      `the AC for ${vo} carries the FQAN ${JSON.stringify(outside)}, which is not under /${vo}`,
    );
  }
}

function checkAc(
  ac: AttributeCertificate,
  eec: Certificate,
  store: TrustStore,
  vomsDir: VomsDir,
  policy: ChainPolicy,
  now: Date,
  acceptedTargets: readonly string[],
): VomsAttributes {
  const vo = ac.vo;
  if (vo === undefined || ac.issuer === undefined) throw new Error('the AC names no VO or no issuer');
  // RFC 3281 names the holder certificate's issuer here; VOMS servers (and voms-proxy-fake)
  // write the holder's own subject, and VOMS's verifier accepts either. The serial binds.
  const holder = ac.holder;
  if (
    holder === undefined ||
    holder.serial !== eec.serial ||
    !(sameName(holder.issuer, eec.issuer) || sameName(holder.issuer, eec.subject))
  ) {
    throw new Error(`the AC for ${vo} was issued to another certificate than the signer's`);
  }
  if (now.getTime() < ac.notBefore.getTime())
    throw new Error(`the AC for ${vo} is not valid before ${ac.notBefore.toISOString()}`);
  if (now.getTime() > ac.notAfter.getTime())
    throw new Error(`the AC for ${vo} expired at ${ac.notAfter.toISOString()}`);
  const critical = ac.extensions.find((e) => e.critical && !KNOWN_AC_EXTENSIONS.has(e.oid));
  if (critical !== undefined)
    throw new Error(`the AC for ${vo} has an unknown critical extension ${critical.oid}`);
  checkTargets(ac, vo, acceptedTargets);
  checkFqans(ac, vo);
  const issuer = ac.issuer;
  const server = ac.certificates.find((c) => sameName(c.subject, issuer));
  if (server === undefined)
    throw new Error(`the AC for ${vo} carries no certificate of its issuer ${formatOneline(issuer)}`);
  const weak = weakSignatureAlgorithm(ac.signatureAlgorithm, policy.allowSha1);
  if (weak !== undefined) throw new Error(`the AC for ${vo} is signed with a weak algorithm: ${weak}`);
  if (!verifySignature(ac.signatureAlgorithm, ac.info, ac.signature, publicKeyOf(server.spki))) {
    throw new Error(`the AC signature for ${vo} does not verify with ${formatOneline(server.subject)}`);
  }
  const serverDn = formatOneline(server.subject);
  const listed = (vomsDir.get(vo) ?? []).some(
    (e) => sameDn(e.chain[0] ?? '', server.subject) && sameDn(e.chain[1] ?? '', server.issuer),
  );
  if (!listed) throw new Error(`VOMS server ${serverDn} is not listed for ${vo} in the vomsdir`);
  try {
    validateChain(server, ac.certificates, store, { ...policy, purpose: 'any' }, now);
  } catch (err) {
    throw new Error(`VOMS server certificate ${serverDn}: ${(err as Error).message}`, { cause: err });
  }
  return { vo, fqans: ac.fqans, server: serverDn };
}

/**
 * Verifies every VOMS AC in the proxies of a signer; invalid ones are reported, not thrown.
 * `acceptedTargets` are the AC targets (host names) this verifier answers to; see checkTargets.
 */
export function collectVoms(
  proxies: Certificate[],
  eec: Certificate,
  store: TrustStore,
  vomsDir: VomsDir,
  policy: ChainPolicy,
  now: Date,
  acceptedTargets: readonly string[] = [],
): { attributes: VomsAttributes[]; problems: VomsProblem[]; present: boolean } {
  const attributes: VomsAttributes[] = [];
  const problems: VomsProblem[] = [];
  let present = false;
  for (const proxy of proxies) {
    const ext = proxy.extensions.find((e) => e.oid === OID.vomsAcSeq);
    if (ext === undefined) continue;
    present = true;
    let acs: AttributeCertificate[];
    try {
      acs = decodeVomsExtension(ext.value);
    } catch (err) {
      problems.push({ vo: undefined, message: (err as Error).message });
      continue;
    }
    for (const ac of acs) {
      try {
        attributes.push(checkAc(ac, eec, store, vomsDir, policy, now, acceptedTargets));
      } catch (err) {
        problems.push({ vo: ac.vo, message: (err as Error).message });
      }
    }
  }
  return { attributes, problems, present };
}

/** `/vo/Role=NULL/Capability=NULL` and `/vo` name the same group. */
export function normalizeFqan(fqan: string): string {
  return fqan.replace(/\/Role=NULL/g, '').replace(/\/Capability=NULL/g, '');
}

/**
 * Requires a valid AC for `vo` (and `fqan`, when given) among the collected ones; throws
 * VOMS_INVALID, VOMS_VO_MISMATCH or VOMS_FQAN_MISSING with a reason otherwise.
 */
export function requireVoms(
  collected: ReturnType<typeof collectVoms>,
  vo: string | undefined,
  fqan: string | undefined,
): VomsAttributes {
  const match = collected.attributes.find((a) => vo === undefined || a.vo === vo);
  if (match === undefined) {
    const problem = collected.problems.find((p) => vo === undefined || p.vo === vo || p.vo === undefined);
    if (problem !== undefined) throw new VmiError('VOMS_INVALID', problem.message);
    const other = collected.attributes[0];
    if (other !== undefined) {
      throw new VmiError(
        'VOMS_VO_MISMATCH',
        `the signer's VOMS attributes are for ${other.vo}, not ${vo ?? '?'}`,
      );
    }
    throw new VmiError(
      'VOMS_INVALID',
      collected.present
        ? 'no usable VOMS attribute certificate'
        : 'the signer carries no VOMS attributes (sign with a VOMS proxy)',
    );
  }
  if (fqan !== undefined) {
    const wanted = normalizeFqan(fqan);
    if (!match.fqans.some((f) => normalizeFqan(f) === wanted)) {
      throw new VmiError(
        'VOMS_FQAN_MISSING',
        `the signer's VOMS attributes for ${match.vo} lack ${fqan} (has ${match.fqans.join(', ')})`,
      );
    }
  }
  return match;
}
