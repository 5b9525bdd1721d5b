import { prepared, type Db } from '../../shared/db.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import {
  entryKey,
  unwantedReason,
  type ReconcilePlan,
  type StoredImage,
  type UnwantedReason,
} from '../reconcile.js';
import { recordClaimRefusals } from './refusals.js';

/** Image definitions, instances, successor links and appliances of the catcher store. */

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

const INSTANCE_SELECT = `
  SELECT i.*, m.selected, m.listed, m.unwanted_reason, m.unwanted_since, m.superseded_by, m.appliance
  FROM instances i JOIN images m ON m.subscription_id = i.subscription_id AND m.identifier = i.identifier`;

function instanceFrom(row: Record<string, unknown>): InstanceRow {
  const code = row['last_error_code'] as string | null;
  return {
    id: row['id'] as number,
    subscriptionId: row['subscription_id'] as string,
    identifier: row['identifier'] as string,
    sha512: row['sha512'] as string,
    size: row['size'] as number,
    version: row['version'] as string,
    uri: row['uri'] as string,
    entry: JSON.parse(row['entry_json'] as string) as JsonObject,
    current: row['current'] === 1,
    state: row['state'] as InstanceState,
    attempts: row['attempts'] as number,
    nextAttemptAt: row['next_attempt_at'] as string | null,
    lastError: code === null ? null : { code, message: (row['last_error_message'] as string | null) ?? '' },
    cachedAt: row['cached_at'] as string | null,
    expiredAt: row['expired_at'] as string | null,
    expiredFile: row['expired_file'] as string | null,
    selected: row['selected'] === 1,
    listed: row['listed'] === 1,
    unwantedReason: row['unwanted_reason'] as UnwantedReason | null,
    unwantedSince: row['unwanted_since'] as string | null,
    supersededBy: row['superseded_by'] as string | null,
    appliance: row['appliance'] as string | null,
  };
}

export function instances(db: Db, where = '1 = 1', ...params: unknown[]): InstanceRow[] {
  return (
    prepared(db, `${INSTANCE_SELECT} WHERE ${where} ORDER BY i.id`).all(...params) as Record<
      string,
      unknown
    >[]
  ).map(instanceFrom);
}

export function instanceById(db: Db, id: number): InstanceRow | undefined {
  return instances(db, 'i.id = ?', id)[0];
}

export function storedImages(db: Db, subscriptionId: string): StoredImage[] {
  const rows = prepared(
    db,
    `SELECT m.identifier, m.selected, m.listed, m.unwanted_reason, m.unwanted_since, i.sha512, i.entry_json
       FROM images m LEFT JOIN instances i
         ON i.subscription_id = m.subscription_id AND i.identifier = m.identifier AND i.current = 1
       WHERE m.subscription_id = ?`,
  ).all(subscriptionId) as Record<string, unknown>[];
  return rows.map((r) => ({
    identifier: r['identifier'] as string,
    selected: r['selected'] === 1,
    listed: r['listed'] === 1,
    unwantedReason: r['unwanted_reason'] as UnwantedReason | null,
    unwantedSince: r['unwanted_since'] === null ? null : new Date(r['unwanted_since'] as string),
    current:
      r['sha512'] === null
        ? null
        : {
            sha512: r['sha512'] as string,
            entryJson: entryKey(JSON.parse(r['entry_json'] as string) as JsonObject),
          },
  }));
}

/**
 * identifier -> subscription, for identifiers other subscriptions hold: every image row,
 * listed or not, wanted or retired, until its subscription is gone (see refusals.ts).
 */
export function otherOwners(db: Db, subscriptionId: string): Map<string, string> {
  const rows = prepared(db, 'SELECT identifier, subscription_id FROM images WHERE subscription_id != ?').all(
    subscriptionId,
  ) as { identifier: string; subscription_id: string }[];
  return new Map(rows.map((r) => [r.identifier, r.subscription_id]));
}

