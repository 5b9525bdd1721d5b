import type { HttpClient } from '../../shared/http.js';
import type { Logger } from 'pino';
import type { Db } from '../../shared/db.js';
import { asVmiError, VmiError } from '../../shared/errors.js';
import type { TrustStore } from '../../shared/pki/truststore.js';
import type { VomsDir } from '../../shared/pki/voms.js';
import { chainPolicyFrom } from '../../shared/trustopts.js';
import type { Authorization, VerifiedList } from '../../shared/verify.js';
import type { ImageList } from '../../shared/imagelist/model.js';
import {
  acceptList,
  lapseDecision,
  sha256,
  verifyList,
  type AcceptRules,
  type AcceptWarning,
  type HeldState,
} from './accept.js';
import type { CatcherConfig } from '../config.js';
import { fetchList, type ListFetch } from './fetch.js';
import { reconcile, type ReconcilePlan } from './reconcile.js';
import type { RunContext } from './run-context.js';
import { applyPlan, otherOwners, setSubscriptionLapsed, storedImages } from '../store/images.js';
import { CLAIMED, claimMessage, claimReleased } from '../store/refusals.js';
import {
  allowAnyVersion,
  currentListInstance,
  insertListInstance,
  recordAttempt,
  recordError,
  recordSuccess,
  setLapsed,
  type ListInstance,
  type Subscription,
} from '../store/subscriptions.js';

/**
 * One poll of one subscription, SPEC.md section 5 steps 2 to 9: fetch (2), accept (3 to 7,
 * pure, in accept.ts), then store and reconcile (8 and 9). Each outcome is committed in one
 * transaction together with the attempt; a refusal leaves the stored state as it was,
 * except the recorded error (and the lapse clock).
 */

/** The run's context, and what a poll needs besides: the client, trust material, list rules. */
export interface PollContext extends RunContext {
  http: HttpClient;
  trust: TrustStore;
  vomsDir: VomsDir;
  config: Pick<CatcherConfig, 'lists' | 'trust' | 'graceHours'>;
}

export type PollOutcome =
  | { status: 'updated'; version: string; plan: ReconcilePlan }
  | { status: 'unchanged' }
  | { status: 'refused'; error: VmiError };

type SubscriptionTerms = Pick<Subscription, 'trust' | 'vo' | 'requireVoms' | 'fqan'> & {
  endorsers?: Subscription['endorsers'] | undefined;
};

/** The site's rules for this subscription's lists (its trust overrides on the site's). */
function acceptRules(
  ctx: Pick<PollContext, 'trust' | 'vomsDir' | 'config'>,
  sub: SubscriptionTerms,
): AcceptRules {
  const { config } = ctx;
  return {
    store: ctx.trust,
    vomsDir: ctx.vomsDir,
    policy: chainPolicyFrom({ ...sub.trust }, { ...config.trust }),
    maxBytes: config.lists.maxBytes,
    clockSkewMs: config.lists.clockSkewSeconds * 1000,
    maxAgeDays: config.lists.maxAgeDays,
    allowEndorserMismatch: config.trust.allowEndorserMismatch,
  };
}

function authorizationOf(sub: SubscriptionTerms): Authorization {
  return {
    vo: sub.vo ?? undefined,
    requireVoms: sub.requireVoms,
    fqan: sub.fqan ?? undefined,
    endorsers: sub.endorsers,
  };
}

/** Steps 3, 4 and 6 for a subscription's list, without its history (see `verifyList`). */
export function verifyForSubscription(
  ctx: Pick<PollContext, 'trust' | 'vomsDir' | 'config' | 'now'>,
  sub: SubscriptionTerms,
  bytes: Uint8Array,
): VerifiedList {
  return verifyList(bytes, authorizationOf(sub), acceptRules(ctx, sub), ctx.now);
}

/** Step 9: a list reconciled with what the subscription holds now (pure plan, reconcile.ts). */
export function reconcileStored(db: Db, sub: Subscription, list: ImageList, now: Date): ReconcilePlan {
  return reconcile({
    list,
    stored: storedImages(db, sub.id),
    newImages: sub.newImages,
    now,
    owners: otherOwners(db, sub.id),
  });
}

/**
 * Steps 8 and 9, inside the caller's transaction: the exact bytes and the new high-water
 * mark, then the images reconciled against them.
 */
export function storeAndReconcile(
  db: Db,
  now: Date,
  sub: Subscription,
  verified: VerifiedList,
  bytes: Uint8Array,
  conditional: { etag: string | null; lastModified: string | null },
): ReconcilePlan {
  const list = verified.list;
  const plan = reconcileStored(db, sub, list, now);
  insertListInstance(db, {
    subscriptionId: sub.id,
    version: list.version,
    created: list.created.toISOString(),
    expires: list.expires.toISOString(),
    sha256: sha256(bytes),
    signed: bytes,
    signerDn: verified.signer.dn,
    signerCa: verified.signer.ca,
    vo: list.vo ?? null,
    acceptedAt: now.toISOString(),
  });
  setLapsed(db, sub.id, null);
  allowAnyVersion(db, sub.id, false);
  applyPlan(db, sub.id, plan, list.version, now);
  recordSuccess(db, sub.id, now, conditional);
  return plan;
}

/**
 * Re-applies the held list without a new one (inside the caller's transaction): a lapse
 * ended (stops the clock, wants the images again), or an identifier refused as claimed
 * became free.
 */
