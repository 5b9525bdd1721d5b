import { VmiError, type ErrorCode } from '../shared/errors.js';
import type { Json, JsonObject } from '../shared/imagelist/model.js';
import { describeSchemaError, validateImage } from '../shared/imagelist/schema.js';

/**
 * Image entries as vmicaster writes them: required keys with sane defaults, optional
 * metadata, and a check against the same schema readers use, so a list never carries an
 * image its subscribers would drop.
 */

export interface ImageMetadata {
  title?: string | undefined;
  description?: string | undefined;
  os?: string | undefined;
  osVersion?: string | undefined;
  arch?: string | undefined;
  hypervisor?: string | undefined;
  format?: string | undefined;
  version?: string | undefined;
  comments?: string | undefined;
  /** `sl:osname` (distribution name, e.g. `AlmaLinux`). */
  osName?: string | undefined;
  /** Image-level `dc:date:expires`: the publisher's end of life for the image. */
  expires?: string | undefined;
  /** Further keys (`ad:mpuri`, `sl:osname`, ...) passed into the entry as given. */
  attributes?: JsonObject | undefined;
}

export interface ImageContent {
  uri: string;
  size: number;
  sha512: string;
}

export const DEFAULT_METADATA = {
  os: 'Linux',
  osVersion: '',
  arch: 'x86_64',
  hypervisor: 'QEMU,KVM',
  comments: '',
  version: '1',
} as const;

/** Keys the publisher derives itself; attributes may not set them. */
const RESERVED = new Set([
  'dc:identifier',
  'hv:uri',
  'hv:size',
  'sl:checksum:sha512',
  'vmi:supersedes',
  'vmi:appliance',
]);

const SHA512 = /^[0-9a-f]{128}$/;

function pick(value: string | undefined, base: Json | undefined, fallback: string): string {
  if (value !== undefined) return value;
  return typeof base === 'string' ? base : fallback;
}

/**
 * Builds an `hv:image` entry. `base` is the entry being updated or superseded: its
 * metadata is kept where no new value is given. Throws `code` on bad input.
 */
export function makeImageEntry(
  id: string,
  meta: ImageMetadata,
  content: ImageContent,
  base: JsonObject | undefined,
  code: ErrorCode,
): JsonObject {
  for (const key of Object.keys(meta.attributes ?? {})) {
    if (RESERVED.has(key))
      throw new VmiError(code, `attribute ${key} is set by vmicaster and cannot be given`);
  }
  if (!Number.isSafeInteger(content.size) || content.size < 0) {
    throw new VmiError(code, `image size must be a non-negative integer, not ${String(content.size)}`);
  }
  if (!SHA512.test(content.sha512)) {
    throw new VmiError(code, 'image sha512 must be 128 lowercase hexadecimal digits');
  }
  const inherited: JsonObject = { ...base };
  delete inherited['vmi:supersedes'];
  delete inherited['vmi:appliance'];
  // The publisher's end of life carries over to new bytes, unless it has already passed
  // (readers delete an image whose expiry passed); publications stamp the rest (compat.ts).
  const ownExpiry = inherited['dc:date:expires'];
  if (typeof ownExpiry !== 'string' || !(Date.parse(ownExpiry) > Date.now())) {
    delete inherited['dc:date:expires'];
  }
  const title = pick(meta.title, inherited['dc:title'], '');
  if (title === '') throw new VmiError(code, 'an image needs a title');
  const entry: JsonObject = {
    ...inherited,
    ...meta.attributes,
    'dc:identifier': id,
    'dc:title': title,
    'dc:description': pick(meta.description, inherited['dc:description'], title),
    'hv:uri': content.uri,
    'hv:size': content.size,
    'sl:checksum:sha512': content.sha512,
    'sl:arch': pick(meta.arch, inherited['sl:arch'], DEFAULT_METADATA.arch),
    'sl:os': pick(meta.os, inherited['sl:os'], DEFAULT_METADATA.os),
    'sl:osversion': pick(meta.osVersion, inherited['sl:osversion'], DEFAULT_METADATA.osVersion),
    'sl:comments': pick(meta.comments, inherited['sl:comments'], DEFAULT_METADATA.comments),
    'hv:hypervisor': pick(meta.hypervisor, inherited['hv:hypervisor'], DEFAULT_METADATA.hypervisor),
    'hv:version': meta.version ?? DEFAULT_METADATA.version,
  };
  if (meta.format !== undefined) entry['hv:format'] = meta.format;
  if (meta.osName !== undefined) entry['sl:osname'] = meta.osName;
  if (meta.expires !== undefined) entry['dc:date:expires'] = meta.expires;
  if (!validateImage(entry)) {
    throw new VmiError(code, `image ${id}: ${describeSchemaError(validateImage.errors)}`);
  }
  return entry;
}

const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Identifiers chosen by a caller (import, push) must be plain tokens: they become names. */
export function checkIdentifier(value: string, what: string, code: ErrorCode): string {
  if (!IDENTIFIER.test(value)) {
    throw new VmiError(code, `${what} ${JSON.stringify(value)} is not a valid identifier`);
  }
  return value;
}
