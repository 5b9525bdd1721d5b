import type { Crl, CrlScope, Extension, RevokedEntry } from '../types.js';
import {
  algorithmOf,
  boolOf,
  children,
  copy,
  decodeName,
  fail,
  isContext,
  octetsOf,
  oidOf,
  parseDer,
  timeOf,
} from './der.js';
import { OID } from '../oids.js';

/**
 * CRL decoding. A CRL can list tens of thousands of certificates; building an asn1js
 * object per node made loading an IGTF directory take seconds, so the revoked entries are
 * read with a small DER reader here and only the short fields go through asn1js.
 */

interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  content: number;
  /** Offset just after the content. */
  end: number;
}

/** Reads one DER TLV at `pos` that must end by `limit` (definite lengths, low tag numbers). */
function readTlv(bytes: Uint8Array, pos: number, limit: number): Tlv {
  const tag = bytes[pos];
  if (tag === undefined || pos + 2 > limit) fail('truncated DER');
  if ((tag & 0x1f) === 0x1f) fail('high tag numbers are not used in CRLs');
  let length = bytes[pos + 1] ?? 0;
  let content = pos + 2;
  if (length === 0x80) fail('indefinite length in DER');
  if (length > 0x80) {
    const octets = length & 0x7f;
    if (octets > 4 || content + octets > limit) fail('bad DER length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (bytes[content + i] ?? 0);
    content += octets;
  }
  const end = content + length;
  if (end > limit) fail('DER length beyond its container');
  return { tag, start: pos, content, end };
}

function childrenOf(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.content; pos < parent.end;) {
    const tlv = readTlv(bytes, pos, parent.end);
    out.push(tlv);
    pos = tlv.end;
  }
  return out;
}

const whole = (bytes: Uint8Array, tlv: Tlv): Uint8Array => bytes.subarray(tlv.start, tlv.end);

function serialHex(bytes: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== 0x02 || tlv.end === tlv.content) fail('expected an integer serial number');
  return Buffer.from(bytes.subarray(tlv.content, tlv.end))
    .toString('hex')
    .replace(/^(00)+(?=..)/, '');
}

/** UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, as DER requires. */
function timeAt(bytes: Uint8Array, tlv: Tlv): Date {
  const text = Buffer.from(bytes.subarray(tlv.content, tlv.end)).toString('latin1');
  const m =
    tlv.tag === 0x17
      ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text)
      : tlv.tag === 0x18
        ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text)
        : null;
  if (m === null) fail(`bad revocation date ${JSON.stringify(text)}`);
  const n = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const year = tlv.tag === 0x17 ? (n[0] < 50 ? 2000 + n[0] : 1900 + n[0]) : n[0];
  const date = new Date(Date.UTC(year, n[1] - 1, n[2], n[3], n[4], n[5]));
  if (Number.isNaN(date.getTime()) || date.getUTCDate() !== n[2]) fail(`bad revocation date ${text}`);
  return date;
}

/** OIDs of the critical extensions of one entry (only those matter: unknown ones void it). */
function criticalEntryOids(bytes: Uint8Array, exts: Tlv, into: Set<string>): void {
  for (const ext of childrenOf(bytes, exts)) {
    const parts = childrenOf(bytes, ext);
    const flag = parts[1];
    if (flag?.tag === 0x01 && bytes[flag.content] !== 0x00 && parts[0] !== undefined) {
      into.add(oidOf(parseDer(whole(bytes, parts[0]))));
    }
  }
}

function revokedEntries(
  bytes: Uint8Array,
  list: Tlv,
): { revoked: Map<string, RevokedEntry>; critical: string[] } {
  const revoked = new Map<string, RevokedEntry>();
  const critical = new Set<string>();
  for (const entry of childrenOf(bytes, list)) {
    const [serial, date, exts] = childrenOf(bytes, entry);
    if (serial === undefined || date === undefined) fail('revoked entry without serial or date');
    const hex = serialHex(bytes, serial);
    revoked.set(hex, { serial: hex, date: timeAt(bytes, date) });
    if (exts !== undefined) criticalEntryOids(bytes, exts, critical);
  }
  return { revoked, critical: [...critical] };
}

