/** Snapshots of the catcher's stored state, to prove that a refused step changed nothing. */
import { readdir } from 'node:fs/promises';
import type { Db } from '../../src/shared/db.js';

/** Columns that record the attempt itself, which a refused poll is meant to update. */
const ATTEMPT_COLUMNS = new Set([
  'last_attempt_at',
  'last_error_code',
  'last_error_message',
  'last_error_at',
  'lapsed_since',
]);

export function dumpState(db: Db): string {
  const tables = (
    db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
      )
      .all() as { name: string }[]
  ).map((t) => t.name);
  const out: Record<string, unknown[]> = {};
  for (const table of tables) {
    const rows = db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[];
    out[table] = rows
      .map((row) =>
        Object.fromEntries(
          Object.entries(row)
            .filter(([k]) => !(table === 'subscriptions' && ATTEMPT_COLUMNS.has(k)))
            .map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('base64') : v]),
        ),
      )
      .map((r) => JSON.stringify(r))
      .sort();
  }
  return JSON.stringify(out);
}

export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}