/** Sets why an image is unwanted, keeping the time it first became unwanted. */
function setUnwanted(
  db: Db,
  subscriptionId: string,
  identifier: string,
  reason: UnwantedReason | null,
  now: string,
): void {
  prepared(
    db,
    `UPDATE images SET unwanted_reason = ?,
       unwanted_since = CASE WHEN ? IS NULL THEN NULL ELSE COALESCE(unwanted_since, ?) END
     WHERE subscription_id = ? AND identifier = ?`,
  ).run(reason, reason, now, subscriptionId, identifier);
}

/** Applies a reconcile plan (inside the caller's transaction). */
export function applyPlan(
  db: Db,
  subscriptionId: string,
  plan: ReconcilePlan,
  listVersion: string,
  now: Date,
): void {
  const at = now.toISOString();
  for (const p of plan.images) {
    const { image } = p;
    prepared(
      db,
      `INSERT INTO images (subscription_id, identifier, selected, listed, superseded_by, appliance)
       VALUES (?, ?, ?, 1, ?, ?)
       ON CONFLICT (subscription_id, identifier) DO UPDATE SET listed = 1, superseded_by = excluded.superseded_by,
         appliance = excluded.appliance`,
    ).run(
      subscriptionId,
      image.identifier,
      p.selected ? 1 : 0,
      p.supersededBy ?? null,
      image.appliance ?? null,
    );
    const reason = unwantedReason({
      listed: true,
      selected: p.selected,
      expired: p.expired,
      supersededBy: p.supersededBy,
      removedReason: null,
      lapsed: false,
    });
    setUnwanted(db, subscriptionId, image.identifier, reason, at);
    prepared(db, 'DELETE FROM successors WHERE subscription_id = ? AND identifier = ?').run(
      subscriptionId,
      image.identifier,
    );
    image.supersedes.forEach((ancestor, position) => {
      prepared(
        db,
        'INSERT OR IGNORE INTO successors (subscription_id, identifier, ancestor, position) VALUES (?, ?, ?, ?)',
      ).run(subscriptionId, image.identifier, ancestor, position);
    });
    prepared(
      db,
      `INSERT INTO instances (subscription_id, identifier, sha512, size, version, uri, entry_json, current, state, attempts_version)
       VALUES (?, ?, ?, ?, ?, ?, ?, 1, 'pending', ?)
       ON CONFLICT (subscription_id, identifier, sha512) DO UPDATE SET size = excluded.size, version = excluded.version,
         uri = excluded.uri, entry_json = excluded.entry_json, current = 1,
         state = CASE WHEN ? AND state IN ('expired', 'purged') THEN 'pending' ELSE state END`,
    ).run(
      subscriptionId,
      image.identifier,
      image.sha512,
      image.size,
      image.version,
      image.uri,
      JSON.stringify(image.entry),
      listVersion,
      reason === null ? 1 : 0,
    );
    prepared(
      db,
      'UPDATE instances SET current = 0 WHERE subscription_id = ? AND identifier = ? AND sha512 != ?',
    ).run(subscriptionId, image.identifier, image.sha512);
  }
  // A new list version gives failed downloads a fresh set of attempts; wanted again after a
  // retirement means downloading again.
  prepared(
    db,
    `UPDATE instances SET attempts = 0, next_attempt_at = NULL, attempts_version = ?
     WHERE subscription_id = ? AND current = 1 AND state IN ('pending', 'downloading')
       AND (attempts_version IS NULL OR attempts_version != ?)`,
  ).run(listVersion, subscriptionId, listVersion);
  for (const u of plan.unlisted) {
    prepared(
      db,
      'UPDATE images SET listed = 0, superseded_by = ? WHERE subscription_id = ? AND identifier = ?',
    ).run(u.supersededBy ?? null, subscriptionId, u.identifier);
    setUnwanted(db, subscriptionId, u.identifier, u.reason, at);
  }
  applyAppliances(db, subscriptionId, plan);
  recordClaimRefusals(db, subscriptionId, plan.conflicts, now);
}

