import { prepared, type Db } from '../../shared/db.js';

/**
 * What each VO has at each cloud (issue 16: "resource usage per VO correctly accounted
 * for"), from the delivery records: a backend's records are its holdings. The VO is the
 * effective one of the subscription's current list (`ad:vo`, else the subscription's).
 */
export interface VoAccount {
  backend: string;
  /** null: images of lists that name no VO. */
  vo: string | null;
  /** Current images delivered there and usable now. */
  images: number;
  /** Bytes of what the backend holds for the VO (usable, hidden or staged). */
  bytesHeld: number;
  /** Bytes of every image ever delivered there for the VO, retired ones included. */
  bytesDelivered: number;
  /** The last change of a delivery record (delivered, updated, hidden, retired). */
  lastUpdate: string | null;
}

interface AccountRow {
  backend: string;
  vo: string | null;
  images: number;
  bytes_held: number;
  bytes_delivered: number;
  last_update: string | null;
}

export function voAccounts(db: Db): VoAccount[] {
  const rows = prepared(
    db,
    `SELECT d.backend, COALESCE(l.vo, s.vo) AS vo,
        SUM(d.state = 'delivered' AND i.current = 1 AND m.unwanted_reason IS NULL) AS images,
        SUM(CASE WHEN d.state IN ('delivered', 'deprecated') OR (d.state = 'pending' AND d.refs_json <> '[]')
                 THEN i.size ELSE 0 END) AS bytes_held,
        SUM(CASE WHEN d.state IN ('delivered', 'deprecated', 'retired') OR d.refs_json <> '[]'
                 THEN i.size ELSE 0 END) AS bytes_delivered,
        MAX(d.updated_at) AS last_update
       FROM deliveries d
       JOIN instances i ON i.id = d.instance_id
       JOIN images m ON m.subscription_id = i.subscription_id AND m.identifier = i.identifier
       JOIN subscriptions s ON s.id = i.subscription_id
       LEFT JOIN list_instances l ON l.id = (SELECT MAX(id) FROM list_instances WHERE subscription_id = s.id)
       GROUP BY d.backend, COALESCE(l.vo, s.vo)
       ORDER BY d.backend, vo`,
  ).all() as AccountRow[];
  return rows.map((r) => ({
    backend: r.backend,
    vo: r.vo,
    images: r.images,
    bytesHeld: r.bytes_held,
    bytesDelivered: r.bytes_delivered,
    lastUpdate: r.last_update,
  }));
}
