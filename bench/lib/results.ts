import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { SkipError } from './data.js';

/**
 * Result files and tables. Each benchmark writes `<name>.json` into the results directory
 * (bench/results/, or bench/results/quick/ for `--quick`, which is not committed):
 * machine facts, the rows of the summary table, and the raw samples under `details`.
 */

export const QUICK = process.argv.includes('--quick') || process.env['VMICAST_BENCH_QUICK'] === '1';

/** One line of the summary table: a vmicast figure against what it is compared with. */
export interface Row {
  /** Short name of the case, e.g. "1 GiB, nginx". */
  case: string;
  /** What the figure is, e.g. "throughput vs curl | sha512sum". */
  metric: string;
  /** The vmicast figure with its unit, e.g. "612 MiB/s". */
  vmicast: string;
  /** The comparison figure, e.g. "580 MiB/s" (empty when there is none). */
  baseline: string;
  /** vmicast relative to the baseline (higher is better), null when not a ratio. */
  ratio: number | null;
  /** The goal from the issue, e.g. ">= 0.9", or null. */
  goal: string | null;
  met: boolean | null;
}

export interface BenchResult {
  benchmark: string;
  title: string;
  date: string;
  quick: boolean;
  durationMs: number;
  machine: { node: string; cpu: string; cores: number; memoryGiB: number; loadAverage: number[] };
  status: 'ok' | 'skipped';
  note?: string;
  rows: Row[];
  details: unknown;
}

export function resultsDir(quick = QUICK): URL {
  return new URL(quick ? '../results/quick/' : '../results/', import.meta.url);
}

export function machine(): BenchResult['machine'] {
  return {
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    /** 1-minute load average at the start and at the end: the machine is shared. */
    loadAverage: [Math.round((loadavg()[0] ?? 0) * 10) / 10],
  };
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export const verdict = (met: boolean | null): string => (met === null ? '' : met ? 'yes' : 'NO');

export function rowCells(r: Row): string[] {
  return [
    r.case,
    r.metric,
    r.vmicast,
    r.baseline,
    r.ratio === null ? '' : r.ratio.toFixed(2),
    r.goal ?? '',
    verdict(r.met),
  ];
}

export const ROW_HEADER = ['case', 'figure', 'vmicast', 'compared with', 'ratio', 'goal', 'met'];

/** Runs a benchmark's body, writes its result file and prints its table. Skips are not failures. */
export async function runBenchmark(
  benchmark: string,
  title: string,
  body: (log: (msg: string) => void) => Promise<{ rows: Row[]; details: unknown; note?: string }>,
): Promise<void> {
  const t0 = performance.now();
  const log = (msg: string) => process.stderr.write(`[${benchmark}] ${msg}\n`);
  const base = {
    benchmark,
    title,
    date: new Date().toISOString(),
    quick: QUICK,
    machine: machine(),
  };
  let result: BenchResult;
  try {
    const out = await body(log);
    base.machine.loadAverage.push(Math.round((loadavg()[0] ?? 0) * 10) / 10);
    result = {
      ...base,
      durationMs: Math.round(performance.now() - t0),
      status: 'ok',
      rows: out.rows,
      details: out.details,
    };
    if (out.note !== undefined) result.note = out.note;
  } catch (err) {
    if (!(err instanceof SkipError)) throw err;
    log(`skipped: ${err.message}`);
    result = {
      ...base,
      durationMs: Math.round(performance.now() - t0),
      status: 'skipped',
      note: err.message,
      rows: [],
      details: null,
    };
  }
  const dir = resultsDir();
  await mkdir(dir, { recursive: true });
  await writeFile(new URL(`${benchmark}.json`, dir), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${title}${QUICK ? ' (quick)' : ''}\n`);
  if (result.status === 'skipped') process.stdout.write(`skipped: ${result.note ?? ''}\n`);
  else process.stdout.write(`${formatTable(ROW_HEADER, result.rows.map(rowCells))}\n`);
  if (result.note !== undefined && result.status === 'ok') process.stdout.write(`${result.note}\n`);
}
