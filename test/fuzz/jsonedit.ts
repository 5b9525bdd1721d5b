/** Structural edits of JSON documents for the parser properties: delete, replace, retype, duplicate. */
import fc from 'fast-check';
import type { Json } from '../../src/shared/imagelist/model.js';

/** Every path to a value of the document, for picking an edit point. */
function pathsOf(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  }
  return out;
}

export type Edit = { pick: number; op: 'delete' | 'replace' | 'retype' | 'duplicate'; value: Json };

export function applyEdit(doc: Json, edit: Edit): Json {
  const paths = pathsOf(doc).filter((p) => p.length > 0);
  const path = paths[edit.pick % Math.max(paths.length, 1)];
  if (path === undefined) return edit.value;
  const parent = path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string, Json>)[k] as Json, doc) as
    Json[] | Record<string, Json>;
  const key = path[path.length - 1] as string | number;
  const current = (parent as Record<string, Json>)[key] as Json;
  const retyped: Json =
    typeof current === 'string'
      ? current === ''
        ? 0
        : current.length % 2 === 0
          ? current.toUpperCase()
          : current.length
      : typeof current === 'number'
        ? String(current)
        : current === null
          ? 'null'
          : [];
  if (Array.isArray(parent) && typeof key === 'number') {
    if (edit.op === 'delete') parent.splice(key, 1);
    else if (edit.op === 'duplicate') parent.splice(key, 0, structuredClone(current));
    else parent[key] = edit.op === 'replace' ? edit.value : retyped;
  } else if (!Array.isArray(parent)) {
    if (edit.op === 'delete') Reflect.deleteProperty(parent, key);
    else parent[key] = edit.op === 'replace' ? edit.value : edit.op === 'retype' ? retyped : current;
  }
  return doc;
}

export const edits = fc.array(
  fc.record({
    pick: fc.nat(),
    op: fc.constantFrom('delete' as const, 'replace' as const, 'retype' as const, 'duplicate' as const),
    value: fc.oneof(
      fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
      // Values at the edges of what the schema admits.
      fc.constantFrom<Json>(2 ** 53, 1e300, -1, 1.5, '9999999999999999', '', 'HTTP://x', '../x', [], {}),
    ),
  }),
  { minLength: 1, maxLength: 5 },
);
