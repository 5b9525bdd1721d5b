import { prepared, type Db } from '../../shared/db.js';

/** Per-backend delivery records: each backend has its own, so one failing blocks no other. */

export type DeliveryState = 'pending' | 'delivered' | 'deprecated' | 'retired';

export interface Delivery {
  instanceId: number;
  backend: string;
  state: DeliveryState;
  refs: string[];
  metadataSha256: string | null;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: { code: string; message: string } | null;
  updatedAt: string;
}

interface DeliveryDbRow {
  instance_id: number;
  backend: string;
  state: DeliveryState;
  refs_json: string;
  metadata_sha256: string | null;
  attempts: number;
  next_attempt_at: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  updated_at: string;
}

const COLUMNS = `instance_id, backend, state, refs_json, metadata_sha256, attempts, next_attempt_at,
  last_error_code, last_error_message, updated_at`;

function fromRow(row: DeliveryDbRow): Delivery {
  const code = row.last_error_code;
  return {
    instanceId: row.instance_id,
    backend: row.backend,
    state: row.state,
    refs: JSON.parse(row.refs_json) as string[],
    metadataSha256: row.metadata_sha256,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: code === null ? null : { code, message: row.last_error_message ?? '' },
    updatedAt: row.updated_at,
  };
}

export function deliveriesOf(db: Db, instanceId: number): Delivery[] {
  return (
    prepared(db, `SELECT ${COLUMNS} FROM deliveries WHERE instance_id = ? ORDER BY backend`).all(
      instanceId,
    ) as DeliveryDbRow[]
  ).map(fromRow);
}

export function delivery(db: Db, instanceId: number, backend: string): Delivery | undefined {
  const row = prepared(db, `SELECT ${COLUMNS} FROM deliveries WHERE instance_id = ? AND backend = ?`).get(
    instanceId,
    backend,
  ) as DeliveryDbRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

export function allDeliveries(db: Db, backend: string): Delivery[] {
  return (
    prepared(db, `SELECT ${COLUMNS} FROM deliveries WHERE backend = ? ORDER BY instance_id`).all(
      backend,
    ) as DeliveryDbRow[]
  ).map(fromRow);
}

export function saveDelivery(
  db: Db,
  record: {
    instanceId: number;
    backend: string;
    state: DeliveryState;
    refs: string[];
    metadataSha256: string | null;
  },
  now: Date,
): void {
  prepared(
    db,
    `INSERT INTO deliveries (instance_id, backend, state, refs_json, metadata_sha256, attempts, updated_at)
     VALUES (?, ?, ?, ?, ?, 0, ?)
     ON CONFLICT (instance_id, backend) DO UPDATE SET state = excluded.state, refs_json = excluded.refs_json,
       metadata_sha256 = excluded.metadata_sha256, attempts = 0, next_attempt_at = NULL, last_error_code = NULL,
       last_error_message = NULL, updated_at = excluded.updated_at`,
  ).run(
    record.instanceId,
    record.backend,
    record.state,
    JSON.stringify(record.refs),
    record.metadataSha256,
    now.toISOString(),
  );
}

export function recordDeliveryError(
  db: Db,
  instanceId: number,
  backend: string,
  error: { code: string; message: string },
  nextAttemptAt: Date,
  now: Date,
): void {
  prepared(
    db,
    `INSERT INTO deliveries (instance_id, backend, state, attempts, last_error_code, last_error_message, next_attempt_at, updated_at)
     VALUES (?, ?, 'pending', 1, ?, ?, ?, ?)
     ON CONFLICT (instance_id, backend) DO UPDATE SET attempts = attempts + 1, last_error_code = excluded.last_error_code,
       last_error_message = excluded.last_error_message, next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at`,
  ).run(instanceId, backend, error.code, error.message, nextAttemptAt.toISOString(), now.toISOString());
}

export function markApplianceAvailable(
  db: Db,
  subscriptionId: string,
  appliance: string,
  version: string,
  backend: string,
  now: Date,
): void {
  prepared(
    db,
    `INSERT OR IGNORE INTO appliance_backends (subscription_id, appliance, version, backend, available_at) VALUES (?, ?, ?, ?, ?)`,
  ).run(subscriptionId, appliance, version, backend, now.toISOString());
}

export function applianceAvailability(
  db: Db,
  subscriptionId: string,
  appliance: string,
): { version: string; backend: string; availableAt: string }[] {
  return (
    prepared(
      db,
      'SELECT version, backend, available_at FROM appliance_backends WHERE subscription_id = ? AND appliance = ?',
    ).all(subscriptionId, appliance) as { version: string; backend: string; available_at: string }[]
  ).map((r) => ({ version: r.version, backend: r.backend, availableAt: r.available_at }));
}

/** Whether the appliance's current version was recorded available on the backend. */
export function applianceAvailableOn(
  db: Db,
  subscriptionId: string,
  appliance: string,
  backend: string,
): boolean {
  return (
    prepared(
      db,
      `SELECT 1 FROM appliance_backends ab JOIN appliances a
         ON a.subscription_id = ab.subscription_id AND a.identifier = ab.appliance AND a.version = ab.version
       WHERE ab.subscription_id = ? AND ab.appliance = ? AND ab.backend = ?`,
    ).get(subscriptionId, appliance, backend) !== undefined
  );
}
