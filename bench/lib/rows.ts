import { mb } from './proc.js';
import type { Row } from './results.js';
import { median, pairedRatio, round } from './stats.js';

/** Rows of the summary table built from timed samples of whole commands. */

export interface Sample {
  ms: number;
  rssKiB: number | null;
  /** vmicatcher sync only: the longest download as the sync reports it (transferMs). */
  transferMs?: number;
  /** User + system CPU time of the command (GNU time), ms. */
  cpuMs?: number | null;
  /** CPU time glance-api used while the command ran, ms. */
  glanceCpuMs?: number;
}

export const peakMb = (s: readonly Sample[]) => mb(Math.max(...s.map((x) => x.rssKiB ?? 0))) ?? 0;
export const secs = (ms: number) => `${round(ms / 1000, 2)} s`;

export function rssRow(label: string, s: readonly Sample[], goalMb: number, baseline: string): Row {
  const peak = peakMb(s);
  return {
    case: label,
    metric: 'peak RSS of vmicatcher sync (max of runs)',
    vmicast: `${peak} MB`,
    baseline,
    ratio: null,
    goal: `< ${goalMb} MB`,
    met: peak > 0 && peak < goalMb,
  };
}

/** A time row: the comparison's time over vmicatcher's; `limit` is the "at most N x the time". */
export function timeRow(
  label: string,
  metric: string,
  s: Record<string, Sample[]>,
  arm: string,
  ref: string,
  limit: number | null,
): Row {
  const ms = (a: string) => (s[a] ?? []).map((x) => x.ms);
  const ratio = round(pairedRatio(ms(ref), ms(arm)));
  return {
    case: label,
    metric,
    vmicast: secs(median(ms(arm))),
    baseline: secs(median(ms(ref))),
    ratio,
    goal: limit === null ? null : `>= ${round(1 / limit)} (time <= ${limit}x)`,
    met: limit === null ? null : ratio >= round(1 / limit),
  };
}

/**
 * Where the time goes: CPU seconds of glance-api and of the client while each command ran
 * (medians). glance-api is one process on one core; when glance-api and the client together
 * use about two cores' worth of the wall time, the machine, not the order of the work, is
 * the limit.
 */
export function cpuRow(label: string, s: Record<string, Sample[]>, ref: string, refClient: string): Row {
  const of = (arm: string, client: string) => {
    const xs = s[arm] ?? [];
    const med = (f: (x: Sample) => number | null | undefined) =>
      secs(median(xs.map((x) => f(x) ?? NaN).filter((v) => !Number.isNaN(v))));
    return `glance-api ${med((x) => x.glanceCpuMs)} + ${client} ${med((x) => x.cpuMs)} in ${med((x) => x.ms)}`;
  };
  return {
    case: label,
    metric: 'CPU time while the command ran (medians): glance-api + the client, in the wall time',
    vmicast: of('vmicatcher', 'vmicatcher'),
    baseline: of(ref, refClient),
    ratio: null,
    goal: null,
    met: null,
  };
}

/** A row for a case whose vmicatcher run failed: the failure is the result. */
export function failedRow(label: string, err: unknown): Row {
  const message = err instanceof Error ? err.message : String(err);
  return {
    case: label,
    metric: 'vmicatcher sync',
    vmicast: `failed: ${message.split('\n')[0]?.slice(0, 160) ?? ''}`,
    baseline: '',
    ratio: null,
    goal: null,
    met: false,
  };
}
