import * as asn1js from 'asn1js';
import { VmiError, type ErrorCode } from '../../errors.js';
import type { AlgorithmId, Name, NameAttribute } from '../types.js';

/**
 * Helpers over asn1js. Together with the other files of this directory this is the only
 * place that touches the ASN.1/CMS/X.509 libraries; everything leaves it as plain data.
 */

export class DerError extends Error {
  override readonly name = 'DerError';
}

export function fail(message: string): never {
  throw new DerError(message);
}

/** Runs a decoder and turns any failure inside it into one coded error. */
export function decodeWith<T>(code: ErrorCode, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof VmiError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new VmiError(code, `${what} cannot be decoded: ${reason}`, { cause: err });
  }
}

export function copy(view: Uint8Array | ArrayBuffer): Uint8Array {
  return new Uint8Array(view instanceof ArrayBuffer ? view.slice(0) : view.slice());
}

const MAX_BER_DEPTH = 64;
/** BOOLEAN, INTEGER, NULL, OBJECT IDENTIFIER, REAL, ENUMERATED, RELATIVE-OID. */
const PRIMITIVE_ONLY = new Set([0x01, 0x02, 0x05, 0x06, 0x09, 0x0a, 0x0d]);

/** Reads one BER element at `pos` that must end by `end`; returns the offset after it. */
function berElement(bytes: Uint8Array, pos: number, end: number, depth: number): number {
  if (depth > MAX_BER_DEPTH) fail(`nested deeper than ${MAX_BER_DEPTH} levels`);
  const identifier = bytes[pos++] ?? 0;
  if ((identifier & 0x1f) === 0x1f) {
    while (pos < end && ((bytes[pos] ?? 0) & 0x80) !== 0) pos++;
    pos++;
  }
  if (pos >= end) fail('truncated tag or length');
  const constructed = (identifier & 0x20) !== 0;
  // X.690: SEQUENCE and SET are always constructed, and these types never are (asn1js
  // decodes a "primitive SEQUENCE" as a SEQUENCE all the same).
  if (identifier === 0x10 || identifier === 0x11) fail('primitive SEQUENCE or SET');
  if (constructed && PRIMITIVE_ONLY.has(identifier & 0xdf)) fail('constructed encoding of a primitive type');
  const first = bytes[pos++] ?? 0;
  if (first === 0x80) {
    if (!constructed) fail('indefinite length on a primitive value');
    for (;;) {
      if (pos + 2 > end) fail('indefinite length without end-of-contents');
      if (bytes[pos] === 0 && bytes[pos + 1] === 0) return pos + 2;
      pos = berElement(bytes, pos, end, depth + 1);
    }
  }
  let length = first;
  if (first > 0x80) {
    const octets = first & 0x7f;
    if (octets > 4 || pos + octets > end) fail('bad length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (bytes[pos++] ?? 0);
  }
  if (length > end - pos) fail('a value runs past the end of its container');
  if (constructed) {
    for (let child = pos; child < pos + length;) child = berElement(bytes, child, pos + length, depth + 1);
  }
  return pos + length;
}

/**
 * Checks that `bytes` is exactly one well-formed BER element: every length fits its
 * container and a constructed value's content is exactly its children. asn1js lets a child
 * run past its parent's length (found by the fuzz suite of issue 8: a changed length byte
 * still decoded); a verifier must not read a structure that OpenSSL refuses.
 */
export function checkBer(bytes: Uint8Array): void {
  if (bytes.byteLength === 0) fail('empty encoding');
  if (berElement(bytes, 0, bytes.byteLength, 0) !== bytes.byteLength) {
    fail('trailing bytes after the encoded value');
  }
}

/**
 * Parses exactly one DER/BER element covering all of `bytes`, within asn1js's default
 * limits (10,000 nodes): enough for any signature or certificate, and a cap on the work a
 * hostile input can cause. CRLs, which can be far larger, are read by crlder.ts.
 */
export function parseDer(bytes: Uint8Array): asn1js.AsnType {
  const view = bytes.slice();
  checkBer(view);
  const parsed = asn1js.fromBER(view);
  if (parsed.offset === -1 || parsed.result.error !== '') {
    fail(parsed.result.error === '' ? 'invalid encoding' : parsed.result.error);
  }
  if (parsed.offset !== view.byteLength) fail('trailing bytes after the encoded value');
  return parsed.result;
}

export function encoded(block: asn1js.AsnType): Uint8Array {
  return copy(block.valueBeforeDecodeView);
}

export function children(block: asn1js.AsnType | undefined): asn1js.AsnType[] {
  if (!(block instanceof asn1js.Constructed)) fail('expected a constructed value');
  return block.valueBlock.value;
}

export function isContext(block: asn1js.AsnType | undefined, tag: number): boolean {
  return block !== undefined && block.idBlock.tagClass === 3 && block.idBlock.tagNumber === tag;
}

/**
 * An INTEGER by its tag: asn1js's Enumerated is a subclass of Integer, so `instanceof`
 * alone would let an ENUMERATED stand where DER requires an INTEGER.
 */
export function isInteger(block: asn1js.AsnType | undefined): block is asn1js.Integer {
  return block instanceof asn1js.Integer && block.idBlock.tagClass === 1 && block.idBlock.tagNumber === 2;
}

export function oidOf(block: asn1js.AsnType | undefined): string {
  if (!(block instanceof asn1js.ObjectIdentifier)) fail('expected an object identifier');
  return block.valueBlock.toString();
}

export function intOf(block: asn1js.AsnType | undefined): number {
  if (!isInteger(block)) fail('expected an integer');
  const value = block.valueBlock.valueDec;
  if (!Number.isSafeInteger(value) || value < 0) fail('integer out of range');
  return value;
}

export function boolOf(block: asn1js.AsnType | undefined): boolean {
  if (!(block instanceof asn1js.Boolean)) fail('expected a boolean');
  return block.valueBlock.value;
}

export function octetsOf(block: asn1js.AsnType | undefined): Uint8Array {
  if (block instanceof asn1js.OctetString) {
    if (block.valueBlock.isConstructed) fail('constructed octet string');
    return copy(block.valueBlock.valueHexView);
  }
  if (block instanceof asn1js.Primitive || block instanceof asn1js.BaseBlock) {
    // Implicitly tagged primitive, e.g. [0] KeyIdentifier.
    const hex = (block.valueBlock as { valueHexView?: Uint8Array }).valueHexView;
    if (hex !== undefined && !(block instanceof asn1js.Constructed)) return copy(hex);
  }
  return fail('expected an octet string');
}

export function bitsOf(block: asn1js.AsnType | undefined): { bytes: Uint8Array; unused: number } {
  if (!(block instanceof asn1js.BitString) || block.valueBlock.isConstructed) {
    fail('expected a bit string');
  }
  return { bytes: copy(block.valueBlock.valueHexView), unused: block.valueBlock.unusedBits };
}

/** Serial numbers and other integers as lowercase hex without leading zero octets. */
export function integerHex(block: asn1js.AsnType | undefined): string {
  if (!isInteger(block)) fail('expected an integer');
  const hex = Buffer.from(block.valueBlock.valueHexView).toString('hex');
  return hex.replace(/^(00)+(?=..)/, '');
}

export function timeOf(block: asn1js.AsnType | undefined): Date {
  if (block instanceof asn1js.UTCTime || block instanceof asn1js.GeneralizedTime) {
    const date = block.toDate();
    if (Number.isNaN(date.getTime())) fail('invalid time');
    return date;
  }
  return fail('expected a time');
}

/** The children of a SEQUENCE, `what` naming it in the failure. */
export function sequence(block: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  if (!(block instanceof asn1js.Sequence)) fail(`${what} is not a SEQUENCE`);
  return block.valueBlock.value;
}

export function algorithmOf(block: asn1js.AsnType | undefined): AlgorithmId {
  const [oid, params, ...more] = sequence(block, 'an algorithm identifier');
  if (more.length > 0) fail('an algorithm identifier with more than two fields');
  return { oid: oidOf(oid), params: params === undefined ? undefined : encoded(params) };
}

/** The content of an OCTET STRING (universal tag 4, primitive as DER requires). */
export function octetStringOf(block: asn1js.AsnType | undefined): Uint8Array {
  if (!(block instanceof asn1js.OctetString)) fail('expected an octet string');
  return octetsOf(block);
}

/** Decodes a Name keeping multi-valued RDNs and the raw value bytes (for DN formatting). */
export function nameOf(block: asn1js.AsnType | undefined): Name {
  if (!(block instanceof asn1js.Sequence)) fail('expected a name');
  const rdns: NameAttribute[][] = children(block).map((rdn) => {
    if (!(rdn instanceof asn1js.Set)) fail('expected a relative distinguished name');
    const attributes = children(rdn).map((atv) => {
      const [type, value, ...more] = sequence(atv, 'a name attribute');
      if (
        more.length > 0 ||
        value === undefined ||
        value.idBlock.tagClass !== 1 ||
        value.idBlock.isConstructed
      ) {
        fail('unsupported name attribute value');
      }
      const raw = (value.valueBlock as { valueHexView?: Uint8Array }).valueHexView;
      const bytes = raw ?? new TextEncoder().encode((value as asn1js.BaseStringBlock).getValue());
      return { oid: oidOf(type), tag: value.idBlock.tagNumber, value: copy(bytes) };
    });
    if (attributes.length === 0) fail('empty relative distinguished name');
    return attributes;
  });
  return { der: encoded(block), rdns };
}

export function decodeName(der: Uint8Array): Name {
  return nameOf(parseDer(der));
}

/** Decodes the DER of an OCTET STRING value (a CMS messageDigest attribute). */
export function decodeOctetString(der: Uint8Array): Uint8Array {
  return octetsOf(parseDer(der));
}

/** Decodes the DER of an OBJECT IDENTIFIER value (a CMS contentType attribute). */
export function decodeOid(der: Uint8Array): string {
  return oidOf(parseDer(der));
}
