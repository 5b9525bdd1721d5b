import type { Name } from './types.js';

/**
 * Distinguished names in OpenSSL's "oneline" form (`X509_NAME_oneline`, what
 * `openssl x509 -subject -nameopt compat` prints). The image list format compares DNs in
 * this form, so it must match OpenSSL byte for byte, escaping included.
 */

/** OpenSSL short names (OBJ_nid2sn) of name attributes; unknown OIDs print dotted. */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.14': 'searchGuide',
  '2.5.4.15': 'businessCategory',
  '2.5.4.16': 'postalAddress',
  '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox',
  '2.5.4.19': 'physicalDeliveryOfficeName',
  '2.5.4.20': 'telephoneNumber',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.3': 'mail',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '1.2.840.113549.1.9.8': 'unstructuredAddress',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

const GENERAL_STRING = 27;

/** Which of every four bytes OpenSSL prints: it strips UCS-4 padding from GeneralStrings only. */
function printedBytes(tag: number, value: Uint8Array): Uint8Array {
  if (tag !== GENERAL_STRING || value.length % 4 !== 0) return value;
  const nonZero = [false, false, false, false];
  value.forEach((b, i) => {
    if (b !== 0) nonZero[i & 3] = true;
  });
  if (nonZero[0] === true || nonZero[1] === true || nonZero[2] === true) return value;
  return value.filter((_, i) => (i & 3) === 3);
}

function escapeValue(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b < 0x20 || b > 0x7e) out += `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (b === 0x2f || b === 0x2b) out += `\\${String.fromCharCode(b)}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

export function attributeName(oid: string): string {
  return SHORT_NAMES[oid] ?? oid;
}

/** `/DC=org/DC=example/CN=host` — each RDN after `/`, multi-valued members joined by `+`. */
export function formatOneline(name: Name): string {
  return name.rdns
    .map(
      (rdn) =>
        '/' +
        rdn.map((a) => `${attributeName(a.oid)}=${escapeValue(printedBytes(a.tag, a.value))}`).join('+'),
    )
    .join('');
}

/*
 * Name comparison: the one rule for every place a DN is compared (path building, CRL
 * lookup, namespaces and signing policies, endorser pinning, VOMS .lsc files, push API
 * clients). RFC 5280 section 7.1 with RFC 4518-like preparation: each value is read as
 * UTF-8, NFKC-normalised, case-folded, trimmed and its inner whitespace collapsed; the
 * RDN order counts, the order inside a multi-valued RDN does not. A DN given as text in
 * oneline form may write non-ASCII characters as UTF-8 (`CN=José`) or as OpenSSL's
 * escaped bytes (`CN=Jos\xC3\xA9`): both read as the same name.
 */

const OID_OF_NAME = new Map<string, string>([
  ...Object.entries(SHORT_NAMES).map(([oid, sn]): [string, string] => [sn.toLowerCase(), oid]),
  ['e', '1.2.840.113549.1.9.1'],
  ['email', '1.2.840.113549.1.9.1'],
  ['userid', '0.9.2342.19200300.100.1.1'],
]);

/** An attribute type and `=` as written in oneline text: a short name or a dotted OID. */
const TYPE = /(?:[A-Za-z][A-Za-z0-9-]*|(?:OID\.)?\d+(?:\.\d+)+)=/iy;

/** The attribute type (with its `=`) at `at`, if one starts there. */
function typeAt(dn: string, at: number): string | undefined {
  TYPE.lastIndex = at;
  return TYPE.exec(dn)?.[0];
}

interface TextAttribute {
  oid: string;
  bytes: Uint8Array;
}

function oidOf(type: string): string {
  const plain = type.replace(/^oid\./i, '');
  if (/^\d+(\.\d+)+$/.test(plain)) return plain;
  return OID_OF_NAME.get(plain.toLowerCase()) ?? `?${plain.toLowerCase()}`;
}

function utf8(text: string): number[] {
  return [...Buffer.from(text, 'utf8')];
}

