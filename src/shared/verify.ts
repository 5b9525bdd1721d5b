import { checkSignature, openSignature } from './cms.js';
import { VmiError } from './errors.js';
import type { ImageList } from './imagelist/model.js';
import { parseImageList } from './imagelist/parse.js';
import { validateChain, type ChainPolicy } from './pki/chain.js';
import { formatOneline, sameDn } from './pki/dn.js';
import type { TrustStore } from './pki/truststore.js';
import { collectVoms, requireVoms, type VomsDir } from './pki/voms.js';
import { extractPayload, splitEnvelope } from './smime.js';

/**
 * Everything about a signed list that needs no subscription state (SPEC.md sections 3
 * and 4, and the freshness rules of section 5 step 6): a pure function of the bytes, the
 * trust material and `now`.
 */

export interface Endorsement {
  dn: string;
  ca: string;
}

export interface Authorization {
  /** The subscription's VO: `ad:vo` must equal it, and VOMS attributes are required for it. */
  vo?: string | undefined;
  requireVoms?: boolean | undefined;
  fqan?: string | undefined;
  /** Trusted endorsers; undefined skips the pinning check (plain `verify`). */
  endorsers?: readonly Endorsement[] | undefined;
}

export interface VerifyOptions {
  now: Date;
  policy: ChainPolicy;
  vomsDir: VomsDir;
  maxBytes?: number | undefined;
  /** Tolerated clock difference for `dc:date:created` (default 5 minutes). */
  clockSkewMs?: number | undefined;
  /** Accept a list whose `hv:dn`/`hv:ca` do not name the signer (some legacy lists). */
  allowEndorserMismatch?: boolean | undefined;
  authorization?: Authorization | undefined;
  /**
   * False leaves the freshness rules (section 5 step 6) to the caller: the catcher checks
   * the pinned identifier (step 5) first. Default true.
   */
  checkFreshness?: boolean | undefined;
}

export interface SignerIdentity {
  /** EEC subject and issuer in oneline form (the endorser identity). */
  dn: string;
  ca: string;
  /** Subjects from the signer certificate up to the trust anchor. */
  chain: string[];
  vo: string | null;
  fqans: string[];
}

export interface VerifiedList {
  signer: SignerIdentity;
  list: ImageList;
  /** The exact signed bytes (the first MIME part). */
  signedBytes: Uint8Array;
  canonicalized: boolean;
}

export const DEFAULT_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** Same endorser under the one DN comparison (either DN form, any case or spacing). */
export function sameEndorser(a: Endorsement, b: Endorsement): boolean {
  return sameDn(a.dn, b.dn) && sameDn(a.ca, b.ca);
}

/** SPEC.md section 4 items 6 to 8: endorser identity, pinning and VO scope. */
export function authorize(
  list: ImageList,
  signer: SignerIdentity,
  auth: Authorization,
  allowEndorserMismatch = false,
): void {
  if (!allowEndorserMismatch && !sameEndorser(list.endorser, signer)) {
    throw new VmiError(
      'ENDORSER_MISMATCH',
      `the list names endorser ${list.endorser.dn} (CA ${list.endorser.ca}) but was signed by ${signer.dn} (CA ${signer.ca})`,
    );
  }
  if (auth.endorsers !== undefined && !auth.endorsers.some((e) => sameEndorser(e, signer))) {
    throw new VmiError(
      'ENDORSER_UNAUTHORIZED',
      `${signer.dn} (CA ${signer.ca}) is not a trusted endorser of this subscription`,
    );
  }
  if (auth.vo !== undefined && list.vo !== undefined && list.vo !== auth.vo) {
    throw new VmiError('VO_MISMATCH', `the list is for VO ${list.vo}, the subscription for ${auth.vo}`);
  }
}

/** SPEC.md section 5 step 6: created not in the future (with skew), not expired. */
export function checkFreshness(list: ImageList, now: Date, skewMs = DEFAULT_CLOCK_SKEW_MS): void {
  if (list.created.getTime() > now.getTime() + skewMs) {
    throw new VmiError(
      'LIST_NOT_YET_VALID',
      `the list was created at ${list.created.toISOString()}, after now (${now.toISOString()})`,
    );
  }
  if (list.expires.getTime() <= now.getTime()) {
    throw new VmiError('LIST_EXPIRED', `the list expired at ${list.expires.toISOString()}`);
  }
}

/** Verifies a signed image list completely; throws a VmiError with the first failed rule. */
export function verifySignedList(bytes: Uint8Array, store: TrustStore, options: VerifyOptions): VerifiedList {
  const { now, policy } = options;
  const envelope = splitEnvelope(bytes, options.maxBytes);
  const opened = openSignature(envelope.signature, policy.allowSha1);
  // Like OpenSSL: the signer is judged before the content it signed.
  const chain = validateChain(opened.signer, opened.certificates, store, policy, now);
  const signature = checkSignature(envelope.signedBytes, opened);
  const voms = collectVoms(chain.proxies, chain.eec, store, options.vomsDir, policy, now);
  const list = parseImageList(extractPayload(envelope.signedBytes));
  const auth = options.authorization ?? {};
  const identity: SignerIdentity = {
    dn: formatOneline(chain.eec.subject),
    ca: formatOneline(chain.eec.issuer),
    chain: [...chain.proxies, ...chain.path].map((c) => formatOneline(c.subject)),
    vo: null,
    fqans: [],
  };
  // SPEC.md section 4 in order: endorser (6, 7), the list's VO (8), then VOMS (8).
  authorize(list, identity, auth, options.allowEndorserMismatch);
  const wantedVo = auth.vo ?? list.vo;
  const attributes = auth.requireVoms === true ? requireVoms(voms, wantedVo, auth.fqan) : undefined;
  const chosen = attributes ?? voms.attributes.find((a) => a.vo === wantedVo) ?? voms.attributes[0];
  const signer: SignerIdentity = { ...identity, vo: chosen?.vo ?? null, fqans: chosen?.fqans ?? [] };
  if (options.checkFreshness !== false) checkFreshness(list, now, options.clockSkewMs);
  return { signer, list, signedBytes: envelope.signedBytes, canonicalized: signature.canonicalized };
}
