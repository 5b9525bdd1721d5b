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
/** UTF8String, PrintableString, T61String, IA5String: compared case-folded. */
const FOLDED_TAGS = new Set([12, 19, 20, 22]);

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

/**
 * A key for comparing names as certificate path building does (RFC 5280 section 7.1,
 * simplified the way OpenSSL canonicalises): case-folded, inner whitespace collapsed.
 */
export function nameKey(name: Name): string {
  return name.rdns
    .map((rdn) =>
      rdn
        .map((a) => {
          const folded = FOLDED_TAGS.has(a.tag)
            ? Buffer.from(a.value).toString('utf8').trim().replace(/\s+/g, ' ').toLowerCase()
            : Buffer.from(a.value).toString('hex');
          return `${a.oid}=${JSON.stringify(folded)}`;
        })
        .sort()
        .join('+'),
    )
    .join('/');
}

export function sameName(a: Name, b: Name): boolean {
  return nameKey(a) === nameKey(b);
}