/**
 * Reads a oneline DN. A `/` or `+` starts a new RDN or member only when an attribute type
 * and `=` follow, so unescaped slashes in values (`CN=host/name`) stay in the value.
 * Returns undefined for text that is not a oneline DN.
 */
function parseText(dn: string): TextAttribute[][] | undefined {
  if (dn === '') return [];
  if (!dn.startsWith('/')) return undefined;
  const rdns: TextAttribute[][] = [];
  let i = 1;
  let startsRdn = true;
  while (i <= dn.length) {
    const type = typeAt(dn, i);
    if (type === undefined) return undefined;
    i += type.length;
    const bytes: number[] = [];
    let separator = '';
    while (i < dn.length) {
      const c = dn[i] as string;
      if ((c === '/' || c === '+') && typeAt(dn, i + 1) !== undefined) {
        separator = c;
        break;
      }
      if (c === '\\' && /^x[0-9a-f]{2}/i.test(dn.slice(i + 1, i + 4))) {
        bytes.push(parseInt(dn.slice(i + 2, i + 4), 16));
        i += 4;
      } else if (c === '\\' && i + 1 < dn.length) {
        const next = String.fromCodePoint(dn.codePointAt(i + 1) ?? 0);
        bytes.push(...utf8(next));
        i += 1 + next.length;
      } else {
        const char = String.fromCodePoint(dn.codePointAt(i) ?? 0);
        bytes.push(...utf8(char));
        i += char.length;
      }
    }
    const attribute = { oid: oidOf(type.slice(0, -1)), bytes: new Uint8Array(bytes) };
    if (startsRdn) rdns.push([attribute]);
    else rdns[rdns.length - 1]?.push(attribute);
    startsRdn = separator !== '+';
    i += 1;
  }
  return rdns;
}

const DECODER = new TextDecoder('utf-8', { fatal: true });

/** The prepared form of one value; bytes that are not UTF-8 compare exactly. */
function preparedValue(bytes: Uint8Array): string {
  let text: string;
  try {
    text = DECODER.decode(bytes);
  } catch {
    return `#${Buffer.from(bytes).toString('hex')}`;
  }
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

function keyOf(rdns: TextAttribute[][]): string {
  return JSON.stringify(rdns.map((rdn) => rdn.map((a) => `${a.oid}=${preparedValue(a.bytes)}`).sort()));
}

/**
 * The comparison key of a certificate name, from its decoded attributes (no text in
 * between, so OpenSSL's ambiguous escapes play no part between two certificates).
 */
export function nameKey(name: Name): string {
  return keyOf(name.rdns.map((rdn) => rdn.map((a) => ({ oid: a.oid, bytes: printedBytes(a.tag, a.value) }))));
}

/**
 * The comparison key of a DN written as oneline text (or of a certificate name as
 * OpenSSL prints it). Text that is not a oneline DN only equals itself.
 */
export function dnKey(dn: string | Name): string {
  const text = typeof dn === 'string' ? dn : formatOneline(dn);
  const rdns = parseText(text);
  return rdns === undefined ? `raw:${text}` : keyOf(rdns);
}

export function sameName(a: Name, b: Name): boolean {
  return nameKey(a) === nameKey(b);
}

/**
 * The one DN comparison. Two certificate names compare by their attributes; when either
 * side is text (a list's hv:dn, a pinned endorser, a policy file, a registered client),
 * both compare as oneline text read the same way.
 */
export function sameDn(a: string | Name, b: string | Name): boolean {
  if (typeof a !== 'string' && typeof b !== 'string') return sameName(a, b);
  return dnKey(a) === dnKey(b);
}

/** A map keyed by DN under the one comparison: any spelling of a name finds its entry. */
export class DnMap<V> extends Map<string, V> {
  override get(dn: string | Name): V | undefined {
    return super.get(dnKey(dn));
  }

  override has(dn: string | Name): boolean {
    return super.has(dnKey(dn));
  }

  override set(dn: string | Name, value: V): this {
    return super.set(dnKey(dn), value);
  }

  override delete(dn: string | Name): boolean {
    return super.delete(dnKey(dn));
  }
}
