import { VmiError } from '../errors.js';
import { parseListDate } from './dates.js';
import {
  LIST_WRAPPER,
  type Appliance,
  type ImageEntry,
  type ImageList,
  type Json,
  type JsonObject,
} from './model.js';
import { describeSchemaError, validateAppliance, validateImage, validateList } from './schema.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Deeper documents are refused before any recursive code walks them. */
export const MAX_JSON_DEPTH = 32;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(message: string): VmiError {
  return new VmiError('LIST_MALFORMED', message);
}

/** Iterative depth check, so that a hostile document cannot exhaust the stack later. */
export function checkDepth(root: Json, maxDepth = MAX_JSON_DEPTH): void {
  const stack: [Json, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [Json, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth > maxDepth) throw malformed(`document nested deeper than ${maxDepth} levels`);
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      stack.push([child, depth + 1]);
    }
  }
}

/** Decodes UTF-8 strictly and parses JSON; refuses anything else as LIST_MALFORMED. */
export function parseJsonDocument(bytes: Uint8Array): Json {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (err) {
    throw new VmiError('LIST_MALFORMED', 'list is not valid UTF-8', { cause: err });
  }
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (err) {
    throw new VmiError('LIST_MALFORMED', `list is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  checkDepth(doc);
  return doc;
}

function stringList(value: Json | undefined): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function parseImage(wrapper: Json, index: number, warnings: string[]): ImageEntry | undefined {
  const entry = isObject(wrapper) ? wrapper['hv:image'] : undefined;
  if (!isObject(entry)) {
    warnings.push(`image #${index + 1} dropped: not an object with key hv:image`);
    return undefined;
  }
  const label = typeof entry['dc:identifier'] === 'string' ? entry['dc:identifier'] : `#${index + 1}`;
  if (!validateImage(entry)) {
    warnings.push(`image ${label} dropped: ${describeSchemaError(validateImage.errors)}`);
    return undefined;
  }
  const identifier = entry['dc:identifier'] as string;
  const supersedes = stringList(entry['vmi:supersedes']);
  if (supersedes.includes(identifier)) {
    warnings.push(`image ${label} dropped: vmi:supersedes names the image itself`);
    return undefined;
  }
  let expires: Date | undefined;
  if (typeof entry['dc:date:expires'] === 'string') {
    expires = parseListDate(entry['dc:date:expires'], `image ${label} dc:date:expires`);
  }
  if (!UUID.test(identifier)) warnings.push(`image identifier ${label} is not an RFC 4122 UUID`);
  const format = entry['hv:format'];
  const version = entry['hv:version'];
  const appliance = entry['vmi:appliance'];
  return {
    identifier,
    title: entry['dc:title'] as string,
    description: entry['dc:description'] as string,
    uri: entry['hv:uri'] as string,
    size: Number(entry['hv:size']),
    sha512: (entry['sl:checksum:sha512'] as string).toLowerCase(),
    version: typeof version === 'number' ? version.toString() : (version as string),
    format: typeof format === 'string' ? format : undefined,
    arch: entry['sl:arch'] as string,
    os: entry['sl:os'] as string,
    osVersion: entry['sl:osversion'] as string,
    hypervisor: entry['hv:hypervisor'] as string,
    comments: entry['sl:comments'] as string,
    expires,
    supersedes,
    appliance: typeof appliance === 'string' ? appliance : undefined,
    entry,
  };
}

function parseAppliance(
  wrapper: Json,
  index: number,
  present: Set<string>,
  warnings: string[],
): Appliance | undefined {
  const entry = isObject(wrapper) ? wrapper['vmi:appliance'] : undefined;
  if (!isObject(entry) || !validateAppliance(entry)) {
    const why = isObject(entry) ? describeSchemaError(validateAppliance.errors) : 'not an object';
    warnings.push(`appliance #${index + 1} dropped: ${why}`);
    return undefined;
  }
  const identifier = entry['dc:identifier'] as string;
  const images = (entry['vmi:images'] as JsonObject[]).map((m) => ({
    role: m['vmi:role'] as string,
    identifier: m['dc:identifier'] as string,
  }));
  const absent = images.find((m) => !present.has(m.identifier));
  if (absent !== undefined) {
    warnings.push(`appliance ${identifier} dropped: member ${absent.identifier} is not an image of the list`);
    return undefined;
  }
  const supersedes = stringList(entry['vmi:supersedes']);
  if (supersedes.includes(identifier)) {
    warnings.push(`appliance ${identifier} dropped: vmi:supersedes names the appliance itself`);
    return undefined;
  }
  return {
    identifier,
    title: entry['dc:title'] as string,
    version: entry['hv:version'] as string,
    supersedes,
    images,
  };
}

/**
 * Parses an image list document with the tolerance rules of SPEC.md section 2: bad images
 * are dropped with a warning naming the key, a bad list is refused as LIST_MALFORMED.
 */
export function parseImageList(input: Uint8Array | Json): ImageList {
  const doc = input instanceof Uint8Array ? parseJsonDocument(input) : input;
  if (!(input instanceof Uint8Array)) checkDepth(doc);
  if (!isObject(doc) || !isObject(doc[LIST_WRAPPER])) {
    throw malformed(`document is not an object with the key ${LIST_WRAPPER}`);
  }
  const list = doc[LIST_WRAPPER];
  if (!validateList(list)) {
    throw malformed(`image list: ${describeSchemaError(validateList.errors)}`);
  }
  const warnings: string[] = [];
  const identifier = list['dc:identifier'] as string;
  if (!UUID.test(identifier)) warnings.push(`list identifier ${identifier} is not an RFC 4122 UUID`);
  const x509 = (list['hv:endorser'] as JsonObject)['hv:x509'] as JsonObject;

  const images: ImageEntry[] = [];
  const seen = new Set<string>();
  const keptImages: Json[] = [];
  (list['hv:images'] as Json[]).forEach((wrapper, index) => {
    const image = parseImage(wrapper, index, warnings);
    if (image === undefined) return;
    if (seen.has(image.identifier)) {
      throw malformed(`image identifier ${image.identifier} appears more than once`);
    }
    seen.add(image.identifier);
    images.push(image);
    keptImages.push(wrapper);
  });

  const appliances: Appliance[] = [];
  const keptAppliances: Json[] = [];
  const rawAppliances = list['vmi:appliances'];
  if (Array.isArray(rawAppliances)) {
    rawAppliances.forEach((wrapper, index) => {
      const appliance = parseAppliance(wrapper, index, seen, warnings);
      if (appliance === undefined) return;
      if (appliances.some((a) => a.identifier === appliance.identifier)) {
        throw malformed(`appliance identifier ${appliance.identifier} appears more than once`);
      }
      appliances.push(appliance);
      keptAppliances.push(wrapper);
    });
  }

  const keptList: JsonObject = { ...list, 'hv:images': keptImages };
  if (Array.isArray(rawAppliances)) keptList['vmi:appliances'] = keptAppliances;
  const vo = list['ad:vo'];
  return {
    identifier,
    title: list['dc:title'] as string,
    description: list['dc:description'] as string,
    source: list['dc:source'] as string,
    created: parseListDate(list['dc:date:created'] as string, 'dc:date:created'),
    expires: parseListDate(list['dc:date:expires'] as string, 'dc:date:expires'),
    version: list['hv:version'] as string,
    uri: list['hv:uri'] as string,
    vo: typeof vo === 'string' && vo !== '' ? vo : undefined,
    endorser: {
      dn: x509['hv:dn'] as string,
      ca: x509['hv:ca'] as string,
      email: x509['hv:email'] as string,
      creator: x509['dc:creator'] as string,
    },
    images,
    appliances,
    document: { ...doc, [LIST_WRAPPER]: keptList },
    warnings,
  };
}
