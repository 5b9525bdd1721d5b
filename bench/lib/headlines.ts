import type { Row } from './results.js';

/**
 * The rows of the project README's short performance table (issue 14: a few headline
 * rows, the rest in bench/README.md and bench/results/TABLE.md). Chosen by benchmark, case
 * and figure, so that the result files of earlier runs need no mark.
 */
const HEADLINES: { benchmark: string; case: RegExp; metric: RegExp }[] = [
  { benchmark: 'ingest', case: /^1 GiB, /, metric: /whole sync command/ },
  { benchmark: 'ingest', case: /^1 GiB, nginx/, metric: /the file written/ },
  { benchmark: 'ingest', case: /^4 GiB, nginx/, metric: /peak RSS/ },
  { benchmark: 'parallel', case: /per response/, metric: /speed-up/ },
  { benchmark: 'resume', case: /kill -9/, metric: /./ },
  { benchmark: 'verify', case: /^RSA-2048, 1,000 images/, metric: /./ },
  { benchmark: 'caster', case: /./, metric: /vs sha512sum/ },
  { benchmark: 'scaling', case: /every list answers 304/, metric: /time/ },
  { benchmark: 'glance', case: /./, metric: /whole sync|peak RSS|failed|vmicatcher sync|CPU time/ },
  { benchmark: 'startup', case: /./, metric: /wall time/ },
];

export function isHeadline(row: Row & { benchmark: string }): boolean {
  return HEADLINES.some(
    (h) => h.benchmark === row.benchmark && h.case.test(row.case) && h.metric.test(row.metric),
  );
}
