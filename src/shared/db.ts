import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/**
 * SQLite as both programs use it: WAL, foreign keys, a busy timeout so that a second
 * process waits instead of failing, and versioned migrations (PRAGMA user_version) that
 * run at start, each in its own transaction, after a backup copy of the database.
 */

export type Db = Database.Database;

export interface Migration {
  version: number;
  sql: string;
}

export async function openDatabase(path: string, migrations: readonly Migration[]): Promise<Db> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existed = existsSync(path);
  const db = new Database(path, { timeout: 30_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  const current = db.pragma('user_version', { simple: true }) as number;
  const pending = migrations.filter((m) => m.version > current).sort((a, b) => a.version - b.version);
  if (pending.length > 0 && existed && current > 0) {
    // A copy before changing the schema, so an upgrade can always be undone.
    db.pragma('wal_checkpoint(TRUNCATE)');
    await copyFile(path, `${path}.backup-v${current}`);
  }
  for (const migration of pending) {
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return db;
}

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/** A prepared statement, compiled once per database and SQL text (hot loops prepare often). */
export function prepared(db: Db, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (cache === undefined) {
    cache = new Map();
    statements.set(db, cache);
  }
  let statement = cache.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}
