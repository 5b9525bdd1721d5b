import { prepared, type Db } from '../../shared/db.js';
import type { VmiError } from '../../shared/errors.js';
import type { RegistrySource } from '../registry/source.js';
import { parseRegistrySource } from './registry-json.js';
import type { Endorsement } from '../../shared/verify.js';
import type { NewImagePolicy } from '../sync/reconcile.js';

/** Subscriptions, their endorsers and their accepted list instances. */

export interface TrustOverrides {
  crl?: 'require' | 'if-present' | 'off';
  allowSha1?: boolean;
  purpose?: 'smime' | 'any';
}

export interface Subscription {
  id: string;
  url: string;
  vo: string | null;
  requireVoms: boolean;
  fqan: string | null;
  newImages: NewImagePolicy;
  trust: TrustOverrides;
  username: string | null;
  password: string | null;
  etag: string | null;
  lastModified: string | null;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  lapsedSince: string | null;
  acceptAnyVersion: boolean;
  state: 'active' | 'removing';
  createdAt: string;
  endorsers: Endorsement[];
  /** A registry followed without a signed list (issue 15); null for a signed-list subscription. */
  registry: RegistrySource | null;
}

export interface ListInstance {
  id: number;
  subscriptionId: string;
  version: string;
  created: string;
  expires: string;
  sha256: string;
  signed: Uint8Array;
  signerDn: string;
  signerCa: string;
  vo: string | null;
  acceptedAt: string;
}

interface SubscriptionRow {
  id: string;
  url: string;
  vo: string | null;
  require_voms: number;
  fqan: string | null;
  new_images: NewImagePolicy;
  trust_json: string;
  username: string | null;
  password: string | null;
  etag: string | null;
  last_modified: string | null;
  last_attempt_at: string | null;
  last_success_at: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  last_error_at: string | null;
  lapsed_since: string | null;
  accept_any_version: number;
  state: 'active' | 'removing';
  created_at: string;
  registry_json: string | null;
}

function endorsersOf(db: Db, id: string): Endorsement[] {
  return prepared(
    db,
    `SELECT e.dn, e.ca FROM endorsers e JOIN subscription_endorsers se ON se.endorser_id = e.id
       WHERE se.subscription_id = ? ORDER BY e.id`,
  ).all(id) as Endorsement[];
}

function fromRow(db: Db, row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    url: row.url,
    vo: row.vo,
    requireVoms: row.require_voms === 1,
    fqan: row.fqan,
    newImages: row.new_images,
    trust: JSON.parse(row.trust_json) as TrustOverrides,
    username: row.username,
    password: row.password,
    etag: row.etag,
    lastModified: row.last_modified,
    lastAttemptAt: row.last_attempt_at,
    lastSuccessAt: row.last_success_at,
    lastError:
      row.last_error_code === null
        ? null
        : { code: row.last_error_code, message: row.last_error_message ?? '', at: row.last_error_at ?? '' },
    lapsedSince: row.lapsed_since,
    acceptAnyVersion: row.accept_any_version === 1,
    state: row.state,
    createdAt: row.created_at,
    endorsers: endorsersOf(db, row.id),
    registry: row.registry_json === null ? null : parseRegistrySource(row.id, row.registry_json),
  };
}

export function getSubscription(db: Db, idOrUrl: string): Subscription | undefined {
  const row = prepared(db, 'SELECT * FROM subscriptions WHERE id = ? OR url = ?').get(idOrUrl, idOrUrl) as
    SubscriptionRow | undefined;
  return row === undefined ? undefined : fromRow(db, row);
}

export function listSubscriptions(db: Db): Subscription[] {
  return (prepared(db, 'SELECT * FROM subscriptions ORDER BY created_at, id').all() as SubscriptionRow[]).map(
    (r) => fromRow(db, r),
  );
}

export function addEndorser(db: Db, subscriptionId: string, endorser: Endorsement): void {
  prepared(db, 'INSERT OR IGNORE INTO endorsers (dn, ca) VALUES (?, ?)').run(endorser.dn, endorser.ca);
  const { id } = prepared(db, 'SELECT id FROM endorsers WHERE dn = ? AND ca = ?').get(
    endorser.dn,
    endorser.ca,
  ) as {
    id: number;
  };
  prepared(
    db,
    'INSERT OR IGNORE INTO subscription_endorsers (subscription_id, endorser_id) VALUES (?, ?)',
  ).run(subscriptionId, id);
}

export type NewSubscription = Pick<
  Subscription,
  'id' | 'url' | 'vo' | 'requireVoms' | 'fqan' | 'newImages' | 'trust' | 'username' | 'password' | 'endorsers'
> & { registry?: RegistrySource | null };