function extensionsOf(bytes: Uint8Array, wrapper: Tlv | undefined): Extension[] {
  if (wrapper === undefined) return [];
  const seen = new Set<string>();
  return children(children(parseDer(whole(bytes, wrapper)))[0]).map((ext) => {
    const items = children(ext);
    const oid = oidOf(items[0]);
    if (seen.has(oid)) fail(`extension ${oid} appears twice`);
    seen.add(oid);
    const critical = items.length === 3 ? boolOf(items[1]) : false;
    return { oid, critical, value: octetsOf(items[items.length - 1]) };
  });
}

/** IssuingDistributionPoint (RFC 5280 section 5.2.5): the flags that limit a CRL's scope. */
function scopeOf(value: Uint8Array): CrlScope {
  const scope: CrlScope = {
    onlyUserCerts: false,
    onlyCaCerts: false,
    onlyAttributeCerts: false,
    onlySomeReasons: false,
    indirect: false,
  };
  for (const item of children(parseDer(value))) {
    const flag = () => (item.valueBlock as { valueHexView?: Uint8Array }).valueHexView?.[0] === 0xff;
    if (isContext(item, 1)) scope.onlyUserCerts = flag();
    else if (isContext(item, 2)) scope.onlyCaCerts = flag();
    else if (isContext(item, 3)) scope.onlySomeReasons = true;
    else if (isContext(item, 4)) scope.indirect = flag();
    else if (isContext(item, 5)) scope.onlyAttributeCerts = flag();
  }
  return scope;
}

/** Decodes a DER CertificateList (RFC 5280 section 5.1). */
export function crlFromDer(der: Uint8Array): Crl {
  const bytes = copy(der);
  const outer = readTlv(bytes, 0, bytes.length);
  if (outer.tag !== 0x30 || outer.end !== bytes.length) fail('a CRL is one DER SEQUENCE');
  const [tbs, sigAlg, sigValue, extra] = childrenOf(bytes, outer);
  if (tbs?.tag !== 0x30 || sigAlg === undefined || sigValue?.tag !== 0x03 || extra !== undefined) {
    fail('not a CertificateList');
  }
  const fields = childrenOf(bytes, tbs);
  let i = fields[0]?.tag === 0x02 ? 1 : 0; // version
  const innerAlg = fields[i++];
  const issuer = fields[i++];
  const thisUpdate = fields[i++];
  if (innerAlg === undefined || issuer === undefined || thisUpdate === undefined) fail('short TBSCertList');
  const isTime = (t: Tlv | undefined) => t?.tag === 0x17 || t?.tag === 0x18;
  const nextUpdate = isTime(fields[i]) ? fields[i++] : undefined;
  const list = fields[i]?.tag === 0x30 ? fields[i++] : undefined;
  const wrapper = fields[i]?.tag === 0xa0 ? fields[i++] : undefined;
  if (i !== fields.length) fail('unexpected field in TBSCertList');
  if (bytes[sigValue.content] !== 0) fail('signature bit string with unused bits');
  if (Buffer.compare(whole(bytes, innerAlg), whole(bytes, sigAlg)) !== 0) {
    fail('inner and outer signature algorithms differ');
  }
  const { revoked, critical } =
    list === undefined ? { revoked: new Map(), critical: [] } : revokedEntries(bytes, list);
  const extensions = extensionsOf(bytes, wrapper);
  const idp = extensions.find((e) => e.oid === OID.issuingDistributionPoint)?.value;
  return {
    der: bytes,
    tbs: bytes.slice(tbs.start, tbs.end),
    signatureAlgorithm: algorithmOf(parseDer(whole(bytes, sigAlg))),
    signature: bytes.slice(sigValue.content + 1, sigValue.end),
    issuer: decodeName(bytes.slice(issuer.start, issuer.end)),
    thisUpdate: timeOf(parseDer(whole(bytes, thisUpdate))),
    nextUpdate: nextUpdate === undefined ? undefined : timeOf(parseDer(whole(bytes, nextUpdate))),
    revoked,
    extensions,
    criticalEntryExtensions: critical,
    scope: idp === undefined ? undefined : scopeOf(idp),
  };
}
