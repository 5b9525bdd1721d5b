import type { Db } from './db.js';
import type { EntryState } from './images.js';

export interface MemberRecord {
  role: string;
  imageId: string;
}

export interface ApplianceRecord {
  listId: string;
  id: string;
  title: string;
  version: string;
  state: EntryState;
  /** This version has gone out in a publication. */
  published: boolean;
  bodySha256: string | null;
  /** Members ordered by role. */
  members: MemberRecord[];
}

interface ApplianceRow {
  list_id: string;
  id: string;
  title: string;
  hv_version: string;
  state: EntryState;
  published: number;
  body_sha256: string | null;
}

function membersOf(db: Db, listId: string, id: string): MemberRecord[] {
  return (
    db
      .prepare(
        'SELECT role, image_id FROM appliance_members WHERE list_id = ? AND appliance_id = ? ORDER BY role',
      )
      .all(listId, id) as { role: string; image_id: string }[]
  ).map((r) => ({ role: r.role, imageId: r.image_id }));
}

function fromRow(db: Db, row: ApplianceRow): ApplianceRecord {
  return {
    listId: row.list_id,
    id: row.id,
    title: row.title,
    version: row.hv_version,
    state: row.state,
    published: row.published === 1,
    bodySha256: row.body_sha256,
    members: membersOf(db, row.list_id, row.id),
  };
}

export function findAppliance(db: Db, listId: string, id: string): ApplianceRecord | undefined {
  const row = db.prepare('SELECT * FROM appliances WHERE list_id = ? AND id = ?').get(listId, id) as
    ApplianceRow | undefined;
  return row === undefined ? undefined : fromRow(db, row);
}

export function listedAppliances(db: Db, listId: string): ApplianceRecord[] {
  const rows = db
    .prepare(`SELECT * FROM appliances WHERE list_id = ? AND state = 'listed' ORDER BY rowid`)
    .all(listId) as ApplianceRow[];
  return rows.map((row) => fromRow(db, row));
}

export function insertAppliance(
  db: Db,
  a: { listId: string; id: string; title: string; version: string },
  now: string,
): void {
  db.prepare(
    `INSERT INTO appliances (list_id, id, title, hv_version, state, created_at, changed_at)
     VALUES (?, ?, ?, ?, 'listed', ?, ?)`,
  ).run(a.listId, a.id, a.title, a.version, now, now);
}

/** A new version of an appliance: new title/version, unpublished, maybe with the push body hash. */
export function setApplianceVersion(
  db: Db,
  listId: string,
  id: string,
  facts: { title: string; version: string; bodySha256: string | null },
  now: string,
): void {
  db.prepare(
    `UPDATE appliances SET title = ?, hv_version = ?, body_sha256 = ?, published = 0, changed_at = ?
     WHERE list_id = ? AND id = ?`,
  ).run(facts.title, facts.version, facts.bodySha256, now, listId, id);
}

export function setApplianceState(db: Db, listId: string, id: string, state: EntryState, now: string): void {
  db.prepare('UPDATE appliances SET state = ?, changed_at = ? WHERE list_id = ? AND id = ?').run(
    state,
    now,
    listId,
    id,
  );
}

/** Puts `imageId` in `role` of the appliance (replacing whatever held the role). */
export function setMember(db: Db, listId: string, applianceId: string, role: string, imageId: string): void {
  db.prepare(
    'DELETE FROM appliance_members WHERE list_id = ? AND (image_id = ? OR (appliance_id = ? AND role = ?))',
  ).run(listId, imageId, applianceId, role);
  db.prepare('INSERT INTO appliance_members (list_id, appliance_id, role, image_id) VALUES (?, ?, ?, ?)').run(
    listId,
    applianceId,
    role,
    imageId,
  );
}

export function removeMember(db: Db, listId: string, imageId: string): void {
  db.prepare('DELETE FROM appliance_members WHERE list_id = ? AND image_id = ?').run(listId, imageId);
}

export function clearMembers(db: Db, listId: string, applianceId: string): void {
  db.prepare('DELETE FROM appliance_members WHERE list_id = ? AND appliance_id = ?').run(listId, applianceId);
}

/** The appliance and role an image belongs to, if any. */
export function membershipOf(
  db: Db,
  listId: string,
  imageId: string,
): { applianceId: string; role: string } | undefined {
  const row = db
    .prepare('SELECT appliance_id, role FROM appliance_members WHERE list_id = ? AND image_id = ?')
    .get(listId, imageId) as { appliance_id: string; role: string } | undefined;
  return row === undefined ? undefined : { applianceId: row.appliance_id, role: row.role };
}

/** Keeps a copy of the appliance as it is now (every version is kept). */
export function recordApplianceVersion(db: Db, listId: string, id: string, now: string): void {
  const a = findAppliance(db, listId, id);
  if (a === undefined) return;
  db.prepare(
    `INSERT INTO appliance_versions (list_id, appliance_id, hv_version, title, members_json, created_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(listId, id, a.version, a.title, JSON.stringify(a.members), now);
}

export function addApplianceSuccessors(
  db: Db,
  listId: string,
  id: string,
  ancestors: readonly string[],
): void {
  const insert = db.prepare(
    'INSERT OR IGNORE INTO appliance_successors (list_id, appliance_id, supersedes, ord) VALUES (?, ?, ?, ?)',
  );
  ancestors.forEach((ancestor, i) => insert.run(listId, id, ancestor, i));
}

export function applianceSuccessorLinks(db: Db, listId: string): Map<string, string[]> {
  const rows = db
    .prepare(
      'SELECT appliance_id, supersedes FROM appliance_successors WHERE list_id = ? ORDER BY appliance_id, ord',
    )
    .all(listId) as { appliance_id: string; supersedes: string }[];
  const links = new Map<string, string[]>();
  for (const r of rows) links.set(r.appliance_id, [...(links.get(r.appliance_id) ?? []), r.supersedes]);
  return links;
}

/** After a publication: later member changes must give the appliances a new version. */
export function markAppliancesPublished(db: Db, listId: string): void {
  db.prepare(`UPDATE appliances SET published = 1 WHERE list_id = ? AND state = 'listed'`).run(listId);
}
