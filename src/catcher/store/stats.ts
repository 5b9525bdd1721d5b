import { prepared, type Db } from '../../shared/db.js';

/** Read-only aggregate queries for the status document and the metrics. */

export function deliveryCounts(db: Db, backend: string): Record<string, number> {
  const rows = prepared(
    db,
    `SELECT d.state, COUNT(*) AS n FROM deliveries d JOIN instances i ON i.id = d.instance_id
       WHERE d.backend = ? AND i.current = 1 GROUP BY d.state`,
  ).all(backend) as { state: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

export interface BackendError {
  code: string;
  message: string;
  at: string;
  image: string;
}

/** Deliveries whose last attempt failed, newest first. */
export function failingDeliveries(db: Db, backend: string): BackendError[] {
  return (
    prepared(
      db,
      `SELECT d.last_error_code AS code, d.last_error_message AS message, d.updated_at AS at, i.identifier AS image
         FROM deliveries d JOIN instances i ON i.id = d.instance_id
         WHERE d.backend = ? AND d.last_error_code IS NOT NULL ORDER BY d.updated_at DESC`,
    ).all(backend) as { code: string; message: string | null; at: string; image: string }[]
  ).map((r) => ({ ...r, message: r.message ?? '' }));
}

/** The current images that are downloading right now or wait for another attempt. */
export function downloadQueue(db: Db): { waiting: number; failing: number } {
  const row = prepared(
    db,
    `SELECT COUNT(*) AS waiting, COALESCE(SUM(i.last_error_code IS NOT NULL), 0) AS failing
       FROM instances i JOIN images m ON m.subscription_id = i.subscription_id AND m.identifier = i.identifier
       WHERE i.current = 1 AND i.state IN ('pending', 'downloading') AND m.selected = 1 AND m.unwanted_reason IS NULL`,
  ).get() as { waiting: number; failing: number };
  return row;
}
