/**
 * Collects the result files of one run into bench/results/latest.json (quick:
 * bench/results/quick/latest.json), writes the whole Markdown table (TABLE.md next to it)
 * and the short one of headline rows for README (README-table.md; bench/update-readme.mjs
 * pastes it into README.md) and prints the whole table. Called by bench/run.sh with the exit status and duration of each benchmark:
 *
 *   node --import tsx bench/summary.ts [--quick] [--status FILE]
 */
import { readFile, writeFile } from 'node:fs/promises';
import {
  formatTable,
  machine,
  QUICK,
  resultsDir,
  ROW_HEADER,
  rowCells,
  verdict,
  type BenchResult,
  type Row,
} from './lib/results.js';
import { isHeadline } from './lib/headlines.js';
import { round } from './lib/stats.js';

export const ORDER = [
  'ingest',
  'parallel',
  'resume',
  'verify',
  'caster',
  'scaling',
  'glance',
  'startup',
] as const;

const TITLES: Record<string, string> = {
  ingest: '1. Ingest throughput',
  parallel: '2. Parallel ingest',
  resume: '3. Resume',
  verify: '4. Verification',
  caster: '5. Publisher metadata',
  scaling: '6. Scaling',
  glance: '7. First sync into Glance',
  startup: '8. Start-up',
};

interface RunStatus {
  benchmark: string;
  exit: number;
  seconds: number;
}

/** The result file of bench/verify.ts (issue 3), which keeps its own format. */
interface VerifyFile {
  date: string;
  quick: boolean;
  runs: number;
  setup: string;
  results: {
    signer: string;
    images: number;
    listBytes: number;
    inProcessMs: number;
    withStoreLoadMs: number;
    opensslMs: number | null;
  }[];
}

function verifyRows(v: VerifyFile): Row[] {
  return v.results.map((r) => ({
    case: `${r.signer}, ${r.images.toLocaleString('en')} images`,
    metric: 'verify in-process (trust store loaded once; with loading) vs openssl cms -verify',
    vmicast: `${r.inProcessMs} ms (${r.withStoreLoadMs} ms)`,
    baseline: r.opensslMs === null ? 'openssl refused' : `${r.opensslMs} ms`,
    ratio: r.opensslMs === null ? null : round(r.opensslMs / r.inProcessMs),
    goal: null,
    met: null,
  }));
}

async function readJson<T>(url: URL): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(url, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function readStatus(): Promise<RunStatus[]> {
  const i = process.argv.indexOf('--status');
  const path = i >= 0 ? process.argv[i + 1] : undefined;
  if (path === undefined) return [];
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [benchmark = '', exit = '0', seconds = '0'] = l.trim().split(/\s+/);
      return { benchmark, exit: Number(exit), seconds: Number(seconds) };
    });
}

function outcome(s: RunStatus | undefined, r: BenchResult | undefined): string {
  if (s !== undefined && (s.exit === 124 || s.exit === 137)) return 'timed out';
  if (s !== undefined && s.exit !== 0) return `failed (exit ${s.exit})`;
  if (r === undefined) return 'no result';
  return r.status;
}

function markdown(
  rows: (Row & { benchmark: string })[],
  notes: string[],
  m: ReturnType<typeof machine>,
  date: string,
  whole: boolean,
): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const which = whole
    ? 'Raw samples'
    : `Headline rows; all ${rows.length} rows: [bench/results/TABLE.md](bench/results/TABLE.md), raw samples`;
  const shown = whole ? rows : rows.filter(isHeadline);
  const lines = [
    `Measured ${date.slice(0, 10)} by \`bench/run.sh${QUICK ? ' --quick' : ''}\` on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; each figure is the median of paired runs (A B, B A, ...) on a shared machine. Ratio: vmicast relative to the comparison, higher is better (for resume: bytes sent / image size). Details: bench/README.md. ${which}: bench/results/latest.json.`,
    '',
    `| benchmark | ${ROW_HEADER.map(esc).join(' | ')} |`,
    `|${' --- |'.repeat(ROW_HEADER.length + 1)}`,
    ...shown.map(
      (r) => `| ${esc(TITLES[r.benchmark] ?? r.benchmark)} | ${rowCells(r).map(esc).join(' | ')} |`,
    ),
  ];
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const dir = resultsDir();
  const status = await readStatus();
  const results: Record<string, BenchResult | VerifyFile | undefined> = {};
  const rows: (Row & { benchmark: string })[] = [];
  const notes: string[] = [];
  const run: { benchmark: string; outcome: string; seconds: number | null }[] = [];
  for (const name of ORDER) {
    const s = status.find((x) => x.benchmark === name);
    // A benchmark not selected in this run keeps its last result: the README table stays whole.
    if (name === 'verify') {
      const v = await readJson<VerifyFile>(new URL('verify.json', dir));
      results[name] = v;
      if (v !== undefined) rows.push(...verifyRows(v).map((r) => ({ ...r, benchmark: name })));
      const o =
        s !== undefined && s.exit !== 0 ? outcome(s, undefined) : v === undefined ? 'no result' : 'ok';
      run.push({ benchmark: name, outcome: o, seconds: s?.seconds ?? null });
      if (o !== 'ok') notes.push(`${TITLES[name] ?? name}: ${o}`);
      continue;
    }
    const r = await readJson<BenchResult>(new URL(`${name}.json`, dir));
    results[name] = r;
    const o = outcome(s, r);
    run.push({
      benchmark: name,
      outcome: o,
      seconds: s?.seconds ?? (r === undefined ? null : round(r.durationMs / 1000, 0)),
    });
    if (r !== undefined && o !== 'timed out' && !o.startsWith('failed')) {
      rows.push(...r.rows.map((row) => ({ ...row, benchmark: name })));
      if (r.note !== undefined) notes.push(`${TITLES[name] ?? name}: ${r.note}`);
    }
    if (o !== 'ok') notes.push(`${TITLES[name] ?? name}: ${o}`);
  }
  const m = machine();
  const date = new Date().toISOString();
  const latest = { date, quick: QUICK, machine: m, run, rows, results };
  await writeFile(new URL('latest.json', dir), `${JSON.stringify(latest, null, 2)}\n`);
  await writeFile(new URL('TABLE.md', dir), markdown(rows, notes, m, date, true));
  await writeFile(new URL('README-table.md', dir), markdown(rows, notes, m, date, false));
  const header = ['benchmark', ...ROW_HEADER];
  const table = rows.map((r) => [TITLES[r.benchmark] ?? r.benchmark, ...rowCells(r)]);
  process.stdout.write(
    `\n=== vmicast benchmarks${QUICK ? ' (quick)' : ''} ===\n${formatTable(header, table)}\n`,
  );
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  const total = run.reduce((sum, r) => sum + (r.seconds ?? 0), 0);
  process.stdout.write(
    `${run.map((r) => `${r.benchmark} ${r.outcome} ${r.seconds ?? '?'} s`).join(', ')}; total ${total} s\n`,
  );
  const unmet = rows.filter((r) => r.met === false).length;
  process.stdout.write(
    `${rows.filter((r) => r.met !== null).length - unmet} goals met, ${unmet} not met (${verdict(false)} rows)\n`,
  );
}

await main();
