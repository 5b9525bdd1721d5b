/**
 * Benchmark 2, parallel ingest (issue 9): 20 images of 100 MiB (quick: 8 of 4 MiB) in one
 * signed list, half on each of two hosts (static servers on 127.0.0.1 and 127.0.0.2),
 * fetched by one `vmicatcher sync` with the configured parallelism (the defaults:
 * `downloads.parallel` 4, `downloads.perHost` 2) against the same with parallelism 1.
 * Twice: over plain loopback, where the machine's CPU is the limit, and with each response
 * limited to a fixed rate, as from a distant server, where parallelism pays off (quick mode:
 * only the latter, 8 images of 4 MiB).
 * The servers also report how many responses they sent at once (perHost must hold).
 *
 *   node --import tsx bench/parallel.ts [--quick]
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDir, randomFile, sliceSha512, type DataFile } from './lib/data.js';
import { mb } from './lib/proc.js';
import { QUICK, runBenchmark, type Row } from './lib/results.js';
import { startNodeServer, type NodeServer } from './lib/servers.js';
import {
  ensureBuilt,
  makePki,
  makeSite,
  signedList,
  subscribeSite,
  syncSite,
  type Grid,
  type ListImage,
} from './lib/site.js';
import { MiB, median, mibps, pairedRatio, pairedRounds, round, sizeLabel } from './lib/stats.js';

const COUNT = QUICK ? 8 : 20;
const SIZE = QUICK ? 4 * MiB : 100 * MiB;
const ROUNDS = QUICK ? 1 : 3;
/** Rate-limited transfers vary little: two rounds (A B, B A) are enough. */
const DISTANT_ROUNDS = QUICK ? 1 : 2;
/** Per-response rate of the "distant server" case. */
const RATE = QUICK ? 8 * MiB : 80 * MiB;
const CONFIGURED = { parallel: 4, perHost: 2 };
const SEQUENTIAL = { parallel: 1, perHost: 1 };

interface Sample {
  ms: number;
  rssKiB: number | null;
  maxActive: number[];
}

async function listImages(file: DataFile, servers: NodeServer[]): Promise<ListImage[]> {
  const images: ListImage[] = [];
  for (let i = 0; i < COUNT; i++) {
    const server = servers[i % servers.length] as NodeServer;
    const offset = i * SIZE;
    images.push({
      identifier: randomUUID(),
      uri: server.url(`/slice/${offset}/${SIZE}/${file.name}`),
      size: SIZE,
      sha512: await sliceSha512(file, offset, SIZE),
    });
  }
  return images;
}

async function measure(
  grid: Grid,
  servers: NodeServer[],
  listUrl: string,
  downloads: Record<string, number>,
): Promise<Sample> {
  const site = await makeSite(grid, downloads);
  try {
    await subscribeSite(site, listUrl);
    for (const s of servers) await s.reset();
    const m = await syncSite(site);
    const ok = m.report.downloads.filter((d) => d.ok).length;
    if (m.status !== 0 || ok !== COUNT) {
      throw new Error(`sync fetched ${ok} of ${COUNT} images: ${m.stderr.slice(-1500)}`);
    }
    const maxActive = await Promise.all(servers.map(async (s) => (await s.stats()).maxActive));
    return { ms: m.ms, rssKiB: m.rssKiB, maxActive };
  } finally {
    await site.remove();
  }
}

async function scenario(
  rounds: number,
  grid: Grid,
  file: DataFile,
  rate: number | undefined,
  label: string,
  log: (m: string) => void,
) {
  const servers = [
    await startNodeServer(dataDir(), { host: '127.0.0.1', ...(rate === undefined ? {} : { rate }) }),
    await startNodeServer(dataDir(), { host: '127.0.0.2', ...(rate === undefined ? {} : { rate }) }),
  ];
  try {
    const listName = `list-parallel-${randomUUID()}.smime`;
    await writeFile(join(dataDir(), listName), signedList(grid, await listImages(file, servers)));
    const listUrl = servers[0]?.url(`/${listName}`) ?? '';
    const samples = await pairedRounds(
      rounds,
      {
        configured: () => measure(grid, servers, listUrl, CONFIGURED),
        sequential: () => measure(grid, servers, listUrl, SEQUENTIAL),
      },
      (arm, r, x) =>
        log(
          `${label} round ${r + 1} ${arm}: ${mibps(COUNT * SIZE, x.ms)} MiB/s, at once per host ${x.maxActive.join('/')}`,
        ),
    );
    const total = COUNT * SIZE;
    const ms = (arm: 'configured' | 'sequential') => samples[arm].map((x) => x.ms);
    const speedup = round(pairedRatio(ms('sequential'), ms('configured')));
    const perHost = Math.max(...samples.configured.flatMap((x) => x.maxActive));
    const rss = mb(Math.max(...samples.configured.map((x) => x.rssKiB ?? 0)));
    const rows: Row[] = [
      {
        case: label,
        metric: `parallel ${CONFIGURED.parallel}, perHost ${CONFIGURED.perHost} vs sequential (speed-up)`,
        vmicast: `${mibps(total, median(ms('configured')))} MiB/s`,
        baseline: `${mibps(total, median(ms('sequential')))} MiB/s`,
        ratio: speedup,
        goal: rate === undefined ? null : '> 1',
        met: rate === undefined ? null : speedup > 1,
      },
      {
        case: label,
        metric: 'most responses at once per host; peak RSS',
        vmicast: `${perHost} per host; ${rss ?? '?'} MB`,
        baseline: '',
        ratio: null,
        goal: `<= ${CONFIGURED.perHost} per host`,
        met: perHost <= CONFIGURED.perHost,
      },
    ];
    return { rows, details: { label, rate: rate ?? null, samples } };
  } finally {
    for (const s of servers) await s.stop();
  }
}

await runBenchmark('parallel', 'Parallel ingest (benchmark 2)', async (log) => {
  ensureBuilt();
  const grid = await makePki();
  const file = await randomFile(QUICK ? 128 * MiB : 2048 * MiB);
  const what = `${COUNT} x ${sizeLabel(SIZE)}, 2 hosts`;
  // Quick mode (a smoke run) only has the rate-limited case.
  const loopback = QUICK
    ? undefined
    : await scenario(ROUNDS, grid, file, undefined, `${what}, loopback`, log);
  const distant = await scenario(
    DISTANT_ROUNDS,
    grid,
    file,
    RATE,
    `${what}, ${sizeLabel(RATE)}/s per response`,
    log,
  );
  return {
    rows: [...(loopback?.rows ?? []), ...distant.rows],
    details: [loopback?.details, distant.details].filter((d) => d !== undefined),
  };
});
