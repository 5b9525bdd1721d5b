import { createHash } from 'node:crypto';
import { VmiError } from '../../shared/errors.js';
import type { ImageList } from '../../shared/imagelist/model.js';
import { compareVersions } from '../../shared/imagelist/version.js';
import type { ChainPolicy } from '../../shared/pki/chain.js';
import type { TrustStore } from '../../shared/pki/truststore.js';
import type { VomsDir } from '../../shared/pki/voms.js';
import {
  checkFreshness,
  verifySignedList,
  type Authorization,
  type VerifiedList,
} from '../../shared/verify.js';

/**
 * Steps 3 to 7 of SPEC.md section 5 as one pure function: the fetched bytes, what the
 * subscription holds and `now` go in; an accepted list comes out, or a VmiError with the
 * code of the first step that refused it. No database, network, clock or logger: the
 * caller fetches before (step 2) and stores after (step 8), and logs the warnings.
 */

/** The trust material and the site's list rules, the same for every step. */
export interface AcceptRules {
  store: TrustStore;
  vomsDir: VomsDir;
  policy: ChainPolicy;
  maxBytes: number;
  clockSkewMs: number;
  /** Local maximum age since `dc:date:created`, in days; null for none. */
  maxAgeDays: number | null;
  allowEndorserMismatch: boolean;
}

/** The high-water mark of step 7: what the last accepted instance said. */
export interface AcceptedMark {
  version: string;
  /** `dc:date:created` as stored (ISO 8601). */
  created: string;
  /** SHA-256 of the exact signed bytes, lowercase hex. */
  sha256: string;
}

/** What the subscription holds before this poll. */
export interface HeldState {
  /** The list identifier pinned at subscription (step 5). */
  identifier: string;
  /** Who may sign the list, for which VO, with which VOMS attributes (section 4). */
  authorization: Authorization;
  /** Undefined before the first accepted list. */
  accepted: AcceptedMark | undefined;
  /** Set by `vmicatcher reset`: step 7 lets the next valid list through once. */
  acceptAnyVersion: boolean;
}

/** A warning for the log: a message and the fields that go with it. */
export interface AcceptWarning {
  message: string;
  fields: Record<string, unknown>;
}

