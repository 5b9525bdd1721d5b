import { prepared, type Db } from '../../shared/db.js';
import type { EventType } from '../events/environment.js';

/** The durable event outbox of the exec backends. */

export interface StoredEvent {
  id: number;
  backend: string;
  session: string;
  type: EventType;
  identifier: string | null;
  instanceId: number | null;
  env: Record<string, string>;
  state: 'pending' | 'done' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
}

interface EventDbRow {
  id: number;
  backend: string;
  session: string;
  type: EventType;
  identifier: string | null;
  instance_id: number | null;
  env_json: string;
  state: StoredEvent['state'];
  attempts: number;
  next_attempt_at: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  created_at: string;
}

const COLUMNS = `e.id, e.backend, e.session, e.type, e.identifier, e.instance_id, e.env_json, e.state,
  e.attempts, e.next_attempt_at, e.last_error_code, e.last_error_message, e.created_at`;

function fromRow(row: EventDbRow): StoredEvent {
  const code = row.last_error_code;
  return {
    id: row.id,
    backend: row.backend,
    session: row.session,
    type: row.type,
    identifier: row.identifier,
    instanceId: row.instance_id,
    env: JSON.parse(row.env_json) as Record<string, string>,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: code === null ? null : { code, message: row.last_error_message ?? '' },
    createdAt: row.created_at,
  };
}

export function insertEvent(
  db: Db,
  backends: readonly string[],
  event: {
    session: string;
    type: EventType;
    identifier: string | null;
    instanceId: number | null;
    env: Record<string, string>;
  },
  now: Date,
): void {
  const insert = prepared(
    db,
    `INSERT INTO events (backend, session, type, identifier, instance_id, env_json, state, created_at)
     VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`,
  );
  for (const backend of backends) {
    insert.run(
      backend,
      event.session,
      event.type,
      event.identifier,
      event.instanceId,
      JSON.stringify(event.env),
      now.toISOString(),
    );
  }
}

/** A pending event and what its order is kept within: its subscription (null: a run bracket). */
export interface PendingEvent extends StoredEvent {
  orderKey: string | null;
}

/**
 * Every pending event of a backend, oldest first. The subscription comes from the image
 * (an identifier belongs to one subscription); once a removed subscription's images are
 * gone, the identifier itself keeps that image's events in order.
 */
export function pendingEvents(db: Db, backend: string): PendingEvent[] {
  const rows = prepared(
    db,
    `SELECT ${COLUMNS}, CASE WHEN e.identifier IS NULL THEN NULL
                      ELSE COALESCE(m.subscription_id, 'image:' || e.identifier) END AS order_key
       FROM events e LEFT JOIN images m ON m.identifier = e.identifier
       WHERE e.backend = ? AND e.state = 'pending' ORDER BY e.id`,
  ).all(backend) as (EventDbRow & { order_key: string | null })[];
  return rows.map((row) => ({ ...fromRow(row), orderKey: row.order_key }));
}

/** Whether the backend's last handled ProcessPrefix/ProcessPostfix opened a run's bracket. */
export function bracketOpen(db: Db, backend: string): boolean {
  const row = prepared(
    db,
    `SELECT type FROM events WHERE backend = ? AND state != 'pending'
       AND type IN ('ProcessPrefix', 'ProcessPostfix') ORDER BY id DESC LIMIT 1`,
  ).get(backend) as { type: string } | undefined;
  return row?.type === 'ProcessPrefix';
}

export function markEventDone(db: Db, id: number, now: Date): void {
  prepared(
    db,
    `UPDATE events SET state = 'done', attempts = attempts + 1, done_at = ?, last_error_code = NULL,
       last_error_message = NULL, next_attempt_at = NULL WHERE id = ?`,
  ).run(now.toISOString(), id);
}

export function markEventFailed(
  db: Db,
  id: number,
  error: { code: string; message: string },
  nextAttemptAt: Date,
  giveUp: boolean,
): void {
  prepared(
    db,
    `UPDATE events SET attempts = attempts + 1, last_error_code = ?, last_error_message = ?, next_attempt_at = ?,
       state = ? WHERE id = ?`,
  ).run(error.code, error.message, nextAttemptAt.toISOString(), giveUp ? 'failed' : 'pending', id);
}

/** Failed events go back into the queue (operator action after fixing a handler). */
export function retryFailedEvents(db: Db, backend?: string): number {
  const result = prepared(
    db,
    `UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = NULL
       WHERE state = 'failed' AND (? IS NULL OR backend = ?)`,
  ).run(backend ?? null, backend ?? null);
  return result.changes;
}

/** Events matching a condition on the events table: for the tests only (no src/ module calls it). */
export function listEvents(db: Db, where = '1 = 1', ...params: unknown[]): StoredEvent[] {
  return (
    prepared(db, `SELECT ${COLUMNS} FROM events e WHERE ${where} ORDER BY id`).all(...params) as EventDbRow[]
  ).map(fromRow);
}

export interface OutboxSummary {
  backend: string;
  pending: number;
  failed: number;
  done: number;
  /** Creation time of the oldest event that is pending with errors or failed. */
  oldestFailingSince: string | null;
  lastError: { code: string; message: string } | null;
}

export function outboxSummary(db: Db, backends: readonly string[]): OutboxSummary[] {
  return backends.map((backend) => {
    const counts = prepared(
      db,
      `SELECT state, COUNT(*) AS n FROM events WHERE backend = ? GROUP BY state`,
    ).all(backend) as { state: string; n: number }[];
    const count = (state: string) => counts.find((c) => c.state === state)?.n ?? 0;
    const failing = prepared(
      db,
      `SELECT created_at, last_error_code, last_error_message FROM events
         WHERE backend = ? AND (state = 'failed' OR (state = 'pending' AND last_error_code IS NOT NULL)) ORDER BY id LIMIT 1`,
    ).get(backend) as { created_at: string; last_error_code: string; last_error_message: string } | undefined;
    return {
      backend,
      pending: count('pending'),
      failed: count('failed'),
      done: count('done'),
      oldestFailingSince: failing?.created_at ?? null,
      lastError:
        failing === undefined ? null : { code: failing.last_error_code, message: failing.last_error_message },
    };
  });
}
