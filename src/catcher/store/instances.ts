import { prepared, type Db } from '../../shared/db.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import type { UnwantedReason } from '../sync/reconcile.js';

/**
 * Image instances (the bytes of one version of an image) joined with their image
 * definition: every question the sync phases and the views ask of them, one named query each.
 */

export type InstanceState = 'pending' | 'downloading' | 'verified' | 'cached' | 'expired' | 'purged';

export interface InstanceRow {
  id: number;
  subscriptionId: string;
  identifier: string;
  sha512: string;
  size: number;
  version: string;
  uri: string;
  entry: JsonObject;
  current: boolean;
  state: InstanceState;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: { code: string; message: string } | null;
  cachedAt: string | null;
  expiredAt: string | null;
  expiredFile: string | null;
  /** From the image definition. */
  selected: boolean;
  listed: boolean;
  unwantedReason: UnwantedReason | null;
  unwantedSince: string | null;
  supersededBy: string | null;
  appliance: string | null;
}

/** A row of INSTANCE_SELECT, as SQLite returns it. */
interface InstanceDbRow {
  id: number;
  subscription_id: string;
  identifier: string;
  sha512: string;
  size: number;
  version: string;
  uri: string;
  entry_json: string;
  current: number;
  state: InstanceState;
  attempts: number;
  next_attempt_at: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  cached_at: string | null;
  expired_at: string | null;
  expired_file: string | null;
  selected: number;
  listed: number;
  unwanted_reason: UnwantedReason | null;
  unwanted_since: string | null;
  superseded_by: string | null;
  appliance: string | null;
}

const INSTANCE_SELECT = `
  SELECT i.id, i.subscription_id, i.identifier, i.sha512, i.size, i.version, i.uri, i.entry_json, i.current,
    i.state, i.attempts, i.next_attempt_at, i.last_error_code, i.last_error_message, i.cached_at,
    i.expired_at, i.expired_file, m.selected, m.listed, m.unwanted_reason, m.unwanted_since,
    m.superseded_by, m.appliance
  FROM instances i JOIN images m ON m.subscription_id = i.subscription_id AND m.identifier = i.identifier`;

function instanceFrom(row: InstanceDbRow): InstanceRow {
  const code = row.last_error_code;
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    identifier: row.identifier,
    sha512: row.sha512,
    size: row.size,
    version: row.version,
    uri: row.uri,
    entry: withChecksum(JSON.parse(row.entry_json) as JsonObject, row.sha512),
    current: row.current === 1,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: code === null ? null : { code, message: row.last_error_message ?? '' },
    cachedAt: row.cached_at,
    expiredAt: row.expired_at,
    expiredFile: row.expired_file,
    selected: row.selected === 1,
    listed: row.listed === 1,
    unwantedReason: row.unwanted_reason,
    unwantedSince: row.unwanted_since,
    supersededBy: row.superseded_by,
    appliance: row.appliance,
  };
}

/**
 * An unsigned registry image's entry has no `sl:checksum:sha512` (it is measured at the
 * download, docs/registry.md); once measured, the entry shows it as a list's would, for
 * vmcatcher's events and the backends' metadata.
 */
function withChecksum(entry: JsonObject, sha512: string): JsonObject {
  if ('sl:checksum:sha512' in entry || !/^[0-9a-f]{128}$/.test(sha512)) return entry;
  return { ...entry, 'sl:checksum:sha512': sha512 };
}

/**
 * The SHA-512 measured for an instance known by its sha256 only (an unsigned registry
 * image): the placeholder gives way to the digest of the bytes that passed the sha256.
 */
export function setMeasuredSha512(db: Db, id: number, sha512: string): void {
  prepared(db, 'UPDATE instances SET sha512 = ? WHERE id = ?').run(sha512, id);
}

/** uri -> measured SHA-512, over every instance of a subscription (current or not). */
export function measuredDigests(db: Db, subscriptionId: string): Map<string, string> {
  const rows = prepared(
    db,
    `SELECT uri, sha512 FROM instances WHERE subscription_id = ? AND sha512 NOT LIKE 'sha256:%' ORDER BY id`,
  ).all(subscriptionId) as { uri: string; sha512: string }[];
  return new Map(rows.map((r) => [r.uri, r.sha512]));
}

function select(db: Db, where: string, ...params: unknown[]): InstanceRow[] {
  return (
    prepared(db, `${INSTANCE_SELECT} WHERE ${where} ORDER BY i.id`).all(...params) as InstanceDbRow[]
  ).map(instanceFrom);
}

export function instanceById(db: Db, id: number): InstanceRow | undefined {
  return select(db, 'i.id = ?', id)[0];
}

/** The instance the current list names for an image. */
export function currentInstance(db: Db, subscriptionId: string, identifier: string): InstanceRow | undefined {
  return select(
    db,
    'i.subscription_id = ? AND i.identifier = ? AND i.current = 1',
    subscriptionId,
    identifier,
  )[0];
}

/** Every instance of an image identifier, oldest first. */
export function instancesOfImage(db: Db, identifier: string): InstanceRow[] {
  return select(db, 'i.identifier = ?', identifier);
}

