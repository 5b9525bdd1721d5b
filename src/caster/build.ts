import { VmiError } from '../shared/errors.js';
import { formatListDate } from '../shared/imagelist/dates.js';
import { LIST_WRAPPER, type Json, type JsonObject } from '../shared/imagelist/model.js';
import { completeForReaders } from './compat.js';
import { ancestorChain } from './lineage.js';
import type { ApplianceRecord } from './store/appliances.js';
import type { ImageRecord } from './store/images.js';
import type { ListRecord } from './store/lists.js';

/**
 * The image list document built from the publisher's state: a pure function, so that
 * `show`, `publish` and a push build exactly the same bytes from the same state.
 */

export interface ListState {
  list: ListRecord;
  /** Images currently in the list. */
  images: ImageRecord[];
  imageLinks: ReadonlyMap<string, readonly string[]>;
  /** Appliances currently in the list. */
  appliances: ApplianceRecord[];
  applianceLinks: ReadonlyMap<string, readonly string[]>;
}

/** What changes with every signature: version, dates and the signer's identity. */
export interface Stamp {
  version: string;
  created: Date;
  expires: Date;
  endorserDn: string;
  endorserCa: string;
  /** Image-level expiry (default: one more lifetime after the list's, see compat.ts). */
  imageExpires?: Date | undefined;
  /** The signer's e-mail from its certificate, for `hv:email` when the list has none. */
  endorserEmail?: string | undefined;
}

function imageEntry(image: ImageRecord, state: ListState, applianceOf: Map<string, string>): JsonObject {
  const entry: JsonObject = { ...image.entry };
  delete entry['vmi:supersedes'];
  delete entry['vmi:appliance'];
  const chain = ancestorChain(image.id, state.imageLinks);
  if (chain.length > 0) entry['vmi:supersedes'] = chain;
  const appliance = applianceOf.get(image.id);
  if (appliance !== undefined) entry['vmi:appliance'] = appliance;
  return { 'hv:image': entry };
}

function applianceEntry(appliance: ApplianceRecord, state: ListState): JsonObject {
  return {
    'vmi:appliance': {
      'dc:identifier': appliance.id,
      'dc:title': appliance.title,
      'hv:version': appliance.version,
      'vmi:supersedes': ancestorChain(appliance.id, state.applianceLinks),
      'vmi:images': appliance.members.map((m) => ({ 'vmi:role': m.role, 'dc:identifier': m.imageId })),
    },
  };
}

/** The list as it stands, with placeholder dates and version (see `stampDocument`). */
export function assembleDocument(state: ListState): JsonObject {
  const { list } = state;
  const listed = new Set(state.images.map((i) => i.id));
  const applianceOf = new Map<string, string>();
  const appliances = state.appliances.filter((a) => a.members.length > 0);
  for (const appliance of appliances) {
    for (const member of appliance.members) {
      if (!listed.has(member.imageId)) {
        throw new VmiError(
          'LIST_MALFORMED',
          `appliance ${appliance.id} names image ${member.imageId}, which is not in list ${list.id}`,
        );
      }
      applianceOf.set(member.imageId, appliance.id);
    }
  }
  const body: JsonObject = {
    ...list.extra,
    'dc:identifier': list.id,
    'dc:title': list.title,
    'dc:description': list.description,
    'dc:source': list.source,
    'dc:date:created': '',
    'dc:date:expires': '',
    'hv:version': list.version ?? '0',
    'hv:uri': list.uri,
    'hv:endorser': {
      'hv:x509': {
        'hv:dn': list.endorserDn ?? '',
        'hv:ca': list.endorserCa ?? '',
        'hv:email': list.email,
        'dc:creator': list.creator,
      },
    },
    'hv:images': state.images.map((image) => imageEntry(image, state, applianceOf)),
  };
  if (list.vo !== null) body['ad:vo'] = list.vo;
  else delete body['ad:vo'];
  if (appliances.length > 0) body['vmi:appliances'] = appliances.map((a) => applianceEntry(a, state));
  else delete body['vmi:appliances'];
  return { [LIST_WRAPPER]: body };
}

/** The common name of a oneline DN (`/DC=org/CN=Jane Doe` -> `Jane Doe`), for dc:creator. */
export function commonName(dn: string): string {
  const cn = dn
    .split('/')
    .reverse()
    .find((part) => part.startsWith('CN='));
  return cn === undefined ? dn : cn.slice(3);
}

/**
 * A copy of `document` with the stamp's version, dates and endorser DNs, completed with what
 * every reader needs (compat.ts), image-level expiries included.
 */
export function stampDocument(document: JsonObject, stamp: Stamp): JsonObject {
  const copy = structuredClone(document);
  const body = copy[LIST_WRAPPER] as JsonObject;
  body['hv:version'] = stamp.version;
  body['dc:date:created'] = formatListDate(stamp.created);
  body['dc:date:expires'] = formatListDate(stamp.expires);
  const x509 = (body['hv:endorser'] as JsonObject)['hv:x509'] as JsonObject;
  x509['hv:dn'] = stamp.endorserDn;
  x509['hv:ca'] = stamp.endorserCa;
  const creator = x509['dc:creator'] as Json;
  if (creator === '' || creator === null) x509['dc:creator'] = commonName(stamp.endorserDn);
  const lifetime = stamp.expires.getTime() - stamp.created.getTime();
  completeForReaders(body, {
    imageExpires: stamp.imageExpires ?? new Date(stamp.expires.getTime() + Math.max(lifetime, 0)),
    signerEmail: stamp.endorserEmail,
  });
  return copy;
}
