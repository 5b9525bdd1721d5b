import { prepared, type Db } from '../../shared/db.js';

/**
 * Images of an accepted list that were refused one by one (the rest of the list going on).
 *
 * An image identifier names one cache file and one set of backend images, so it belongs to
 * one subscription: the first whose accepted list named it, for as long as that
 * subscription exists (its list dropping the image does not free it; unsubscribing does).
 * A list naming an identifier another subscription holds has that image refused with
 * IMAGE_IDENTIFIER_CLAIMED. Why not "the endorser who published it first": list dates are
 * whatever the signer writes, so an earlier `dc:date:created` proves nothing; the site
 * trusts only the order in which it accepted lists.
 */

export const CLAIMED = 'IMAGE_IDENTIFIER_CLAIMED';

export interface ImageRefusal {
  id: string;
  code: string;
  message: string;
  /** The subscription that holds the identifier. */
  owner: string | null;
  since: string;
}

export function claimMessage(identifier: string, owner: string, claimant: string): string {
  return `image ${identifier} belongs to subscription ${owner} (the first to list it); refused for subscription ${claimant}`;
}

/** Replaces the subscription's claim refusals with those of the list just reconciled. */
export function recordClaimRefusals(
  db: Db,
  subscriptionId: string,
  conflicts: readonly { identifier: string; owner: string }[],
  now: Date,
): void {
  prepared(
    db,
    `DELETE FROM image_refusals WHERE subscription_id = ? AND code = ?
       AND identifier NOT IN (SELECT value FROM json_each(?))`,
  ).run(subscriptionId, CLAIMED, JSON.stringify(conflicts.map((c) => c.identifier)));
  for (const c of conflicts) {
    prepared(
      db,
      `INSERT INTO image_refusals (subscription_id, identifier, code, message, owner, since)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (subscription_id, identifier) DO UPDATE SET code = excluded.code,
         message = excluded.message, owner = excluded.owner,
         since = CASE WHEN owner IS excluded.owner THEN since ELSE excluded.since END`,
    ).run(
      subscriptionId,
      c.identifier,
      CLAIMED,
      claimMessage(c.identifier, c.owner, subscriptionId),
      c.owner,
      now.toISOString(),
    );
  }
}

export function imageRefusals(db: Db, subscriptionId: string): ImageRefusal[] {
  return prepared(
    db,
    `SELECT identifier AS id, code, message, owner, since FROM image_refusals
       WHERE subscription_id = ? ORDER BY identifier`,
  ).all(subscriptionId) as ImageRefusal[];
}

/** Whether an identifier this subscription was refused is free now (its owner is gone). */
export function claimReleased(db: Db, subscriptionId: string): boolean {
  return (
    prepared(
      db,
      `SELECT 1 FROM image_refusals r WHERE r.subscription_id = ? AND r.code = ?
         AND NOT EXISTS (SELECT 1 FROM images m WHERE m.identifier = r.identifier AND m.subscription_id != r.subscription_id)
       LIMIT 1`,
    ).get(subscriptionId, CLAIMED) !== undefined
  );
}