/** Every instance in a state, current or not. */
export function instancesInState(db: Db, state: InstanceState): InstanceRow[] {
  return select(db, 'i.state = ?', state);
}

/** The instances current lists name. */
export function currentInstances(db: Db): InstanceRow[] {
  return select(db, 'i.current = 1');
}

/** Current instances of wanted images, optionally in one state only. */
export function wantedInstances(db: Db, state?: InstanceState): InstanceRow[] {
  return select(
    db,
    'i.current = 1 AND m.unwanted_reason IS NULL AND (? IS NULL OR i.state = ?)',
    state ?? null,
    state ?? null,
  );
}

/** Current instances not yet announced with SubscriptionImageNew. */
export function unannouncedInstances(db: Db): InstanceRow[] {
  return select(db, 'i.current = 1 AND m.announced = 0');
}

/** Instances to download now: current, wanted, of these subscriptions, attempts left, due. */
export function dueDownloads(
  db: Db,
  subscriptions: readonly string[],
  maxAttempts: number,
  now: Date,
): InstanceRow[] {
  if (subscriptions.length === 0) return [];
  return select(
    db,
    `i.current = 1 AND i.state IN ('pending', 'downloading') AND m.unwanted_reason IS NULL
     AND i.subscription_id IN (SELECT value FROM json_each(?)) AND i.attempts < ?
     AND (i.next_attempt_at IS NULL OR i.next_attempt_at <= ?)`,
    JSON.stringify(subscriptions),
    maxAttempts,
    now.toISOString(),
  );
}

/** Verified files nobody wants any more: the list no longer names them, or the image is unwanted. */
export function unusedVerified(db: Db): InstanceRow[] {
  return select(db, `i.state = 'verified' AND (i.current = 0 OR m.unwanted_reason IS NOT NULL)`);
}

/** The backend (the one parameter) holds the instance: delivered, deprecated, or staged with refs. */
const HELD_BY = `EXISTS (SELECT 1 FROM deliveries d WHERE d.instance_id = i.id AND d.backend = ?
       AND (d.state IN ('delivered', 'deprecated') OR (d.state = 'pending' AND d.refs_json <> '[]')))`;

/** Instances a backend holds, wanted or not. */
export function heldBy(db: Db, backend: string): InstanceRow[] {
  return select(db, HELD_BY, backend);
}

/** Instances a backend still holds that are no longer wanted there. */
export function heldButUnwanted(db: Db, backend: string): InstanceRow[] {
  return select(
    db,
    `${HELD_BY} AND (i.current = 0 OR m.unwanted_reason IS NOT NULL OR i.state IN ('expired', 'purged'))`,
    backend,
  );
}

export function setInstanceState(db: Db, id: number, state: InstanceState, now: Date): void {
  const at = now.toISOString();
  prepared(
    db,
    `UPDATE instances SET state = ?,
       cached_at = CASE WHEN ? IN ('verified', 'cached') THEN COALESCE(cached_at, ?) ELSE cached_at END,
       last_error_code = CASE WHEN ? IN ('verified', 'cached') THEN NULL ELSE last_error_code END,
       last_error_message = CASE WHEN ? IN ('verified', 'cached') THEN NULL ELSE last_error_message END
     WHERE id = ?`,
  ).run(state, state, at, state, state, id);
}

/** Back to pending without touching anything else (a verified file that was discarded). */
export function setPending(db: Db, id: number): void {
  prepared(db, `UPDATE instances SET state = 'pending' WHERE id = ?`).run(id);
}

/** After a crash: downloads marked in progress are pending again. */
export function resetDownloading(db: Db): void {
  prepared(db, `UPDATE instances SET state = 'pending' WHERE state = 'downloading'`).run();
}

/** A damaged cached file: fetched again, with a fresh set of attempts. */
export function downloadAgain(db: Db, id: number): void {
  prepared(
    db,
    `UPDATE instances SET state = 'pending', attempts = 0, next_attempt_at = NULL WHERE id = ?`,
  ).run(id);
}

export function recordInstanceError(
  db: Db,
  id: number,
  code: string,
  message: string,
  nextAttemptAt: Date | null,
): void {
  prepared(
    db,
    `UPDATE instances SET state = 'pending', attempts = attempts + 1, last_error_code = ?, last_error_message = ?,
       next_attempt_at = ? WHERE id = ?`,
  ).run(code, message, nextAttemptAt?.toISOString() ?? null, id);
}

export function markExpired(db: Db, id: number, expiredFile: string | null, now: Date): void {
  prepared(
    db,
    `UPDATE instances SET state = 'expired', expired_at = ?, expired_file = ?, cached_at = NULL WHERE id = ?`,
  ).run(now.toISOString(), expiredFile, id);
}

/** Expired instances whose retired file was purged from the cache. */
export function markPurged(db: Db, expiredFiles: readonly string[]): void {
  prepared(
    db,
    `UPDATE instances SET state = 'purged' WHERE state = 'expired' AND expired_file IN (SELECT value FROM json_each(?))`,
  ).run(JSON.stringify(expiredFiles));
}
