import { createHash } from 'node:crypto';
import type { Got } from 'got';
import type { Logger } from 'pino';
import type { Db } from '../shared/db.js';
import { asVmiError, VmiError } from '../shared/errors.js';
import type { ImageList } from '../shared/imagelist/model.js';
import { compareVersions } from '../shared/imagelist/version.js';
import type { TrustStore } from '../shared/pki/truststore.js';
import type { VomsDir } from '../shared/pki/voms.js';
import { chainPolicyFrom } from '../shared/trustopts.js';
import { verifySignedList, type VerifiedList } from '../shared/verify.js';
import type { CatcherConfig } from './config.js';
import { fetchList } from './fetchlist.js';
import { reconcile, type ReconcilePlan } from './reconcile.js';
import { applyPlan, otherOwners, setSubscriptionLapsed, storedImages } from './store/images.js';
import { CLAIMED, claimMessage, claimReleased } from './store/refusals.js';
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
} from './store/subscriptions.js';

/**
 * One poll of one subscription: steps 2 to 9 of SPEC.md section 5. A refusal at any step
 * leaves the stored state as it was, except the recorded error (and the lapse clock).
 */

export interface PollContext {
  db: Db;
  http: Got;
  trust: TrustStore;
  vomsDir: VomsDir;
  config: CatcherConfig;
  log: Logger;
  now: Date;
  signal?: AbortSignal | undefined;
}

