import type { Json } from './model.js';

/** Recursively sorts object keys so that the same content always gives the same bytes. */
function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const sorted: Record<string, Json> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key] as Json);
  return sorted;
}

/**
 * Deterministic JSON as vmicaster writes it (SPEC.md section 2): sorted keys, 4-space
 * indent, CRLF line ends (the canonical form the signature covers), final line end.
 */
export function serializeImageList(document: Json): Uint8Array {
  const text = JSON.stringify(sortKeys(document), null, 4).replace(/\n/g, '\r\n') + '\r\n';
  return new TextEncoder().encode(text);
}
