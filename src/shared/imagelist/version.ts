/**
 * vmcatcher's version order (SPEC.md section 2.1). Publishers and subscribers must agree
 * on it exactly, because a subscriber refuses any list whose version goes backwards.
 */

const TOKEN_SEPARATORS = /[-,./]/;
const NUMERIC = /^[0-9]+$/;
const RUNS = /[0-9]+|[^0-9]+/g;

function compareIntegers(a: string, b: string): number {
  // Compare as integers without Number(): AppDB timestamps and long tokens exceed 2^53.
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Mixed tokens: runs of digits compare as integers, other runs as strings, digits first. */
function compareMixed(a: string, b: string): number {
  const ra = a.match(RUNS) ?? [];
  const rb = b.match(RUNS) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i] ?? '';
    const y = rb[i] ?? '';
    const xn = NUMERIC.test(x);
    const yn = NUMERIC.test(y);
    const c = xn && yn ? compareIntegers(x, y) : xn !== yn ? (xn ? 1 : -1) : compareStrings(x, y);
    if (c !== 0) return c;
  }
  return Math.sign(ra.length - rb.length);
}

function compareTokens(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) return compareIntegers(a, b);
  if (an !== bn) return an ? 1 : -1;
  return compareMixed(a, b);
}

/** Returns -1, 0 or 1 as `a` is older than, the same as, or newer than `b`. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const ta = a.split(TOKEN_SEPARATORS);
  const tb = b.split(TOKEN_SEPARATORS);
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const c = compareTokens(ta[i] ?? '', tb[i] ?? '');
    if (c !== 0) return c < 0 ? -1 : 1;
  }
  return ta.length === tb.length ? 0 : ta.length < tb.length ? -1 : 1;
}

/**
 * The next version a publisher writes: the last numeric token incremented
 * (`0.0.9 -> 0.0.10`), or `.1` appended when there is none. Always newer.
 */
export function bumpVersion(version: string): string {
  const match = /^(.*?)([0-9]+)([^0-9]*)$/.exec(version);
  if (match !== null) {
    const [, head = '', digits = '', tail = ''] = match;
    const next = (BigInt(digits) + 1n).toString().padStart(digits.length, '0');
    const candidate = `${head}${next}${tail}`;
    if (compareVersions(candidate, version) > 0) return candidate;
  }
  return version === '' ? '1' : `${version}.1`;
}
