import type { JsonObject } from '../../shared/imagelist/model.js';
import type { Db } from './db.js';

export type EntryState = 'listed' | 'removed' | 'superseded';

/** An image with its current version: `entry` is the `hv:image` object without lineage keys. */
export interface ImageRecord {
  listId: string;
  id: string;
  state: EntryState;
  seq: number;
  version: string;
  uri: string;
  size: number;
  sha512: string;
  entry: JsonObject;
}

interface ImageRow {
  list_id: string;
  id: string;
  state: EntryState;
  seq: number;
  hv_version: string;
  uri: string;
  size: number;
  sha512: string;
  entry_json: string;
}

const SELECT_IMAGE = `
  SELECT i.list_id, i.id, i.state, v.seq, v.hv_version, v.uri, v.size, v.sha512, v.entry_json
  FROM images i JOIN image_versions v ON v.seq = i.current_seq`;

function fromRow(row: ImageRow): ImageRecord {
  return {
    listId: row.list_id,
    id: row.id,
    state: row.state,
    seq: row.seq,
    version: row.hv_version,
    uri: row.uri,
    size: row.size,
    sha512: row.sha512,
    entry: JSON.parse(row.entry_json) as JsonObject,
  };
}

export function findImage(db: Db, listId: string, id: string): ImageRecord | undefined {
  const row = db.prepare(`${SELECT_IMAGE} WHERE i.list_id = ? AND i.id = ?`).get(listId, id) as
    ImageRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

/** Images currently in the list, in the order they were first added. */
export function listedImages(db: Db, listId: string): ImageRecord[] {
  const rows = db
    .prepare(`${SELECT_IMAGE} WHERE i.list_id = ? AND i.state = 'listed' ORDER BY i.rowid`)
    .all(listId) as ImageRow[];
  return rows.map(fromRow);
}

export function allImages(db: Db, listId: string): ImageRecord[] {
  const rows = db.prepare(`${SELECT_IMAGE} WHERE i.list_id = ? ORDER BY i.rowid`).all(listId) as ImageRow[];
  return rows.map(fromRow);
}

/** Every version of one image, oldest first. */
export function imageVersions(db: Db, listId: string, id: string): ImageRecord[] {
  const rows = db
    .prepare(
      `SELECT v.list_id, v.image_id AS id, i.state, v.seq, v.hv_version, v.uri, v.size, v.sha512, v.entry_json
       FROM image_versions v JOIN images i ON i.list_id = v.list_id AND i.id = v.image_id
       WHERE v.list_id = ? AND v.image_id = ? ORDER BY v.seq`,
    )
    .all(listId, id) as ImageRow[];
  return rows.map(fromRow);
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

/** Adds an image (state listed) or, when it exists, a new version of it (in-place update). */
export function putImageVersion(db: Db, listId: string, id: string, entry: JsonObject, now: string): number {
  db.prepare(
    `INSERT INTO images (list_id, id, state, created_at, changed_at) VALUES (?, ?, 'listed', ?, ?)
     ON CONFLICT (list_id, id) DO UPDATE SET state = 'listed', changed_at = excluded.changed_at`,
  ).run(listId, id, now, now);
  const result = db
    .prepare(
      `INSERT INTO image_versions (list_id, image_id, hv_version, uri, size, sha512, entry_json, added_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      listId,
      id,
      text(entry['hv:version']),
      text(entry['hv:uri']),
      Number(entry['hv:size']),
      text(entry['sl:checksum:sha512']),
      JSON.stringify(entry),
      now,
    );
  const seq = Number(result.lastInsertRowid);
  db.prepare('UPDATE images SET current_seq = ? WHERE list_id = ? AND id = ?').run(seq, listId, id);
  return seq;
}

export function setImageState(db: Db, listId: string, id: string, state: EntryState, now: string): void {
  db.prepare('UPDATE images SET state = ?, changed_at = ? WHERE list_id = ? AND id = ?').run(
    state,
    now,
    listId,
    id,
  );
}

/** Records that `id` directly supersedes each of `ancestors` (in order, nearest first). */
export function addImageSuccessors(db: Db, listId: string, id: string, ancestors: readonly string[]): void {
  const start =
    (
      db
        .prepare('SELECT MAX(ord) AS ord FROM image_successors WHERE list_id = ? AND image_id = ?')
        .get(listId, id) as { ord: number | null }
    ).ord ?? -1;
  const insert = db.prepare(
    'INSERT OR IGNORE INTO image_successors (list_id, image_id, supersedes, ord) VALUES (?, ?, ?, ?)',
  );
  ancestors.forEach((ancestor, i) => insert.run(listId, id, ancestor, start + 1 + i));
}

/** Direct successor links of a list: image -> what it supersedes, nearest first. */
export function imageSuccessorLinks(db: Db, listId: string): Map<string, string[]> {
  const rows = db
    .prepare('SELECT image_id, supersedes FROM image_successors WHERE list_id = ? ORDER BY image_id, ord')
    .all(listId) as { image_id: string; supersedes: string }[];
  const links = new Map<string, string[]>();
  for (const row of rows) links.set(row.image_id, [...(links.get(row.image_id) ?? []), row.supersedes]);
  return links;
}

/** The image that directly supersedes `id`, if any. */
export function successorOf(db: Db, listId: string, id: string): string | undefined {
  const row = db
    .prepare(
      'SELECT image_id FROM image_successors WHERE list_id = ? AND supersedes = ? ORDER BY ord LIMIT 1',
    )
    .get(listId, id) as { image_id: string } | undefined;
  return row?.image_id;
}
