/**
 * A small parser of the Prometheus text exposition format (0.0.4), strict enough to catch
 * malformed output: every sample must belong to a family declared with # TYPE before it.
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SUFFIXES = ['_bucket', '_sum', '_count', '_created'];

// Prometheus reads values with Go's strconv.ParseFloat, which takes NaN and Inf in any case;
// prom-client writes "Nan" (event-loop lag gauges before their first sample), so must we.
function parseValue(text: string): number {
  const special = text.toLowerCase();
  if (special === '+inf' || special === 'inf') return Infinity;
  if (special === '-inf') return -Infinity;
  if (special === 'nan') return NaN;
  const n = Number(text);
  if (text === '' || Number.isNaN(n)) throw new Error(`bad sample value ${JSON.stringify(text)}`);
  return n;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    const name = text.slice(i, eq).trim();
    if (eq < 0 || !NAME.test(name) || text[eq + 1] !== '"') throw new Error(`bad labels {${text}}`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        const c = text[j];
        value += c === 'n' ? '\n' : (c ?? '');
      } else {
        value += text[j] ?? '';
      }
    }
    if (text[j] !== '"') throw new Error(`unterminated label value in {${text}}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return labels;
}

export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name = '', rest = ''] = meta;
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      if (kind === 'HELP') help.set(name, rest);
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
          throw new Error(`bad type ${rest}`);
        if (families.has(name)) throw new Error(`${name} declared twice`);
        families.set(name, {
          name,
          type: rest as PromFamily['type'],
          help: help.get(name) ?? '',
          samples: [],
        });
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (m === null) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const [, name = '', labels = '', value = ''] = m;
    const family =
      families.get(name) ??
      [...families.values()].find((f) => SUFFIXES.some((s) => name === `${f.name}${s}`));
    if (family === undefined) throw new Error(`sample ${name} has no # TYPE before it`);
    family.samples.push({ name, labels: parseLabels(labels), value: parseValue(value) });
  }
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

export function samplesOf(families: Map<string, PromFamily>, name: string): PromSample[] {
  return [...families.values()].flatMap((f) => f.samples.filter((s) => s.name === name));
}