export function insertSubscription(db: Db, sub: NewSubscription, now: Date): void {
  prepared(
    db,
    `INSERT INTO subscriptions (id, url, vo, require_voms, fqan, new_images, trust_json, username, password, created_at, registry_json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    sub.id,
    sub.url,
    sub.vo,
    sub.requireVoms ? 1 : 0,
    sub.fqan,
    sub.newImages,
    JSON.stringify(sub.trust),
    sub.username,
    sub.password,
    now.toISOString(),
    sub.registry === undefined || sub.registry === null ? null : JSON.stringify(sub.registry),
  );
  for (const e of sub.endorsers) addEndorser(db, sub.id, e);
}

/** A poll happened (written with its outcome, in the same transaction). */
export function recordAttempt(db: Db, id: string, now: Date): void {
  prepared(db, 'UPDATE subscriptions SET last_attempt_at = ? WHERE id = ?').run(now.toISOString(), id);
}

/** A refused or failed poll: only the error columns change (SPEC.md section 5). */
export function recordError(db: Db, id: string, err: VmiError, now: Date): void {
  prepared(
    db,
    'UPDATE subscriptions SET last_error_code = ?, last_error_message = ?, last_error_at = ? WHERE id = ?',
  ).run(err.code, err.message, now.toISOString(), id);
}

/** `vmicatcher reset`: the next valid list may carry any version (operator recovery). */
export function allowAnyVersion(db: Db, id: string, allow: boolean): void {
  prepared(
    db,
    'UPDATE subscriptions SET accept_any_version = ?, etag = NULL, last_modified = NULL WHERE id = ?',
  ).run(allow ? 1 : 0, id);
}

export function recordSuccess(
  db: Db,
  id: string,
  now: Date,
  conditional: { etag: string | null; lastModified: string | null },
): void {
  prepared(
    db,
    `UPDATE subscriptions SET last_success_at = ?, last_error_code = NULL, last_error_message = NULL,
       last_error_at = NULL, etag = ?, last_modified = ? WHERE id = ?`,
  ).run(now.toISOString(), conditional.etag, conditional.lastModified, id);
}

export function setLapsed(db: Db, id: string, since: Date | null): void {
  prepared(db, 'UPDATE subscriptions SET lapsed_since = ? WHERE id = ?').run(
    since?.toISOString() ?? null,
    id,
  );
}

interface ListInstanceRow {
  id: number;
  subscription_id: string;
  version: string;
  created: string;
  expires: string;
  sha256: string;
  signed: Buffer;
  signer_dn: string;
  signer_ca: string;
  vo: string | null;
  accepted_at: string;
}

/** The last accepted instance: the held list and the high-water mark of step 7. */
export function currentListInstance(db: Db, subscriptionId: string): ListInstance | undefined {
  const row = prepared(
    db,
    'SELECT * FROM list_instances WHERE subscription_id = ? ORDER BY id DESC LIMIT 1',
  ).get(subscriptionId) as ListInstanceRow | undefined;
  if (row === undefined) return undefined;
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    version: row.version,
    created: row.created,
    expires: row.expires,
    sha256: row.sha256,
    signed: new Uint8Array(row.signed),
    signerDn: row.signer_dn,
    signerCa: row.signer_ca,
    vo: row.vo,
    acceptedAt: row.accepted_at,
  };
}

export function insertListInstance(db: Db, instance: Omit<ListInstance, 'id'>): void {
  prepared(
    db,
    `INSERT INTO list_instances (subscription_id, version, created, expires, sha256, signed, signer_dn, signer_ca, vo, accepted_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    instance.subscriptionId,
    instance.version,
    instance.created,
    instance.expires,
    instance.sha256,
    Buffer.from(instance.signed),
    instance.signerDn,
    instance.signerCa,
    instance.vo,
    instance.acceptedAt,
  );
}

/** Unsubscribe, first half: every image becomes unwanted at once; sync retires them. */
export function markRemoving(db: Db, id: string, now: Date): void {
  prepared(db, `UPDATE subscriptions SET state = 'removing' WHERE id = ?`).run(id);
  prepared(
    db,
    `UPDATE images SET unwanted_reason = 'deselected', unwanted_since = ? WHERE subscription_id = ?`,
  ).run(now.toISOString(), id);
}

/** Unsubscribe, second half: forget subscriptions whose images no backend and no cache holds. */
export function finishRemovals(db: Db): string[] {
  const done = prepared(
    db,
    `SELECT s.id FROM subscriptions s WHERE s.state = 'removing' AND NOT EXISTS (
         SELECT 1 FROM instances i WHERE i.subscription_id = s.id AND (i.state IN ('verified', 'cached')
           OR EXISTS (SELECT 1 FROM deliveries d WHERE d.instance_id = i.id AND d.state IN ('delivered', 'deprecated'))))`,
  ).all() as { id: string }[];
  for (const { id } of done) {
    prepared(
      db,
      `DELETE FROM deliveries WHERE instance_id IN (SELECT id FROM instances WHERE subscription_id = ?)`,
    ).run(id);
    prepared(db, `DELETE FROM instances WHERE subscription_id = ?`).run(id);
    prepared(db, `DELETE FROM subscriptions WHERE id = ?`).run(id);
  }
  return done.map((d) => d.id);
}
