import { randomBytes } from 'node:crypto';
import { VmiError } from './errors.js';

/**
 * Byte-exact S/MIME multipart/signed splitting and writing (SPEC.md section 3). Works on
 * bytes only: decoding before splitting would change what the signature covers.
 */

export const DEFAULT_MAX_LIST_BYTES = 16 * 1024 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;
const MAX_SIGNATURE_BYTES = 1024 * 1024;
const SIGNATURE_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);

export interface Envelope {
  /** The exact bytes of the first part, which the signature covers. */
  signedBytes: Uint8Array;
  /** DER of the detached CMS SignedData. */
  signature: Uint8Array;
  /** The `micalg` parameter as written: informational only. */
  micalg: string | undefined;
}

interface Headers {
  fields: Map<string, string>;
  /** Offset of the first byte after the blank line that ends the header block. */
  end: number;
}

function malformed(message: string): VmiError {
  return new VmiError('LIST_MALFORMED', `S/MIME envelope: ${message}`);
}

const CR = 0x0d;
const LF = 0x0a;

/** Reads an RFC 5322 header block starting at `start` (LF or CRLF line ends, folding). */
function readHeaders(bytes: Uint8Array, start: number, limit = MAX_HEADER_BYTES): Headers {
  const fields = new Map<string, string>();
  let pos = start;
  let last: string | undefined;
  for (;;) {
    const nl = bytes.indexOf(LF, pos);
    if (nl < 0 || nl - start > limit) throw malformed('header block is not terminated');
    const lineEnd = nl > pos && bytes[nl - 1] === CR ? nl - 1 : nl;
    const line = Buffer.from(bytes.subarray(pos, lineEnd)).toString('latin1');
    pos = nl + 1;
    if (line === '') return { fields, end: pos };
    if (/[^\t\x20-\x7e]/.test(line)) throw malformed('header line with non-ASCII bytes');
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || !/^[A-Za-z0-9-]+$/.test(line.slice(0, colon))) {
      throw malformed(`not a header line: ${JSON.stringify(line.slice(0, 60))}`);
    }
    last = line.slice(0, colon).toLowerCase();
    if (fields.has(last)) throw malformed(`header ${last} appears twice`);
    fields.set(last, line.slice(colon + 1).trim());
  }
}

interface ContentType {
  type: string;
  params: Map<string, string>;
}

