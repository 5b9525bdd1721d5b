import { VmiError } from '../errors.js';

/**
 * A small, bounded XML tokenizer for OVF descriptors. No XML library is available, and a
 * full one is not wanted: an OVF needs elements, attributes and text, nothing else. It is a
 * single forward loop (no recursion), refuses DOCTYPE and entity declarations (entity
 * expansion and external entities are the classic XML attacks), knows only the five
 * predefined entities and character references, and limits depth and token count.
 */

export type XmlEvent =
  | { kind: 'open'; name: string; attributes: ReadonlyMap<string, string>; selfClosing: boolean }
  | { kind: 'close'; name: string }
  | { kind: 'text'; text: string };

const MAX_DEPTH = 64;
const MAX_EVENTS = 200_000;
const NAME = /^[A-Za-z_][A-Za-z0-9._:-]*/;

/** The part of a qualified name after the prefix: OVF tools disagree on prefixes. */
export function localName(name: string): string {
  const colon = name.lastIndexOf(':');
  return colon === -1 ? name : name.slice(colon + 1);
}

function malformed(what: string, offset: number): VmiError {
  return new VmiError(
    'FORMAT_UNSUPPORTED',
    `OVF descriptor is not well-formed XML: ${what} at offset ${offset}`,
  );
}

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(raw: string, offset: number): string {
  return raw.replace(/&([^;&\s]{0,32});?/g, (match, name: string) => {
    if (!match.endsWith(';')) throw malformed('a bare "&"', offset);
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    const code = /^#x[0-9A-Fa-f]{1,6}$/.test(name)
      ? parseInt(name.slice(2), 16)
      : /^#[0-9]{1,7}$/.test(name)
        ? parseInt(name.slice(1), 10)
        : undefined;
    if (code === undefined || code > 0x10ffff) throw malformed(`unknown entity "&${name};"`, offset);
    return String.fromCodePoint(code);
  });
}

/** Reads one start tag beginning at `start` (just after '<'); returns the event and the end. */
function readStartTag(xml: string, start: number): { event: XmlEvent; end: number } {
  const name = NAME.exec(xml.slice(start, start + 256))?.[0];
  if (name === undefined) throw malformed('an invalid element name', start);
  const attributes = new Map<string, string>();
  let i = start + name.length;
  for (;;) {
    while (/\s/.test(xml[i] ?? '')) i++;
    if (xml.startsWith('/>', i))
      return { event: { kind: 'open', name, attributes, selfClosing: true }, end: i + 2 };
    if (xml[i] === '>') return { event: { kind: 'open', name, attributes, selfClosing: false }, end: i + 1 };
    const attribute = NAME.exec(xml.slice(i, i + 256))?.[0];
    if (attribute === undefined) throw malformed('an invalid attribute', i);
    i += attribute.length;
    while (/\s/.test(xml[i] ?? '')) i++;
    if (xml[i] !== '=') throw malformed(`attribute ${attribute} without a value`, i);
    i++;
    while (/\s/.test(xml[i] ?? '')) i++;
    const quote = xml[i];
    if (quote !== '"' && quote !== "'") throw malformed(`attribute ${attribute} value not quoted`, i);
    const close = xml.indexOf(quote, i + 1);
    if (close === -1) throw malformed('an unterminated attribute value', i);
    const raw = xml.slice(i + 1, close);
    if (raw.includes('<')) throw malformed('"<" in an attribute value', i);
    if (attributes.has(attribute)) throw malformed(`attribute ${attribute} given twice`, i);
    attributes.set(attribute, decodeEntities(raw, i));
    i = close + 1;
  }
}

/** Skips a construct that starts at `i` and ends with `terminator`; returns the index after it. */
function skipPast(xml: string, i: number, terminator: string, what: string): number {
  const end = xml.indexOf(terminator, i);
  if (end === -1) throw malformed(`an unterminated ${what}`, i);
  return end + terminator.length;
}

/**
 * Tokenizes a whole document and checks that it is well formed (one root, tags balanced).
 * DOCTYPE or ENTITY anywhere is `ARCHIVE_UNSAFE`; other defects are `FORMAT_UNSUPPORTED`.
 */
export function tokenizeXml(xml: string): XmlEvent[] {
  if (/<!(DOCTYPE|ENTITY)/i.test(xml)) {
    throw new VmiError(
      'ARCHIVE_UNSAFE',
      'OVF descriptor declares a DOCTYPE or ENTITY; refused (entity expansion)',
    );
  }
  if (!/^\uFEFF?\s*</.test(xml.slice(0, 1024)) && xml.trim() !== '') {
    throw new VmiError('FORMAT_UNSUPPORTED', 'OVF descriptor is not XML: it does not start with "<"');
  }
  const events: XmlEvent[] = [];
  const open: string[] = [];
  let roots = 0;
  let i = xml.startsWith('\uFEFF') ? 1 : 0;
  while (i < xml.length) {
    if (events.length > MAX_EVENTS) throw malformed('too many elements', i);
    const lt = xml.indexOf('<', i);
    const textEnd = lt === -1 ? xml.length : lt;
    if (textEnd > i) {
      const text = xml.slice(i, textEnd);
      if (open.length === 0 && text.trim() !== '') throw malformed('text outside the root element', i);
      if (open.length > 0) events.push({ kind: 'text', text: decodeEntities(text, i) });
      i = textEnd;
      continue;
    }
    if (xml.startsWith('<!--', i)) {
      i = skipPast(xml, i + 4, '-->', 'comment');
    } else if (xml.startsWith('<![CDATA[', i)) {
      if (open.length === 0) throw malformed('CDATA outside the root element', i);
      const end = skipPast(xml, i + 9, ']]>', 'CDATA section');
      events.push({ kind: 'text', text: xml.slice(i + 9, end - 3) });
      i = end;
    } else if (xml.startsWith('<?', i)) {
      i = skipPast(xml, i + 2, '?>', 'processing instruction');
    } else if (xml.startsWith('</', i)) {
      const end = skipPast(xml, i + 2, '>', 'end tag');
      const name = xml.slice(i + 2, end - 1).trim();
      if (open.pop() !== name) throw malformed(`unexpected </${name}>`, i);
      events.push({ kind: 'close', name });
      i = end;
    } else if (xml.startsWith('<!', i)) {
      throw malformed('an unsupported declaration', i);
    } else {
      const { event, end } = readStartTag(xml, i + 1);
      if (event.kind !== 'open') throw malformed('a broken start tag', i);
      if (open.length === 0 && ++roots > 1) throw malformed('a second root element', i);
      events.push(event);
      if (!event.selfClosing) {
        if (open.length >= MAX_DEPTH) throw malformed(`nesting deeper than ${MAX_DEPTH}`, i);
        open.push(event.name);
      } else {
        events.push({ kind: 'close', name: event.name });
      }
      i = end;
    }
  }
  if (open.length > 0) throw malformed(`<${open.at(-1) ?? ''}> never closed`, xml.length);
  if (roots === 0) throw malformed('no root element', 0);
  return events;
}
