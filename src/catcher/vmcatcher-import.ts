import { openSqlite, type Db } from '../shared/db.js';
import { VmiError } from '../shared/errors.js';
import type { Endorsement } from '../shared/verify.js';

/**
 * Reads what matters from a vmcatcher database (SQLAlchemy model of vmcatcher 0.x,
 * `vmcatcher/databaseDefinition.py`): subscriptions with their URL and list UUID, the
 * endorsers authorised for each (via subscriptionAuth, endorser and endorserPrincible), and
 * which images were selected for caching (imageDefinition.cache). Column names are looked
 * up tolerantly, because they changed between vmcatcher releases.
 */

export interface VmcatcherSubscription {
  uuid: string;
  url: string;
  authorised: boolean;
  endorsers: Endorsement[];
  /** Image identifiers vmcatcher cached (selected) and ignored. */
  selected: string[];
  deselected: string[];
}

type Row = Record<string, unknown>;

function columns(db: Db, table: string): string[] {
  return (db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[]).map((c) => c.name);
}

function pick(available: string[], candidates: string[], table: string): string {
  const found = candidates.find((c) => available.includes(c));
  if (found === undefined) {
    throw new VmiError(
      'CONFIG_INVALID',
      `vmcatcher database: table ${table} has none of the columns ${candidates.join(', ')}`,
    );
  }
  return found;
}

function tableExists(db: Db, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  return typeof value === 'number' || typeof value === 'bigint' ? value.toString() : '';
}

export function readVmcatcherDatabase(path: string): VmcatcherSubscription[] {
  let db: Db;
  try {
    db = openSqlite(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new VmiError(
      'CONFIG_INVALID',
      `cannot open vmcatcher database ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    for (const table of ['subscription', 'endorser', 'endorserPrincible', 'subscriptionAuth']) {
      if (!tableExists(db, table))
        throw new VmiError('CONFIG_INVALID', `${path} is not a vmcatcher database (no table ${table})`);
    }
    const sub = columns(db, 'subscription');
    const uuidCol = pick(sub, ['uuid', 'identifier'], 'subscription');
    const urlCol = pick(sub, ['uri', 'url'], 'subscription');
    const authCol = sub.includes('authorised') ? 'authorised' : undefined;
    const principal = columns(db, 'endorserPrincible');
    const dnCol = pick(principal, ['hv_dn', 'identifier', 'dn'], 'endorserPrincible');
    const caCol = pick(principal, ['hv_ca', 'ca'], 'endorserPrincible');
    const images = tableExists(db, 'imageDefinition') ? columns(db, 'imageDefinition') : [];
    const subscriptions = db.prepare(`SELECT * FROM subscription ORDER BY id`).all() as Row[];
    return subscriptions.map((row) => {
      const endorsers = db
        .prepare(
          `SELECT p."${dnCol}" AS dn, p."${caCol}" AS ca FROM subscriptionAuth a
           JOIN endorserPrincible p ON p.endorser = a.endorser
           WHERE a.subscription = ? AND (a.authorised IS NULL OR a.authorised != 0) ORDER BY p.id`,
        )
        .all(row['id']) as { dn: unknown; ca: unknown }[];
      const selected: string[] = [];
      const deselected: string[] = [];
      if (images.includes('identifier') && images.includes('subscription') && images.includes('cache')) {
        for (const image of db
          .prepare(`SELECT identifier, cache FROM imageDefinition WHERE subscription = ?`)
          .all(row['id']) as Row[]) {
          (Number(image['cache']) !== 0 ? selected : deselected).push(text(image['identifier']));
        }
      }
      return {
        uuid: text(row[uuidCol]),
        url: text(row[urlCol]),
        authorised: authCol === undefined ? true : Number(row[authCol]) !== 0,
        endorsers: endorsers.map((e) => ({ dn: text(e.dn), ca: text(e.ca) })),
        selected,
        deselected,
      };
    });
  } finally {
    db.close();
  }
}
