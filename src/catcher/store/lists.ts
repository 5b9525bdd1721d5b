import { prepared, type Db } from '../../shared/db.js';

/** What the views and the sync need of each subscription's current list, without its signed bytes. */

export interface ListSummary {
  /** The effective VO: the current list's `ad:vo`, else the VO the subscription was made with. */
  vo: string | null;
  version: string | null;
  created: string | null;
  expires: string | null;
}

interface ListSummaryDbRow {
  id: string;
  vo: string | null;
  version: string | null;
  created: string | null;
  expires: string | null;
}

/** subscription id -> its current list, for every subscription. */
export function listSummaries(db: Db): Map<string, ListSummary> {
  const rows = prepared(
    db,
    `SELECT s.id, COALESCE(l.vo, s.vo) AS vo, l.version, l.created, l.expires
       FROM subscriptions s LEFT JOIN list_instances l
         ON l.id = (SELECT MAX(id) FROM list_instances WHERE subscription_id = s.id)`,
  ).all() as ListSummaryDbRow[];
  return new Map(rows.map(({ id, ...summary }) => [id, summary]));
}