function applyAppliances(db: Db, subscriptionId: string, plan: ReconcilePlan): void {
  prepared(db, 'UPDATE appliances SET listed = 0 WHERE subscription_id = ?').run(subscriptionId);
  for (const a of plan.appliances) {
    prepared(
      db,
      `INSERT INTO appliances (subscription_id, identifier, version, title, supersedes_json, listed) VALUES (?, ?, ?, ?, ?, 1)
       ON CONFLICT (subscription_id, identifier) DO UPDATE SET version = excluded.version, title = excluded.title,
         supersedes_json = excluded.supersedes_json, listed = 1`,
    ).run(subscriptionId, a.identifier, a.version, a.title, JSON.stringify(a.supersedes));
    prepared(db, 'DELETE FROM appliance_members WHERE subscription_id = ? AND appliance = ?').run(
      subscriptionId,
      a.identifier,
    );
    for (const m of a.images) {
      prepared(
        db,
        'INSERT OR IGNORE INTO appliance_members (subscription_id, appliance, role, identifier) VALUES (?, ?, ?, ?)',
      ).run(subscriptionId, a.identifier, m.role, m.identifier);
    }
  }
}

/** Marks every image of a subscription unwanted because its list lapsed (or clears it). */
export function setSubscriptionLapsed(db: Db, subscriptionId: string, lapsed: boolean, now: Date): void {
  if (lapsed) {
    prepared(
      db,
      `UPDATE images SET unwanted_reason = 'lapsed', unwanted_since = COALESCE(unwanted_since, ?)
       WHERE subscription_id = ? AND (unwanted_reason IS NULL OR unwanted_reason != 'lapsed')`,
    ).run(now.toISOString(), subscriptionId);
  }
}

export function selectImage(db: Db, identifier: string, selected: boolean, now: Date): boolean {
  const row = prepared(
    db,
    'SELECT subscription_id, listed, superseded_by FROM images WHERE identifier = ?',
  ).get(identifier) as { subscription_id: string; listed: number; superseded_by: string | null } | undefined;
  if (row === undefined) return false;
  prepared(db, 'UPDATE images SET selected = ? WHERE identifier = ?').run(selected ? 1 : 0, identifier);
  const current = prepared(
    db,
    `SELECT entry_json FROM instances WHERE subscription_id = ? AND identifier = ? AND current = 1`,
  ).get(row.subscription_id, identifier) as { entry_json: string } | undefined;
  const expires =
    current === undefined ? undefined : (JSON.parse(current.entry_json) as JsonObject)['dc:date:expires'];
  const reason = unwantedReason({
    listed: row.listed === 1,
    selected,
    expired: typeof expires === 'string' && new Date(expires).getTime() <= now.getTime(),
    supersededBy: row.superseded_by ?? undefined,
    removedReason: null,
    lapsed: false,
  });
  if (row.listed === 1) setUnwanted(db, row.subscription_id, identifier, reason, now.toISOString());
  if (reason === null) {
    // Wanted again after a retirement: fetch it again.
    prepared(
      db,
      `UPDATE instances SET state = 'pending', attempts = 0, next_attempt_at = NULL
       WHERE subscription_id = ? AND identifier = ? AND current = 1 AND state IN ('expired', 'purged')`,
    ).run(row.subscription_id, identifier);
  }
  return true;
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

export function appliancesOf(
  db: Db,
  subscriptionId: string,
): {
  identifier: string;
  version: string;
  title: string;
  listed: boolean;
  supersedes: string[];
  members: { role: string; identifier: string }[];
}[] {
  const rows = prepared(db, 'SELECT * FROM appliances WHERE subscription_id = ? ORDER BY identifier').all(
    subscriptionId,
  ) as Record<string, unknown>[];
  return rows.map((r) => ({
    identifier: r['identifier'] as string,
    version: r['version'] as string,
    title: r['title'] as string,
    listed: r['listed'] === 1,
    supersedes: JSON.parse(r['supersedes_json'] as string) as string[],
    members: prepared(
      db,
      'SELECT role, identifier FROM appliance_members WHERE subscription_id = ? AND appliance = ? ORDER BY role, identifier',
    ).all(subscriptionId, r['identifier']) as { role: string; identifier: string }[],
  }));
}