/** Parses `type/subtype; name=value; name="quoted"` into lower-case type and params. */
export function parseContentType(value: string): ContentType {
  const match = /^\s*([A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+)\s*/.exec(value);
  if (match === null) throw malformed(`bad Content-Type ${JSON.stringify(value)}`);
  const params = new Map<string, string>();
  const paramRe = /;\s*([A-Za-z0-9!#$&^_.+-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))\s*/y;
  paramRe.lastIndex = match[0].length;
  while (paramRe.lastIndex < value.length) {
    const p = paramRe.exec(value);
    if (p === null) {
      if (/^;?\s*$/.test(value.slice(paramRe.lastIndex))) break;
      throw malformed(`bad Content-Type parameters in ${JSON.stringify(value)}`);
    }
    const name = (p[1] ?? '').toLowerCase();
    const raw = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    if (params.has(name)) throw malformed(`Content-Type parameter ${name} appears twice`);
    params.set(name, raw);
  }
  return { type: (match[1] ?? '').toLowerCase(), params };
}

/** Finds delimiter lines `--boundary` that start a line; returns their offsets. */
function findDelimiters(bytes: Uint8Array, from: number, boundary: string): number[] {
  const marker = Buffer.from(`--${boundary}`, 'latin1');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found: number[] = [];
  let pos = from;
  for (;;) {
    const at = buf.indexOf(marker, pos);
    if (at < 0) return found;
    if (at === from || buf[at - 1] === LF) {
      found.push(at);
      if (found.length > 3) throw malformed('more than two body parts');
    }
    pos = at + marker.length;
  }
}

/** Offset just after the end of the line containing `at`. */
function afterLine(bytes: Uint8Array, at: number): number {
  const nl = bytes.indexOf(LF, at);
  if (nl < 0) throw malformed('unterminated delimiter line');
  return nl + 1;
}

/** Checks what follows `--boundary` on a delimiter line: only `--` (close) and padding. */
function delimiterKind(bytes: Uint8Array, at: number, boundary: string): 'open' | 'close' {
  const end = afterLine(bytes, at);
  const rest = Buffer.from(bytes.subarray(at + boundary.length + 2, end)).toString('latin1');
  if (/^[ \t]*\r?\n$/.test(rest)) return 'open';
  if (/^--[ \t]*\r?\n$/.test(rest)) return 'close';
  throw malformed('delimiter line has trailing characters');
}

function decodeBase64Strict(text: string): Uint8Array {
  const compact = text.replace(/[\r\n\t ]+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw malformed('signature part is not valid base64');
  }
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/** Splits a multipart/signed S/MIME message into the signed bytes and the CMS signature. */
export function splitEnvelope(bytes: Uint8Array, maxBytes = DEFAULT_MAX_LIST_BYTES): Envelope {
  if (bytes.byteLength > maxBytes) {
    throw new VmiError('LIST_TOO_LARGE', `signed list is larger than ${maxBytes} bytes`);
  }
  const outer = readHeaders(bytes, 0);
  const ct = outer.fields.get('content-type');
  if (ct === undefined) throw malformed('no Content-Type header');
  const contentType = parseContentType(ct);
  if (contentType.type !== 'multipart/signed') {
    throw malformed(`Content-Type is ${contentType.type}, not multipart/signed`);
  }
  const protocol = contentType.params.get('protocol')?.toLowerCase();
  if (protocol === undefined || !SIGNATURE_TYPES.has(protocol)) {
    throw malformed(`unsupported signature protocol ${JSON.stringify(protocol ?? null)}`);
  }
  const boundary = contentType.params.get('boundary');
  if (boundary === undefined || !/^[ -~]{1,70}$/.test(boundary) || boundary.endsWith(' ')) {
    throw malformed('missing or invalid boundary');
  }
  const delimiters = findDelimiters(bytes, outer.end, boundary);
  const [first, second, close] = delimiters;
  if (first === undefined || second === undefined || close === undefined) {
    throw malformed('expected exactly two body parts and a closing delimiter');
  }
  if (
    delimiterKind(bytes, first, boundary) !== 'open' ||
    delimiterKind(bytes, second, boundary) !== 'open' ||
    delimiterKind(bytes, close, boundary) !== 'close'
  ) {
    throw malformed('delimiters are not in the order open, open, close');
  }
  const signedStart = afterLine(bytes, first);
  // The line end before a delimiter belongs to the delimiter (RFC 2046 section 5.1.1).
  const signedEnd = bytes[second - 2] === CR ? second - 2 : second - 1;
  if (signedEnd < signedStart) throw malformed('empty signed part');
  const signedBytes = bytes.slice(signedStart, signedEnd);

  const sigHeaders = readHeaders(bytes, afterLine(bytes, second));
  const sigType = parseContentType(sigHeaders.fields.get('content-type') ?? 'text/plain').type;
  if (!SIGNATURE_TYPES.has(sigType)) throw malformed(`signature part has type ${sigType}`);
  const encoding = sigHeaders.fields.get('content-transfer-encoding')?.toLowerCase();
  if (encoding !== 'base64') throw malformed('signature part is not base64 encoded');
  const sigText = Buffer.from(bytes.subarray(sigHeaders.end, close)).toString('latin1');
  if (sigText.length > MAX_SIGNATURE_BYTES * 2) throw malformed('signature part is too large');
  const signature = decodeBase64Strict(sigText);
  if (signature.byteLength === 0) throw malformed('empty signature part');
  return { signedBytes, signature, micalg: contentType.params.get('micalg') };
}

/** `\r*\n -> \r\n`: the canonical form S/MIME signers hash (SPEC.md section 3). */
export function canonicalize(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1').replace(/\r*\n/g, '\r\n');
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

/**
 * Returns the payload of a verified signed part: the part itself, or, for a part signed
 * with `openssl smime -text`, what follows its MIME header block (which must be text/plain).
 */
export function extractPayload(signedBytes: Uint8Array): Uint8Array {
  const head = Buffer.from(signedBytes.subarray(0, 80)).toString('latin1');
  if (!/^[A-Za-z0-9-]+:/.test(head)) return signedBytes;
  const inner = readHeaders(signedBytes, 0);
  const type = parseContentType(inner.fields.get('content-type') ?? 'text/plain').type;
  if (type !== 'text/plain') throw malformed(`signed part has type ${type}, not text/plain`);
  return signedBytes.slice(inner.end);
}

const MICALG: Record<string, string> = { sha256: 'sha-256', sha384: 'sha-384', sha512: 'sha-512' };

/** Writes the envelope the way `openssl smime -sign` does (LF outer lines, CRLF signed part). */
export function composeEnvelope(
  signedBytes: Uint8Array,
  signature: Uint8Array,
  digest: 'sha256' | 'sha384' | 'sha512',
): Uint8Array {
  const boundary = `----${randomBytes(16).toString('hex').toUpperCase()}`;
  const b64 = Buffer.from(signature)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  const head =
    `MIME-Version: 1.0\n` +
    `Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; ` +
    `micalg="${MICALG[digest] ?? digest}"; boundary="${boundary}"\n\n` +
    `This is an S/MIME signed message\n\n--${boundary}\n`;
  const tail =
    `\r\n--${boundary}\n` +
    `Content-Type: application/x-pkcs7-signature; name="smime.p7s"\n` +
    `Content-Transfer-Encoding: base64\n` +
    `Content-Disposition: attachment; filename="smime.p7s"\n\n` +
    `${b64.endsWith('\n') ? b64 : `${b64}\n`}\n--${boundary}--\n\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), signedBytes, Buffer.from(tail, 'latin1')]);
}
