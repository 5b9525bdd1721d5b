import type { JsonObject } from '../../shared/imagelist/model.js';

/**
 * vmcatcher-compatible event environments (SPEC.md section 7). Existing handlers (glancepush,
 * the OpenNebula handler, ITCHY) read exactly these variables, so names and the rule "set
 * only when non-empty" must not change.
 */

export const EVENT_TYPES = [
  'ProcessPrefix',
  'ExpirePrefix',
  'ExpirePostfix',
  'AvailablePrefix',
  'AvailablePostfix',
  'ProcessPostfix',
  'SubscriptionImageNew',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface CacheDirs {
  cache: string;
  partial: string;
  expired: string;
  /** Informational, like vmcatcher's `sqlite:///...` URL. */
  rdbms: string;
}

export interface EventImage {
  entry: JsonObject;
  /** File name inside the relevant directory: `<uuid>` or `<uuid>.<timestamp>`. */
  fileName: string | undefined;
  listIdentifier: string;
  vo: string | undefined;
}

/** Image keys and the variable each one fills. */
const IMAGE_VARIABLES: [string, string][] = [
  ['dc:identifier', 'DC_IDENTIFIER'],
  ['dc:title', 'DC_TITLE'],
  ['dc:description', 'DC_DESCRIPTION'],
  ['hv:hypervisor', 'HV_HYPERVISOR'],
  ['hv:size', 'HV_SIZE'],
  ['hv:uri', 'HV_URI'],
  ['hv:version', 'HV_VERSION'],
  ['hv:format', 'HV_FORMAT'],
  ['sl:arch', 'SL_ARCH'],
  ['sl:checksum:sha512', 'SL_CHECKSUM_SHA512'],
  ['sl:comments', 'SL_COMMENTS'],
  ['sl:os', 'SL_OS'],
  ['sl:osversion', 'SL_OSVERSION'],
  ['ad:mpuri', 'AD_MPURI'],
];

/** Longest value handed to a hook, in UTF-8 bytes (Linux refuses one entry over 128 KiB). */
export const MAX_HOOK_VALUE_BYTES = 16 * 1024;

// \p{Cc} is NUL and the other C0 controls, DEL and the C1 controls; all but TAB go. A NUL
// makes the spawn fail on every retry; line breaks and escape sequences would end up in the
// shell variables and `key=value` lines of handlers (glancepush's metadata files) and logs.
const CONTROL = /(?!\t)\p{Cc}/gu;

/**
 * The one rule for every value that reaches a hook's environment: each control character
 * becomes one space (so words stay apart), then the value is cut to MAX_HOOK_VALUE_BYTES
 * at a character boundary. The database keeps the list's value unchanged.
 */
export function hookValue(value: string): string {
  const clean = value.replace(CONTROL, ' ');
  const bytes = Buffer.from(clean, 'utf8');
  if (bytes.length <= MAX_HOOK_VALUE_BYTES) return clean;
  let end = MAX_HOOK_VALUE_BYTES;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--; // not inside a character
  return bytes.subarray(0, end).toString('utf8');
}

/** `hookValue` applied to every value of an environment. */
export function hookEnvironment(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, hookValue(value)]));
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

export function eventEnvironment(
  type: EventType,
  session: string,
  dirs: CacheDirs,
  image?: EventImage,
): Record<string, string> {
  const env: Record<string, string> = {
    VMCATCHER_EVENT_TYPE: type,
    VMCATCHER_EVENT_UUID_SESSION: session,
    VMCATCHER_CACHE_DIR_CACHE: dirs.cache,
    VMCATCHER_CACHE_DIR_DOWNLOAD: dirs.partial,
    VMCATCHER_CACHE_DIR_EXPIRE: dirs.expired,
    VMCATCHER_RDBMS: dirs.rdbms,
  };
  if (image === undefined) return hookEnvironment(env);
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== '') env[`VMCATCHER_EVENT_${name}`] = value;
  };
  for (const [key, name] of IMAGE_VARIABLES) set(name, text(image.entry[key]));
  set('FILENAME', image.fileName);
  set('IL_DC_IDENTIFIER', image.listIdentifier);
  set('VO', image.vo);
  const supersedes = image.entry['vmi:supersedes'];
  if (Array.isArray(supersedes))
    set('VMI_SUPERSEDES', supersedes.filter((s) => typeof s === 'string').join(' '));
  set('VMI_APPLIANCE', text(image.entry['vmi:appliance']));
  // What the outbox stores is exactly what the handler receives.
  return hookEnvironment(env);
}

/** `<uuid>.<YYYY-mm-dd_HH-MM-SS>`: vmcatcher's name for a file in the expired directory. */
export function expiredFileName(identifier: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d{3}Z$/, '')
    .replace('T', '_')
    .replace(/:/g, '-');
  return `${identifier}.${stamp}`;
}
