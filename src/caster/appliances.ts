import { randomUUID } from 'node:crypto';
import { VmiError } from '../shared/errors.js';
import { bumpVersion } from '../shared/imagelist/version.js';
import type { Edit } from './catalog.js';
import { checkIdentifier } from './entries.js';
import {
  addApplianceSuccessors,
  findAppliance,
  insertAppliance,
  recordApplianceVersion,
  setApplianceState,
  setMember,
  type ApplianceRecord,
} from './store/appliances.js';
import { requireList } from './store/lists.js';

/**
 * Appliances (SPEC.md section 2.2): images deployed together, each in a role. A new
 * appliance may supersede an old one: it starts with the old one's members (a partial
 * update replaces some roles, a full update all of them) and the old one leaves the list.
 */

export interface CreateAppliance {
  listId: string;
  id?: string | undefined;
  title: string;
  version?: string | undefined;
  supersedes?: string | undefined;
}

/** The appliance to be superseded: it must be in the list now. */
export function supersedableAppliance(edit: Edit, listId: string, id: string): ApplianceRecord {
  const old = findAppliance(edit.db, listId, id);
  if (old === undefined)
    throw new VmiError(edit.code, `no appliance ${JSON.stringify(id)} in list ${listId}`);
  if (old.state !== 'listed') {
    throw new VmiError(
      edit.code,
      `appliance ${id} is ${old.state}; only a listed appliance can be superseded`,
    );
  }
  return old;
}

/** Creates an appliance; returns its identifier. */
export function createAppliance(edit: Edit, create: CreateAppliance): string {
  const { db, now } = edit;
  requireList(db, create.listId);
  if (create.title === '') throw new VmiError(edit.code, 'an appliance needs a title');
  const id =
    create.id === undefined ? randomUUID() : checkIdentifier(create.id, 'appliance identifier', edit.code);
  if (findAppliance(db, create.listId, id) !== undefined) {
    throw new VmiError(edit.code, `appliance ${id} already exists in list ${create.listId}`);
  }
  const old =
    create.supersedes === undefined
      ? undefined
      : supersedableAppliance(edit, create.listId, create.supersedes);
  if (old?.id === id) throw new VmiError(edit.code, 'an appliance cannot supersede itself');
  const version = create.version ?? (old === undefined ? '1' : bumpVersion(old.version));
  if (version === '') throw new VmiError(edit.code, 'an appliance version cannot be empty');

  insertAppliance(db, { listId: create.listId, id, title: create.title, version }, now);
  if (old !== undefined) {
    addApplianceSuccessors(db, create.listId, id, [old.id]);
    setApplianceState(db, create.listId, old.id, 'superseded', now);
    // The new version starts as the old one: unchanged members keep their identifiers.
    for (const member of old.members) setMember(db, create.listId, id, member.role, member.imageId);
  }
  recordApplianceVersion(db, create.listId, id, now);
  return id;
}
