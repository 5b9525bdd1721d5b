import type { JsonObject } from '../../shared/imagelist/model.js';
import type { Db } from './db.js';

export type PublicationKind = 'publish' | 'renew' | 'push' | 'import';

/** One signed file that went out (or was taken over by import). */
export interface PublicationRecord {
  seq: number;
  listId: string;
  kind: PublicationKind;
  version: string;
  path: string | null;
  sha256: string;
  size: number;
  signerDn: string;
  publishedAt: string;
}

interface PublicationRow {
  seq: number;
  list_id: string;
  kind: PublicationKind;
  version: string;
  path: string | null;
  sha256: string;
  size: number;
  signer_dn: string;
  published_at: string;
  document: string;
}

function fromRow(r: PublicationRow): PublicationRecord {
  return {
    seq: r.seq,
    listId: r.list_id,
    kind: r.kind,
    version: r.version,
    path: r.path,
    sha256: r.sha256,
    size: r.size,
    signerDn: r.signer_dn,
    publishedAt: r.published_at,
  };
}

export function insertPublication(
  db: Db,
  p: Omit<PublicationRecord, 'seq'>,
  document: JsonObject,
): PublicationRecord {
  const result = db
    .prepare(
      `INSERT INTO publications (list_id, kind, version, path, sha256, size, signer_dn, published_at, document)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      p.listId,
      p.kind,
      p.version,
      p.path,
      p.sha256,
      p.size,
      p.signerDn,
      p.publishedAt,
      JSON.stringify(document),
    );
  return { ...p, seq: Number(result.lastInsertRowid) };
}

export function publicationsOf(db: Db, listId: string): PublicationRecord[] {
  return (
    db.prepare('SELECT * FROM publications WHERE list_id = ? ORDER BY seq').all(listId) as PublicationRow[]
  ).map(fromRow);
}

/**
 * The last publication of a list with its document: unstamped since issue 17 (a renewal stamps
 * it again, image expiries included); stamped in rows of earlier releases, which stamps alike.
 */
export function lastPublication(
  db: Db,
  listId: string,
): { record: PublicationRecord; document: JsonObject } | undefined {
  const row = db
    .prepare('SELECT * FROM publications WHERE list_id = ? ORDER BY seq DESC LIMIT 1')
    .get(listId) as PublicationRow | undefined;
  return row === undefined
    ? undefined
    : { record: fromRow(row), document: JSON.parse(row.document) as JsonObject };
}