export interface AcceptedList {
  verified: VerifiedList;
  /** SHA-256 of the fetched bytes, the new high-water mark's digest. */
  sha256: string;
  /** How step 7 let the list through. */
  order: 'first' | 'newer' | 'resigned' | 'any-version';
  warnings: AcceptWarning[];
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Step 3 and 4: split, verify, authorize and parse; freshness is left to step 6. */
function verifyAndAuthorize(
  bytes: Uint8Array,
  rules: AcceptRules,
  authorization: Authorization,
  now: Date,
): VerifiedList {
  return verifySignedList(bytes, rules.store, {
    now,
    policy: rules.policy,
    vomsDir: rules.vomsDir,
    maxBytes: rules.maxBytes,
    clockSkewMs: rules.clockSkewMs,
    allowEndorserMismatch: rules.allowEndorserMismatch,
    authorization,
    checkFreshness: false,
  });
}

/** Step 5: the identifier pinned at subscription. */
export function checkIdentifier(list: ImageList, pinned: string): void {
  if (list.identifier !== pinned) {
    throw new VmiError(
      'LIST_IDENTIFIER_CHANGED',
      `the list identifier is ${list.identifier}; this subscription is pinned to ${pinned}`,
    );
  }
}

/** Step 6's optional local maximum age (lists in the wild say they expire in 2499). */
export function checkMaxAge(list: ImageList, now: Date, maxAgeDays: number | null): void {
  if (maxAgeDays === null) return;
  const age = now.getTime() - list.created.getTime();
  if (age > maxAgeDays * 86400_000) {
    throw new VmiError(
      'LIST_EXPIRED',
      `the list was created ${Math.floor(age / 86400_000)} days ago; the local maximum age is ${maxAgeDays} days`,
    );
  }
}

/** Step 6: created not in the future, not expired, not older than the local maximum age. */
function checkStep6(list: ImageList, rules: AcceptRules, now: Date): void {
  checkFreshness(list, now, rules.clockSkewMs);
  checkMaxAge(list, now, rules.maxAgeDays);
}

/** Step 7: rollback and conflict rules against the last accepted instance. */
export function checkVersion(
  accepted: AcceptedMark | undefined,
  list: ImageList,
  hash: string,
): 'first' | 'newer' | 'resigned' {
  if (accepted === undefined) return 'first';
  const order = compareVersions(list.version, accepted.version);
  if (order < 0) {
    throw new VmiError(
      'LIST_ROLLBACK',
      `version ${list.version} is older than the accepted ${accepted.version}`,
    );
  }
  if (order > 0) return 'newer';
  const created = list.created.getTime();
  const previous = new Date(accepted.created).getTime();
  if (created < previous) {
    throw new VmiError(
      'LIST_ROLLBACK',
      `version ${list.version} was re-issued with an older creation date than the accepted one`,
    );
  }
  if (created === previous && hash !== accepted.sha256) {
    throw new VmiError(
      'LIST_CONFLICT',
      `version ${list.version} created ${accepted.created} exists with different content`,
    );
  }
  return 'resigned';
}

/** Steps 3 to 7 in SPEC order; throws the first refusal. */
export function acceptList(bytes: Uint8Array, held: HeldState, rules: AcceptRules, now: Date): AcceptedList {
  const verified = verifyAndAuthorize(bytes, rules, held.authorization, now); // steps 3 and 4
  const list = verified.list;
  checkIdentifier(list, held.identifier); // step 5
  checkStep6(list, rules, now); // step 6
  const hash = sha256(bytes);
  const warnings: AcceptWarning[] = [];
  let order: AcceptedList['order'];
  if (held.acceptAnyVersion) {
    // Step 7 skipped once: the operator reset the subscription.
    order = 'any-version';
    warnings.push({
      message: 'accepting any version once after a reset',
      fields: { version: list.version, previous: held.accepted?.version },
    });
  } else {
    order = checkVersion(held.accepted, list, hash); // step 7
    if (order === 'resigned') {
      warnings.push({
        message: 'accepting a re-signed list with the same version and a newer creation date',
        fields: { version: list.version },
      });
    }
  }
  for (const warning of list.warnings) warnings.push({ message: warning, fields: { list: list.identifier } });
  return { verified, sha256: hash, order, warnings };
}

/**
 * A list checked without a subscription's history: steps 3, 4 and 6. The held list is
 * checked this way at every poll (revocation, CRLs, expiry), and so is a list at first
 * contact, before there is an identifier to compare or a version to order against.
 */
export function verifyList(
  bytes: Uint8Array,
  authorization: Authorization,
  rules: AcceptRules,
  now: Date,
): VerifiedList {
  const verified = verifyAndAuthorize(bytes, rules, authorization, now);
  checkStep6(verified.list, rules, now);
  return verified;
}

/**
 * The lapse rule (SPEC.md section 5, last paragraph), decided from whether the list the
 * subscription holds verifies now. Only the held list starts or stops the clock: a server
 * that is down, or serves a bad new list, says nothing about it.
 * - `stop`: the held list verifies while the clock runs; apply it again.
 * - `run`: it does not verify; the clock runs from `since` (`start` when it starts now) and
 *   the images become unwanted once the grace period is over (`withdraw`).
 * - `none`: it verifies and no clock runs.
 */
export type LapseDecision =
  { action: 'none' } | { action: 'stop' } | { action: 'run'; since: Date; start: boolean; withdraw: boolean };

export function lapseDecision(
  heldVerifies: boolean,
  lapsedSince: Date | null,
  now: Date,
  graceMs: number,
): LapseDecision {
  if (heldVerifies) return lapsedSince === null ? { action: 'none' } : { action: 'stop' };
  const since = lapsedSince ?? now;
  return {
    action: 'run',
    since,
    start: lapsedSince === null,
    withdraw: now.getTime() - since.getTime() >= graceMs,
  };
}