function reapplyHeld(
  db: Db,
  now: Date,
  sub: Subscription,
  current: ListInstance,
  verified: VerifiedList,
): void {
  const plan = reconcileStored(db, sub, verified.list, now);
  setLapsed(db, sub.id, null);
  applyPlan(db, sub.id, plan, current.version, now);
}

function heldState(sub: Subscription, current: ListInstance | undefined): HeldState {
  return {
    identifier: sub.id,
    authorization: authorizationOf(sub),
    accepted: current,
    acceptAnyVersion: sub.acceptAnyVersion,
  };
}

/** The held list verified again now (steps 3, 4 and 6); null when it no longer verifies. */
function heldNow(
  current: ListInstance,
  sub: Subscription,
  rules: AcceptRules,
  now: Date,
): VerifiedList | null {
  try {
    return verifyList(current.signed, authorizationOf(sub), rules, now);
  } catch {
    return null;
  }
}

/**
 * A refused poll, in one transaction: the attempt and its error, and the lapse clock,
 * which runs while the held list does not verify and stops whenever it does.
 */
function commitRefusal(
  ctx: PollContext,
  log: Logger,
  sub: Subscription,
  current: ListInstance | undefined,
  rules: AcceptRules,
  error: VmiError,
): void {
  const { db, now } = ctx;
  const held = current === undefined ? undefined : heldNow(current, sub, rules, now);
  const lapsedSince = sub.lapsedSince === null ? null : new Date(sub.lapsedSince);
  db.transaction(() => {
    recordAttempt(db, sub.id, now);
    recordError(db, sub.id, error, now);
    if (current === undefined || held === undefined) return;
    const lapse = lapseDecision(held !== null, lapsedSince, now, ctx.config.graceHours * 3600_000);
    if (lapse.action === 'run') {
      if (lapse.start) setLapsed(db, sub.id, lapse.since);
      if (lapse.withdraw) setSubscriptionLapsed(db, sub.id, true, lapse.since);
    } else if (lapse.action === 'stop' && held !== null) {
      log.info({ lapsedSince: sub.lapsedSince }, 'the held list verifies again: the lapse ended');
      reapplyHeld(db, now, sub, current, held);
    }
  }).immediate();
}

function logWarnings(log: Logger, warnings: readonly AcceptWarning[]): void {
  for (const w of warnings) log.warn(w.fields, w.message);
}

/** One warning per refused claim, naming both subscriptions. */
function logClaims(log: Logger, sub: Subscription, plan: ReconcilePlan): void {
  for (const c of plan.conflicts) {
    log.warn(
      { code: CLAIMED, image: c.identifier, owner: c.owner, claimant: sub.id },
      claimMessage(c.identifier, c.owner, sub.id),
    );
  }
}

/** Step 2's answer says nothing new: a 304, or the bytes we hold. */
function nothingNew(fetched: ListFetch, current: ListInstance | undefined): current is ListInstance {
  return (
    current !== undefined && (fetched.status === 'not-modified' || sha256(fetched.bytes) === current.sha256)
  );
}

export async function pollSubscription(ctx: PollContext, sub: Subscription): Promise<PollOutcome> {
  const { db, now, config } = ctx;
  const log = ctx.log.child({ subscription: sub.id });
  const current = currentListInstance(db, sub.id);
  const rules = acceptRules(ctx, sub);
  try {
    // Step 2: conditional, capped, time-bounded fetch.
    const fetched = await fetchList(ctx.http, sub.url, {
      etag: current === undefined ? null : sub.etag,
      lastModified: current === undefined ? null : sub.lastModified,
      username: sub.username,
      password: sub.password,
      maxBytes: config.lists.maxBytes,
      deadlineMs: config.lists.timeoutSeconds * 1000,
      signal: ctx.signal,
    });
    const conditional =
      fetched.status === 'ok'
        ? { etag: fetched.etag, lastModified: fetched.lastModified }
        : { etag: sub.etag, lastModified: sub.lastModified };
    if (nothingNew(fetched, current)) {
      // Nothing to do, but what we hold must still verify now (revocation, CRLs, expiry).
      const held = verifyList(current.signed, authorizationOf(sub), rules, now);
      db.transaction(() => {
        recordAttempt(db, sub.id, now);
        if (sub.lapsedSince !== null || claimReleased(db, sub.id)) {
          log.info({ lapsedSince: sub.lapsedSince }, 'applying the held list again');
          reapplyHeld(db, now, sub, current, held);
        }
        recordSuccess(db, sub.id, now, conditional);
      }).immediate();
      return { status: 'unchanged' };
    }
    if (fetched.status === 'not-modified')
      throw new VmiError('HTTP_STATUS', `${sub.url} answered 304 to an unconditional request`);
    // Steps 3 to 7: verify and authorize, parse, identifier, freshness, version order.
    const accepted = acceptList(fetched.bytes, heldState(sub, current), rules, now);
    logWarnings(log, accepted.warnings);
    // Steps 8 and 9: store the exact bytes and the high-water mark, reconcile; one transaction.
    const plan = db
      .transaction(() => {
        recordAttempt(db, sub.id, now);
        return storeAndReconcile(db, now, sub, accepted.verified, fetched.bytes, conditional);
      })
      .immediate();
    for (const warning of plan.warnings) log.warn(warning);
    logClaims(log, sub, plan);
    const version = accepted.verified.list.version;
    log.info({ version, images: plan.images.length }, 'list accepted');
    return { status: 'updated', version, plan };
  } catch (err) {
    const error = asVmiError(err, 'FETCH_FAILED');
    commitRefusal(ctx, log, sub, current, rules, error);
    log.warn({ err: error, code: error.code }, 'list refused');
    return { status: 'refused', error };
  }
}
