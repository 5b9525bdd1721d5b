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

interface NativeDatabase {
  prepare(this: NativeDatabase, sql: string, owner: unknown, pragma: boolean): unknown;
}

/**
 * Node 24.20 changed node::ObjectWrap to unregister an environment cleanup hook when a
 * native object is finalized, asserting that a JavaScript environment is current. The
 * statements of better-sqlite3 12 (its last line for Node 20) derive from that class: when
 * the garbage collector finalizes one outside JavaScript, the process aborts ("Assertion
 * failed: (env) != nullptr" in RemoveEnvironmentCleanupHook). On those Node versions every
 * statement stays reachable until exit; ordinary statements are reused per SQL text, so
 * this costs memory per distinct statement only. (better-sqlite3 13 uses N-API and does not
 * need this, but requires Node 22.)
 */
function keepStatementsAlive(): void {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 24 || (major === 24 && minor < 20)) return;
  const probe = new Database(':memory:');
  const native = Object.getOwnPropertySymbols(probe)
    .map((symbol) => (probe as unknown as Record<symbol, unknown>)[symbol])
    .find(
      (value): value is NativeDatabase =>
        typeof (value as NativeDatabase | undefined)?.prepare === 'function',
    );
  if (native === undefined) return;
  const proto = Object.getPrototypeOf(native) as NativeDatabase;
  const original = Reflect.get<NativeDatabase, 'prepare'>(proto, 'prepare');
  const kept = new Map<NativeDatabase, { bySql: Map<string, unknown>; pragmas: unknown[] }>();
  kept.set(native, { bySql: new Map(), pragmas: [] }); // the probe itself stays reachable too
  proto.prepare = function (this: NativeDatabase, sql: string, owner: unknown, pragma: boolean): unknown {
    let mine = kept.get(this);
    if (mine === undefined) {
      mine = { bySql: new Map(), pragmas: [] };
      kept.set(this, mine);
    }
    if (!pragma) {
      const reused = mine.bySql.get(sql);
      if (reused !== undefined) return reused;
    }
    const statement = original.call(this, sql, owner, pragma);
    if (pragma) mine.pragmas.push(statement);
    else mine.bySql.set(sql, statement);
    return statement;
  };
}

keepStatementsAlive();

export interface Migration {
  version: number;
  sql: string;
}

/** Opens an SQLite file with better-sqlite3 (every open goes through here; see above). */
export function openSqlite(path: string, options: Database.Options = {}): Db {
  return new Database(path, options);
}

export async function openDatabase(path: string, migrations: readonly Migration[]): Promise<Db> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existed = existsSync(path);
  const db = openSqlite(path, { timeout: 30_000 });
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
