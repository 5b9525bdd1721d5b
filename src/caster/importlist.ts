import { createHash } from 'node:crypto';
import { VmiError } from '../shared/errors.js';
import { LIST_WRAPPER, type JsonObject } from '../shared/imagelist/model.js';
import type { VerifiedList } from '../shared/verify.js';
import { checkIdentifier } from './entries.js';
import {
  addApplianceSuccessors,
  insertAppliance,
  markAppliancesPublished,
  recordApplianceVersion,
  setMember,
} from './store/appliances.js';
import type { Db } from './store/db.js';
import { addImageSuccessors, putImageVersion } from './store/images.js';
import { findList, insertList } from './store/lists.js';
import { insertPublication } from './store/publications.js';

/**
 * Taking over a list published by vmcaster or AppDB (CONTRACT.md `import`): the caller has
 * verified it with the shared verifier; this keeps its identifier, images, appliances,
 * successor links and version, so the next publication continues above that version and
 * subscribers' rollback protection stays intact.
 */

/** List keys the publisher writes itself; any other key is kept and passed on. */
const MANAGED_LIST_KEYS = new Set([
  'dc:identifier',
  'dc:title',
  'dc:description',
  'dc:source',
  'dc:date:created',
  'dc:date:expires',
  'hv:version',
  'hv:uri',
  'ad:vo',
  'hv:endorser',
  'hv:images',
  'vmi:appliances',
]);

export interface ImportSummary {
  listId: string;
  version: string;
  images: number;
  appliances: number;
  warnings: string[];
}

export function importVerifiedList(
  db: Db,
  verified: VerifiedList,
  bytes: Uint8Array,
  now: string,
): ImportSummary {
  const { list } = verified;
  const code = 'LIST_MALFORMED';
  checkIdentifier(list.identifier, 'list identifier', code);
  if (findList(db, list.identifier) !== undefined) {
    throw new VmiError('CONFIG_INVALID', `list ${list.identifier} is already managed by this publisher`);
  }
  const body = list.document[LIST_WRAPPER] as JsonObject;
  const extra: JsonObject = {};
  for (const [key, value] of Object.entries(body)) if (!MANAGED_LIST_KEYS.has(key)) extra[key] = value;
  insertList(db, {
    id: list.identifier,
    title: list.title,
    description: list.description,
    source: list.source,
    uri: list.uri,
    vo: list.vo ?? null,
    email: list.endorser.email,
    creator: list.endorser.creator,
    extra,
    version: list.version,
    endorserDn: list.endorser.dn,
    endorserCa: list.endorser.ca,
    publishPath: null,
    createdAt: now,
  });
  for (const image of list.images) {
    checkIdentifier(image.identifier, 'image identifier', code);
    const entry: JsonObject = { ...image.entry, 'hv:size': image.size, 'hv:version': image.version };
    delete entry['vmi:supersedes'];
    delete entry['vmi:appliance'];
    putImageVersion(db, list.identifier, image.identifier, entry, now);
    if (image.supersedes.length > 0)
      addImageSuccessors(db, list.identifier, image.identifier, image.supersedes);
  }
  for (const appliance of list.appliances) {
    checkIdentifier(appliance.identifier, 'appliance identifier', code);
    insertAppliance(
      db,
      {
        listId: list.identifier,
        id: appliance.identifier,
        title: appliance.title,
        version: appliance.version,
      },
      now,
    );
    for (const member of appliance.images) {
      setMember(db, list.identifier, appliance.identifier, member.role, member.identifier);
    }
    addApplianceSuccessors(db, list.identifier, appliance.identifier, appliance.supersedes);
    recordApplianceVersion(db, list.identifier, appliance.identifier, now);
  }
  markAppliancesPublished(db, list.identifier);
  insertPublication(
    db,
    {
      listId: list.identifier,
      kind: 'import',
      version: list.version,
      path: null,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      signerDn: verified.signer.dn,
      publishedAt: now,
    },
    list.document,
  );
  return {
    listId: list.identifier,
    version: list.version,
    images: list.images.length,
    appliances: list.appliances.length,
    warnings: list.warnings,
  };
}
