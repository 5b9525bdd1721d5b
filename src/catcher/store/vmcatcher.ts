import { openSqlite, type Db } from '../../shared/db.js';
import { VmiError } from '../../shared/errors.js';
import type { Endorsement } from '../../shared/verify.js';
import type { NewImagePolicy } from '../sync/reconcile.js';

/**
 * Reads what matters from a vmcatcher database: the SQLite schema vmcatcher's SQLAlchemy
 * model creates (vmcatcher/databaseDefinition.py, the last release): subscriptions with
 * their URL, list UUID, credentials and update mode, the endorsers authorised for each
 * (subscriptionAuth, endorser, endorserPrincible), and which images the site selected for
 * its cache (ImageDefinition.cache). A database missing any of these is refused rather than
 * half read: a selection silently dropped would cache every image.
 */

export interface VmcatcherSubscription {
  uuid: string;
  url: string;
  /** vmcatcher's "subscription enabled". */
  authorised: boolean;
  /** Only the endorsers whose subscriptionAuth row is authorised. */
  endorsers: Endorsement[];
  /** Credentials of a private list (HTTP Basic; AppDB: token and x-oauth-basic). */
  username: string | undefined;
  password: string | undefined;
  /** vmcatcher's updateMode as this program's policy; undefined for a value vmcatcher does not know. */
  newImages: NewImagePolicy | undefined;
  updateMode: number;
  /** Image identifiers vmcatcher knows for this subscription: true when selected for the cache. */
  images: Map<string, boolean>;
}

/** updateMode: 0 default (new images are ignored), 1 autoadd (added), 2 autosubscribe (added and cached). */
const UPDATE_MODES: ReadonlyMap<number, NewImagePolicy> = new Map([
  [0, 'refuse'],
  [1, 'accept'],
  [2, 'subscribe'],
]);

/** The tables and columns read, as vmcatcher names them. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  subscription: ['id', 'identifier', 'uri', 'authorised', 'userName', 'password', 'updateMode'],
  endorser: ['id'],
  endorserPrincible: ['hv_dn', 'hv_ca', 'endorser'],
  subscriptionAuth: ['subscription', 'endorser', 'authorised'],
  ImageDefinition: ['identifier', 'cache', 'subscription'],
};

type Row = Record<string, unknown>;

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  return typeof value === 'number' || typeof value === 'bigint' ? value.toString() : '';
}

function optionalText(value: unknown): string | undefined {
  const s = text(value);
  return s === '' ? undefined : s;
}

/** SQLite matches table names without regard to case; so does this check. */
function checkSchema(db: Db, path: string): void {
  for (const [table, wanted] of Object.entries(REQUIRED)) {
    const found = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`)
      .get(table) as { name: string } | undefined;
    if (found === undefined)
      throw new VmiError('CONFIG_INVALID', `${path} is not a vmcatcher database (no table ${table})`);
    const columns = new Set(
      (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(found.name) as { name: string }[]).map((c) =>
        c.name.toLowerCase(),
      ),
    );
    const missing = wanted.filter((c) => !columns.has(c.toLowerCase()));
    if (missing.length > 0) {
      throw new VmiError(
        'CONFIG_INVALID',
        `${path}: table ${found.name} lacks ${missing.join(', ')}; not a vmcatcher database this program reads`,
      );
    }
  }
}

function readSubscription(db: Db, row: Row): VmcatcherSubscription {
  const endorsers = db
    .prepare(
      `SELECT p.hv_dn AS dn, p.hv_ca AS ca FROM subscriptionAuth a
       JOIN endorserPrincible p ON p.endorser = a.endorser
       WHERE a.subscription = ? AND a.authorised = 1 ORDER BY a.id, p.id`,
    )
    .all(row['id']) as { dn: unknown; ca: unknown }[];
  const images = new Map<string, boolean>();
  for (const image of db
    .prepare(`SELECT identifier, cache FROM ImageDefinition WHERE subscription = ? ORDER BY id`)
    .all(row['id']) as Row[]) {
    images.set(text(image['identifier']), Number(image['cache']) === 1);
  }
  const updateMode = Number(row['updateMode']);
  return {
    uuid: text(row['identifier']),
    url: text(row['uri']),
    authorised: Number(row['authorised']) === 1,
    endorsers: endorsers.map((e) => ({ dn: text(e.dn), ca: text(e.ca) })),
    username: optionalText(row['userName']),
    password: optionalText(row['password']),
    newImages: UPDATE_MODES.get(updateMode),
    updateMode,
    images,
  };
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
    checkSchema(db, path);
    const rows = db
      .prepare(
        `SELECT id, identifier, uri, authorised, userName AS userName, password, updateMode AS updateMode
         FROM subscription ORDER BY id`,
      )
      .all() as Row[];
    return rows.map((row) => readSubscription(db, row));
  } catch (err) {
    if (err instanceof VmiError) throw err;
    throw new VmiError(
      'CONFIG_INVALID',
      `cannot read vmcatcher database ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  } finally {
    db.close();
  }
}
