/**
 * Benchmark 3, resume (issues 9 and 5): a 1 GiB image (quick: 32 MiB) whose download is
 * interrupted at 50% and then completed, counting the body bytes the server sent for it
 * (~1 GiB when the download resumes with Range, 1.5 GiB when it starts over). Two ways:
 *   - kill -9 of `vmicatcher sync` once half of the file is in the partial directory,
 *     then `vmicatcher sync` again (restart resume);
 *   - the server cuts the connection at 50%, and the same sync retries with Range
 *     (in-run resume).
 *
 *   node --import tsx bench/resume.ts [--quick]
 */
import { randomUUID } from 'node:crypto';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dataDir, randomFile, type DataFile } from './lib/data.js';
import { startDirect } from './lib/proc.js';
import { QUICK, runBenchmark, type Row } from './lib/results.js';
import { startNodeServer, type NodeServer } from './lib/servers.js';
import {
  ensureBuilt,
  makePki,
  makeSite,
  signedList,
  startCatcher,
  subscribeSite,
  syncSite,
  type Grid,
  type Site,
} from './lib/site.js';
import { GiB, MiB, median, round, sizeLabel } from './lib/stats.js';

const SIZE = QUICK ? 32 * MiB : 1 * GiB;
const ROUNDS = QUICK ? 1 : 3;
const FAST_RETRY = { backoffSeconds: 0.05, maxBackoffSeconds: 0.2 };

interface Trial {
  /** Bytes in the partial file (kill) or sent before the cut (fault) at the interruption. */
  interruptedAt: number;
  /** Body bytes the server sent for the image, all requests together. */
  served: number;
  requests: number;
  resumedWithRange: boolean;
}

async function partialSize(site: Site): Promise<number> {
  const dir = join(site.home, 'partial');
  const names = await readdir(dir).catch(() => [] as string[]);
  let largest = 0;
  for (const n of names)
    largest = Math.max(largest, (await stat(join(dir, n)).catch(() => undefined))?.size ?? 0);
  return largest;
}

async function servedFor(server: NodeServer, path: string) {
  const log = (await server.stats()).log.filter((e) => e.path === path);
  return {
    served: log.reduce((sum, e) => sum + e.bytes, 0),
    requests: log.length,
    resumedWithRange: log.some((e) => e.status === 206 && (e.rangeStart ?? 0) > 0),
  };
}

async function prepare(
  grid: Grid,
  server: NodeServer,
  file: DataFile,
): Promise<{ site: Site; path: string }> {
  const path = `/${file.name}`;
  const listName = `list-resume-${randomUUID()}.smime`;
  const image = { identifier: randomUUID(), uri: server.url(path), size: file.size, sha512: file.sha512 };
  await writeFile(join(dataDir(), listName), signedList(grid, [image]));
  const site = await makeSite(grid, FAST_RETRY);
  await subscribeSite(site, server.url(`/${listName}`));
  await server.reset();
  return { site, path };
}

async function finish(site: Site): Promise<void> {
  const m = await syncSite(site);
  if (m.status !== 0 || m.report.downloads[0]?.ok !== true) {
    throw new Error(
      `the resumed sync failed: ${JSON.stringify(m.report.downloads)}\n${m.stderr.slice(-1500)}`,
    );
  }
}

async function killTrial(grid: Grid, server: NodeServer, file: DataFile): Promise<Trial> {
  const { site, path } = await prepare(grid, server, file);
  try {
    const running = startCatcher(site, ['sync', '--json'], startDirect);
    let at = 0;
    for (;;) {
      at = await partialSize(site);
      if (at >= file.size / 2 || running.child.exitCode !== null) break;
      await sleep(5);
    }
    running.child.kill('SIGKILL');
    await running.done;
    if (at >= file.size) throw new Error('the sync finished before it could be interrupted');
    await finish(site);
    return { interruptedAt: at, ...(await servedFor(server, path)) };
  } finally {
    await site.remove();
  }
}

async function faultTrial(grid: Grid, server: NodeServer, file: DataFile): Promise<Trial> {
  const { site, path } = await prepare(grid, server, file);
  try {
    await server.fault(path, Math.floor(file.size / 2));
    await finish(site);
    const served = await servedFor(server, path);
    return { interruptedAt: Math.floor(file.size / 2), ...served };
  } finally {
    await site.remove();
  }
}

function rowFor(label: string, size: number, trials: Trial[]): Row {
  const ratio = round(median(trials.map((t) => t.served / size)), 3);
  const resumed = trials.every((t) => t.resumedWithRange);
  return {
    case: `${sizeLabel(size)}, ${label}`,
    metric: 'bytes sent by the server / image size (1.5 = started over)',
    vmicast: `${round(median(trials.map((t) => t.served)) / MiB, 1)} MiB in ${median(trials.map((t) => t.requests))} requests${resumed ? ', Range' : ''}`,
    baseline: `${round((size * 1.5) / MiB, 1)} MiB without resume`,
    ratio,
    // Bytes in flight when the client died (socket buffers, a few MiB) come on top.
    goal: '<= 1.05 (+8 MiB in flight)',
    met: resumed && median(trials.map((t) => t.served - size)) <= 0.05 * size + 8 * MiB,
  };
}

await runBenchmark('resume', 'Resume after interruption (benchmark 3)', async (log) => {
  ensureBuilt();
  const grid = await makePki();
  const file = await randomFile(SIZE);
  const server = await startNodeServer(dataDir());
  const kill: Trial[] = [];
  const fault: Trial[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      kill.push(await killTrial(grid, server, file));
      log(`kill -9 round ${r + 1}: ${JSON.stringify(kill.at(-1))}`);
      fault.push(await faultTrial(grid, server, file));
      log(`server cut round ${r + 1}: ${JSON.stringify(fault.at(-1))}`);
    }
  } finally {
    await server.stop();
  }
  return {
    rows: [
      rowFor('kill -9 at 50%, sync again', SIZE, kill),
      rowFor('connection cut at 50%, retried in the run', SIZE, fault),
    ],
    details: { size: SIZE, kill, fault },
  };
});