export type PollOutcome =
  | { status: 'updated'; version: string; plan: ReconcilePlan }
  | { status: 'unchanged' }
  | { status: 'refused'; error: VmiError };

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Verification of a list for a subscription: its trust options, endorsers and VO. */
export function verifyForSubscription(
  ctx: Pick<PollContext, 'trust' | 'vomsDir' | 'config' | 'now'>,
  sub: Pick<Subscription, 'trust' | 'vo' | 'requireVoms' | 'fqan'> & {
    endorsers?: Subscription['endorsers'] | undefined;
  },
  bytes: Uint8Array,
): VerifiedList {
  const { config } = ctx;
  return verifySignedList(bytes, ctx.trust, {
    now: ctx.now,
    policy: chainPolicyFrom({ ...sub.trust }, { ...config.trust }),
    vomsDir: ctx.vomsDir,
    maxBytes: config.lists.maxBytes,
    clockSkewMs: config.lists.clockSkewSeconds * 1000,
    allowEndorserMismatch: config.trust.allowEndorserMismatch,
    authorization: {
      vo: sub.vo ?? undefined,
      requireVoms: sub.requireVoms,
      fqan: sub.fqan ?? undefined,
      endorsers: sub.endorsers,
    },
  });
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

/** Step 7: rollback and conflict rules against the last accepted instance. */
export function checkVersion(
  current: ListInstance | undefined,
  list: ImageList,
  hash: string,
): 'new' | 'resigned' {
  if (current === undefined) return 'new';
  const order = compareVersions(list.version, current.version);
  if (order < 0) {
    throw new VmiError(
      'LIST_ROLLBACK',
      `version ${list.version} is older than the accepted ${current.version}`,
    );
  }
  if (order > 0) return 'new';
  const created = list.created.getTime();
  const accepted = new Date(current.created).getTime();
  if (created < accepted) {
    throw new VmiError(
      'LIST_ROLLBACK',
      `version ${list.version} was re-issued with an older creation date than the accepted one`,
    );
  }
  if (created === accepted && hash !== current.sha256) {
    throw new VmiError(
      'LIST_CONFLICT',
      `version ${list.version} created ${current.created} exists with different content`,
    );
  }
  return 'resigned';
}

/**
 * The list we hold, verified again now; null when it no longer verifies (expired, signer
 * revoked, CRLs stale, trust store changed). Only the held list itself starts or stops the
 * lapse clock: a server that is down, or serves a bad new list, says nothing about it.
 */
function verifyHeld(ctx: PollContext, sub: Subscription, current: ListInstance): VerifiedList | null {
  try {
    const verified = verifyForSubscription(ctx, sub, current.signed);
    checkMaxAge(verified.list, ctx.now, ctx.config.lists.maxAgeDays);
    return verified;
  } catch {
    return null;
  }
}

/** Starts or advances the lapse clock; after the grace period the images become unwanted. */
function updateLapse(ctx: PollContext, sub: Subscription): void {
  const since = sub.lapsedSince === null ? ctx.now : new Date(sub.lapsedSince);
  if (sub.lapsedSince === null) setLapsed(ctx.db, sub.id, since);
  if (ctx.now.getTime() - since.getTime() >= ctx.config.graceHours * 3600_000) {
    setSubscriptionLapsed(ctx.db, sub.id, true, since);
  }
}

export function storeAndReconcile(
  db: Db,
  now: Date,
  sub: Subscription,
  verified: VerifiedList,
  bytes: Uint8Array,
  conditional: { etag: string | null; lastModified: string | null },
): ReconcilePlan {
  const list = verified.list;
  return db
    .transaction(() => {
      const plan = reconcile({
        list,
        stored: storedImages(db, sub.id),
        newImages: sub.newImages,
        now,
        owners: otherOwners(db, sub.id),
      });
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
    })
    .immediate();
}

/**
 * Re-applies the held list without a new one (inside the caller's transaction): a lapse
 * ended (stops the clock, wants the images again), or an identifier refused as claimed
 * became free.
 */
function reapplyStored(
  ctx: PollContext,
  sub: Subscription,
  current: ListInstance,
  verified: VerifiedList,
): void {
  const { db, now } = ctx;
  const plan = reconcile({
    list: verified.list,
    stored: storedImages(db, sub.id),
    newImages: sub.newImages,
    now,
    owners: otherOwners(db, sub.id),
  });
  setLapsed(db, sub.id, null);
  applyPlan(db, sub.id, plan, current.version, now);
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

export async function pollSubscription(ctx: PollContext, sub: Subscription): Promise<PollOutcome> {
  const { db, now, config } = ctx;
  const log = ctx.log.child({ subscription: sub.id });
  recordAttempt(db, sub.id, now);
  const current = currentListInstance(db, sub.id);
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
    if (
      current !== undefined &&
      (fetched.status === 'not-modified' || sha256(fetched.bytes) === current.sha256)
    ) {
      // Nothing new: what we hold must still verify now (revocation, CRLs, expiry).
      const verified = verifyForSubscription(ctx, sub, current.signed);
      checkMaxAge(verified.list, now, config.lists.maxAgeDays);
      db.transaction(() => {
        if (sub.lapsedSince !== null || claimReleased(db, sub.id)) {
          log.info({ lapsedSince: sub.lapsedSince }, 'applying the held list again');
          reapplyStored(ctx, sub, current, verified);
        }
        recordSuccess(db, sub.id, now, conditional);
      }).immediate();
      return { status: 'unchanged' };
    }
    if (fetched.status === 'not-modified')
      throw new VmiError('HTTP_STATUS', `${sub.url} answered 304 to an unconditional request`);
    const bytes = fetched.bytes;
    // Steps 3 and 4: split byte-exactly, verify, authorize, parse; step 6: created/expires.
    const verified = verifyForSubscription(ctx, sub, bytes);
    const list = verified.list;
    // Step 5: the identifier pinned at subscription.
    if (list.identifier !== sub.id) {
      throw new VmiError(
        'LIST_IDENTIFIER_CHANGED',
        `the list identifier is ${list.identifier}; this subscription is pinned to ${sub.id}`,
      );
    }
    checkMaxAge(list, now, config.lists.maxAgeDays);
    // Step 7: rollback and conflict (skipped once after an operator reset).
    if (sub.acceptAnyVersion) {
      log.warn(
        { version: list.version, previous: current?.version },
        'accepting any version once after a reset',
      );
    } else if (checkVersion(current, list, sha256(bytes)) === 'resigned') {
      log.warn(
        { version: list.version },
        'accepting a re-signed list with the same version and a newer creation date',
      );
    }
    for (const warning of list.warnings) log.warn({ list: list.identifier }, warning);
    // Steps 8 and 9: store the exact bytes and the high-water mark, reconcile; one transaction.
    const plan = storeAndReconcile(db, now, sub, verified, bytes, conditional);
    for (const warning of plan.warnings) log.warn(warning);
    logClaims(log, sub, plan);
    log.info({ version: list.version, images: plan.images.length }, 'list accepted');
    return { status: 'updated', version: list.version, plan };
  } catch (err) {
    const error = asVmiError(err, 'FETCH_FAILED');
    const held = current === undefined ? undefined : verifyHeld(ctx, sub, current);
    db.transaction(() => {
      recordError(db, sub.id, error, now);
      // The clock runs while the held list does not verify, and stops whenever it does.
      if (held === null) updateLapse(ctx, sub);
      else if (held !== undefined && current !== undefined && sub.lapsedSince !== null) {
        log.info({ lapsedSince: sub.lapsedSince }, 'the held list verifies again: the lapse ended');
        reapplyStored(ctx, sub, current, held);
      }
    }).immediate();
    log.warn({ err: error, code: error.code }, 'list refused');
    return { status: 'refused', error };
  }
}
