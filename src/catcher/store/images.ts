import { prepared, type Db } from '../../shared/db.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import { entryKey, type ReconcilePlan, type StoredImage, type UnwantedReason } from '../sync/reconcile.js';
import { recordClaimRefusals } from './refusals.js';

/** Image definitions, successor links and appliances of the catcher store (appliances are read in appliances.ts). */

interface StoredImageDbRow {
  identifier: string;
  selected: number;
  listed: number;
  unwanted_reason: UnwantedReason | null;
  unwanted_since: string | null;
  sha512: string | null;
  entry_json: string | null;
}

export function storedImages(db: Db, subscriptionId: string): StoredImage[] {
  const rows = prepared(
    db,
    `SELECT m.identifier, m.selected, m.listed, m.unwanted_reason, m.unwanted_since, i.sha512, i.entry_json
       FROM images m LEFT JOIN instances i
         ON i.subscription_id = m.subscription_id AND i.identifier = m.identifier AND i.current = 1
       WHERE m.subscription_id = ?`,
  ).all(subscriptionId) as StoredImageDbRow[];
  return rows.map((r) => ({
    identifier: r.identifier,
    selected: r.selected === 1,
    listed: r.listed === 1,
    unwantedReason: r.unwanted_reason,
    unwantedSince: r.unwanted_since === null ? null : new Date(r.unwanted_since),
    current:
      r.sha512 === null || r.entry_json === null
        ? null
        : { sha512: r.sha512, entryJson: entryKey(JSON.parse(r.entry_json) as JsonObject) },
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
    const reason = p.unwantedReason;
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

/** What deciding a selection change needs to know of an image definition. */
export interface SelectionFacts {
  subscriptionId: string;
  listed: boolean;
  supersededBy: string | null;
  /** `dc:date:expires` of the current instance's entry, when it has one. */
  expires: string | undefined;
}

export function selectionFacts(db: Db, identifier: string): SelectionFacts | undefined {
  const row = prepared(
    db,
    'SELECT subscription_id, listed, superseded_by FROM images WHERE identifier = ?',
  ).get(identifier) as { subscription_id: string; listed: number; superseded_by: string | null } | undefined;
  if (row === undefined) return undefined;
  const current = prepared(
    db,
    `SELECT entry_json FROM instances WHERE subscription_id = ? AND identifier = ? AND current = 1`,
  ).get(row.subscription_id, identifier) as { entry_json: string } | undefined;
  const expires =
    current === undefined ? undefined : (JSON.parse(current.entry_json) as JsonObject)['dc:date:expires'];
  return {
    subscriptionId: row.subscription_id,
    listed: row.listed === 1,
    supersededBy: row.superseded_by,
    expires: typeof expires === 'string' ? expires : undefined,
  };
}

/** Records a selection change and the unwanted reason decided for it. */
export function saveSelection(
  db: Db,
  identifier: string,
  facts: SelectionFacts,
  selected: boolean,
  reason: UnwantedReason | null,
  now: Date,
): void {
  prepared(db, 'UPDATE images SET selected = ? WHERE identifier = ?').run(selected ? 1 : 0, identifier);
  if (facts.listed) setUnwanted(db, facts.subscriptionId, identifier, reason, now.toISOString());
  if (reason === null) {
    // Wanted again after a retirement: fetch it again.
    prepared(
      db,
      `UPDATE instances SET state = 'pending', attempts = 0, next_attempt_at = NULL
       WHERE subscription_id = ? AND identifier = ? AND current = 1 AND state IN ('expired', 'purged')`,
    ).run(facts.subscriptionId, identifier);
  }
}

/** SubscriptionImageNew was emitted for the image. */
export function markAnnounced(db: Db, subscriptionId: string, identifier: string): void {
  prepared(db, 'UPDATE images SET announced = 1 WHERE subscription_id = ? AND identifier = ?').run(
    subscriptionId,
    identifier,
  );
}
