import { VmiError } from '../../shared/errors.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import type { Db } from './db.js';

/** A list as the publisher keeps it: the list keys it writes, and what it last published. */
export interface ListRecord {
  id: string;
  title: string;
  description: string;
  source: string;
  uri: string;
  vo: string | null;
  email: string;
  creator: string;
  /** List-level keys kept from an import and passed on unchanged. */
  extra: JsonObject;
  /** Last published or imported `hv:version`; null before the first publication. */
  version: string | null;
  endorserDn: string | null;
  endorserCa: string | null;
  publishPath: string | null;
  createdAt: string;
}

interface ListRow {
  id: string;
  title: string;
  description: string;
  source: string;
  uri: string;
  vo: string | null;
  email: string;
  creator: string;
  extra_json: string;
  version: string | null;
  endorser_dn: string | null;
  endorser_ca: string | null;
  publish_path: string | null;
  created_at: string;
}

function fromRow(row: ListRow): ListRecord {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    source: row.source,
    uri: row.uri,
    vo: row.vo,
    email: row.email,
    creator: row.creator,
    extra: JSON.parse(row.extra_json) as JsonObject,
    version: row.version,
    endorserDn: row.endorser_dn,
    endorserCa: row.endorser_ca,
    publishPath: row.publish_path,
    createdAt: row.created_at,
  };
}

export function insertList(db: Db, list: ListRecord): void {
  db.prepare(
    `INSERT INTO lists (id, title, description, source, uri, vo, email, creator, extra_json, version,
       endorser_dn, endorser_ca, publish_path, created_at)
     VALUES (@id, @title, @description, @source, @uri, @vo, @email, @creator, @extra, @version,
       @endorserDn, @endorserCa, @publishPath, @createdAt)`,
  ).run({ ...list, extra: JSON.stringify(list.extra) });
}

export function findList(db: Db, id: string): ListRecord | undefined {
  const row = db.prepare('SELECT * FROM lists WHERE id = ?').get(id) as ListRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

/** The list, or USAGE naming the unknown identifier. */
export function requireList(db: Db, id: string): ListRecord {
  const list = findList(db, id);
  if (list === undefined) throw new VmiError('USAGE', `no list ${JSON.stringify(id)} in this publisher`);
  return list;
}

export function allLists(db: Db): ListRecord[] {
  return (db.prepare('SELECT * FROM lists ORDER BY created_at, id').all() as ListRow[]).map(fromRow);
}

export function recordListPublication(
  db: Db,
  id: string,
  facts: { version: string; endorserDn: string; endorserCa: string; publishPath: string | null },
): void {
  db.prepare(
    `UPDATE lists SET version = @version, endorser_dn = @endorserDn, endorser_ca = @endorserCa,
       publish_path = COALESCE(@publishPath, publish_path) WHERE id = @id`,
  ).run({ id, ...facts });
}
