import { prepared, type Db } from '../../shared/db.js';
import { currentInstance, type InstanceRow } from './instances.js';

/** The appliances the lists offer, as stored (written with the images: images.ts applyPlan). */

export interface StoredAppliance {
  subscriptionId: string;
  identifier: string;
  version: string;
  title: string;
  listed: boolean;
  supersedes: string[];
  members: { role: string; identifier: string }[];
}

interface ApplianceDbRow {
  subscription_id: string;
  identifier: string;
  version: string;
  title: string;
  listed: number;
  supersedes_json: string;
}

function applianceFrom(db: Db, r: ApplianceDbRow): StoredAppliance {
  return {
    subscriptionId: r.subscription_id,
    identifier: r.identifier,
    version: r.version,
    title: r.title,
    listed: r.listed === 1,
    supersedes: JSON.parse(r.supersedes_json) as string[],
    members: prepared(
      db,
      'SELECT role, identifier FROM appliance_members WHERE subscription_id = ? AND appliance = ? ORDER BY role, identifier',
    ).all(r.subscription_id, r.identifier) as { role: string; identifier: string }[],
  };
}

const APPLIANCE_COLUMNS = 'subscription_id, identifier, version, title, listed, supersedes_json';

export function appliancesOf(db: Db, subscriptionId: string): StoredAppliance[] {
  const rows = prepared(
    db,
    `SELECT ${APPLIANCE_COLUMNS} FROM appliances WHERE subscription_id = ? ORDER BY identifier`,
  ).all(subscriptionId) as ApplianceDbRow[];
  return rows.map((r) => applianceFrom(db, r));
}

/** The appliances current lists offer, of every subscription. */
export function listedAppliances(db: Db): StoredAppliance[] {
  const rows = prepared(
    db,
    `SELECT ${APPLIANCE_COLUMNS} FROM appliances WHERE listed = 1 ORDER BY subscription_id, identifier`,
  ).all() as ApplianceDbRow[];
  return rows.map((r) => applianceFrom(db, r));
}

/**
 * The current instances of the members of an image's appliance (undefined for a member the
 * list does not name now), or undefined when the image belongs to no listed appliance.
 */
export function applianceMembers(db: Db, inst: InstanceRow): (InstanceRow | undefined)[] | undefined {
  if (inst.appliance === null) return undefined;
  const row = prepared(
    db,
    `SELECT ${APPLIANCE_COLUMNS} FROM appliances WHERE subscription_id = ? AND identifier = ? AND listed = 1`,
  ).get(inst.subscriptionId, inst.appliance) as ApplianceDbRow | undefined;
  if (row === undefined) return undefined;
  return applianceFrom(db, row).members.map((m) => currentInstance(db, inst.subscriptionId, m.identifier));
}
