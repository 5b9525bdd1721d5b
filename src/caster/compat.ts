import { createHash } from 'node:crypto';
import { formatListDate } from '../shared/imagelist/dates.js';
import { DATE_PATTERN } from '../shared/imagelist/schema.js';
import { isObject } from '../shared/imagelist/parse.js';
import type { Json, JsonObject } from '../shared/imagelist/model.js';
import { DEFAULT_METADATA } from './entries.js';

/**
 * What every reader in the field needs in a list, filled in when a list is stamped (docs/caster.md,
 * "Readers"): atrope 2.1 refuses the whole list when one image lacks a key it requires and crashes
 * on an image without a timezone-marked `dc:date:expires`; vmcatcher drops an image (or refuses the
 * list) when a required value is empty; cloudkeeper reads the keys AppDB writes. Values the publisher
 * gave are kept; only missing or empty ones are filled, from what vmicaster knows.
 */

export interface ReaderFacts {
  /** Image-level expiry unless an entry sets an earlier end of life (`--expires`). */
  imageExpires: Date;
  /** The signer's e-mail from its certificate, when it has one. */
  signerEmail?: string | undefined;
}

/** RFC 4122 name space for X.500 distinguished names. */
const DN_NAMESPACE = Buffer.from('6ba7b8149dad11d180b400c04fd430c8', 'hex');

/** A stable UUID (version 5) for a DN: `ad:user:guid` of the signer, the same at every publication. */
export function dnUuid(dn: string): string {
  const hash = createHash('sha1').update(DN_NAMESPACE).update(dn, 'utf8').digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function isEmpty(value: Json | undefined): boolean {
  return value === undefined || value === null || value === '';
}

/** A string value as text (numbers too); '' for anything else. */
function text(value: Json | undefined): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function fill(target: JsonObject, key: string, value: string): void {
  if (isEmpty(target[key])) target[key] = value;
}

const DATE = new RegExp(DATE_PATTERN);

/** The earlier of the publisher's own end of life for the image and the stamped one. */
function imageExpiry(entry: JsonObject, stamped: Date): string {
  const own = entry['dc:date:expires'];
  if (typeof own === 'string' && DATE.test(own) && Date.parse(own) < stamped.getTime()) return own;
  return formatListDate(stamped);
}

interface ListFacts {
  group: string;
  listUri: string;
  fullName: string;
  guid: string;
  userUri: string;
}

function completeImage(entry: JsonObject, list: ListFacts, facts: ReaderFacts): void {
  const id = typeof entry['dc:identifier'] === 'string' ? entry['dc:identifier'] : '';
  const title = typeof entry['dc:title'] === 'string' ? entry['dc:title'] : id;
  fill(entry, 'dc:title', title);
  fill(entry, 'dc:description', title);
  fill(entry, 'sl:arch', DEFAULT_METADATA.arch);
  fill(entry, 'sl:os', DEFAULT_METADATA.os);
  // vmcatcher refuses empty values: say plainly that nothing more is known.
  fill(entry, 'sl:osversion', 'unknown');
  fill(entry, 'sl:comments', text(entry['dc:description']));
  fill(entry, 'hv:hypervisor', DEFAULT_METADATA.hypervisor);
  fill(entry, 'hv:format', 'raw');
  fill(entry, 'sl:osname', text(entry['sl:os']));
  fill(entry, 'ad:group', list.group);
  fill(entry, 'ad:mpuri', `${list.listUri}#${encodeURIComponent(id)}`);
  fill(entry, 'ad:user:fullname', list.fullName);
  fill(entry, 'ad:user:guid', list.guid);
  fill(entry, 'ad:user:uri', list.userUri);
  entry['dc:date:expires'] = imageExpiry(entry, facts.imageExpires);
}

/**
 * Completes a stamped list body in place (dates, version and endorser DNs already set). The
 * endorser's e-mail falls back to the certificate's, then to the list's URL, so that no
 * required value is empty.
 */
export function completeForReaders(body: JsonObject, facts: ReaderFacts): void {
  const listUri = typeof body['hv:uri'] === 'string' ? body['hv:uri'] : '';
  fill(body, 'dc:description', text(body['dc:title']));
  fill(body, 'dc:source', listUri);
  const x509 = (body['hv:endorser'] as JsonObject)['hv:x509'] as JsonObject;
  const email = isEmpty(x509['hv:email']) ? facts.signerEmail : text(x509['hv:email']);
  fill(x509, 'hv:email', email ?? listUri);
  const vo = body['ad:vo'];
  const list: ListFacts = {
    group: typeof vo === 'string' && vo !== '' ? vo : text(body['dc:title']),
    listUri,
    fullName: text(x509['dc:creator']),
    guid: dnUuid(text(x509['hv:dn'])),
    userUri: email === undefined || email === '' ? listUri : `mailto:${email}`,
  };
  const images = body['hv:images'];
  if (!Array.isArray(images)) return;
  for (const wrapper of images) {
    const entry = isObject(wrapper) ? wrapper['hv:image'] : undefined;
    if (isObject(entry)) completeImage(entry, list, facts);
  }
}
