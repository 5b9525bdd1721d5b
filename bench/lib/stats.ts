/**
 * Medians of paired runs. The machines are shared and noisy, so every figure is the median
 * of several rounds, and within a round the arms run in alternating order (A B, B A, ...)
 * so that a slow drift of the machine hits each arm alike.
 */

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Runs every arm once per round, in alternating order; returns the samples per arm. */
export async function pairedRounds<K extends string, S>(
  rounds: number,
  arms: Record<K, () => Promise<S>>,
  onSample?: (arm: K, round: number, sample: S) => void,
): Promise<Record<K, S[]>> {
  const names = Object.keys(arms) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as S[]])) as Record<K, S[]>;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const sample = await arms[name]();
      samples[name].push(sample);
      onSample?.(name, r, sample);
    }
  }
  return samples;
}

/** Median over rounds of the per-round ratio a/b (pairs taken from the same round). */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const ratios = a.map((x, i) => x / (b[i] ?? NaN)).filter((x) => Number.isFinite(x));
  return median(ratios);
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** 1073741824 -> "1 GiB", 67108864 -> "64 MiB". */
export function sizeLabel(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${round(bytes / MiB, 1)} MiB`;
  return `${bytes} B`;
}

/** Throughput in MiB/s. */
export function mibps(bytes: number, ms: number): number {
  return round(bytes / MiB / (ms / 1000), 1);
}
