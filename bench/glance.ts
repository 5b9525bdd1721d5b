/**
 * Benchmark 7, first sync into a real OpenStack Glance (issues 14, 9 and 6): Debian's
 * glance-api on 127.0.0.1 without Keystone (scripts/glance/run-glance.sh, identity from
 * request headers), the images served by nginx (node:http without it).
 *   a. One 1 GiB raw image (quick: 64 MiB): the whole `vmicatcher sync` command (a signed
 *      list, a fresh home subscribed beforehand, a glance backend) against `curl -T FILE`
 *      into a fresh Glance image (record created beforehand, not timed: Glance's intake,
 *      the limit) and against `curl -s URL | sha512sum` then `curl -T` one after the other;
 *      also the glance backend alone (deliverDiskFile from dist/, issue 6) against curl -T.
 *   b. 20 images of 50 MiB (quick: 4 x 8 MiB): the whole sync against 20 x (image create
 *      + `curl -T`).
 *   c. Peak RSS of a 4 GiB sync (full runs only).
 * Ratios: the comparison's time over vmicatcher's in the same round (higher is better).
 *
 *   node --import tsx bench/glance.ts [--quick]
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dataDir, randomFile, type DataFile } from './lib/data.js';
import {
  checkActive,
  createRecord,
  curlUpload,
  curlUploadLine,
  emptyGlance,
  startGlance,
  type Glance,
} from './lib/glance.js';
import { check, mb, run, shell } from './lib/proc.js';
import { QUICK, runBenchmark, type Row } from './lib/results.js';
import { cpuRow, failedRow, peakMb, rssRow, secs, timeRow, type Sample } from './lib/rows.js';
import { removeScratch, scratchDir } from './lib/scratch.js';
import { nginxMissing, startNginx, startNodeServer, type Served } from './lib/servers.js';
import {
  ensureBuilt,
  makePki,
  makeSite,
  REPO,
  signedList,
  subscribeSite,
  syncSite,
  type Grid,
} from './lib/site.js';
import { GiB, MiB, mibps, pairedRounds, sizeLabel } from './lib/stats.js';

const ONE = QUICK ? 64 * MiB : 1 * GiB;
const MANY = QUICK ? { count: 4, size: 8 * MiB } : { count: 20, size: 50 * MiB };
const BIG = QUICK ? undefined : 4 * GiB;
const ROUNDS = Number(process.env['VMICAST_BENCH_ROUNDS'] ?? (QUICK ? 1 : 3));
/** VMICAST_BENCH_ARMS=vmicatcher,curlT: only these arms, and only the one-image case (a quick look). */
const ARMS = process.env['VMICAST_BENCH_ARMS']?.split(',');
/** VMICAST_BENCH_GLANCE_PARALLEL=N: the backend's `parallel` (uploads at once), default 4. */
const PARALLEL = process.env['VMICAST_BENCH_GLANCE_PARALLEL'];
/** VMICAST_BENCH_CASES=one,many,big: only these cases (all of them by default). */
const CASES = process.env['VMICAST_BENCH_CASES']?.split(',') ?? ['one', 'many', 'big'];
const RSS_GOAL_MB = 80;
const VO = 'vo.bench.example.org';
const CHILD = join(REPO, 'bench/lib/glance-deliver.mjs');
const DELIVER_FILE = join(REPO, 'dist/catcher/backends/glance/deliver-file.js');

interface Bench {
  grid: Grid;
  glance: Glance;
  server: Served;
  dir: string;
  log: (msg: string) => void;
}

/** The whole `vmicatcher sync` of a list holding `files`, from a fresh home; Glance emptied after. */
async function syncArm(b: Bench, files: readonly DataFile[]): Promise<() => Promise<Sample>> {
  const listName = `list-glance-${randomUUID()}.smime`;
  const images = files.map((f) => ({
    identifier: randomUUID(),
    uri: b.server.url(`/${f.name}`),
    size: f.size,
    sha512: f.sha512,
  }));
  await writeFile(join(dataDir(), listName), signedList(b.grid, images, { vo: VO }), { mode: 0o644 });
  const backend = b.glance.backend({
    projects: { [VO]: 'vo-bench-project' },
    ...(PARALLEL === undefined ? {} : { parallel: Number(PARALLEL) }),
  });
  return async () => {
    const site = await makeSite(b.grid, {}, { backends: [backend] });
    try {
      await subscribeSite(site, b.server.url(`/${listName}`));
      const cpu0 = b.glance.cpuMs();
      const m = await syncSite(site, { timeoutMs: 900_000 });
      const glanceCpuMs = b.glance.cpuMs() - cpu0;
      if (m.status !== 0 || m.report.failures !== 0) {
        const failed = JSON.stringify(m.report).slice(0, 1500);
        throw new Error(
          `vmicatcher sync failed (status ${m.status ?? m.signal ?? '?'}): ${failed}\n${m.stderr.slice(-1500)}`,
        );
      }
      await checkActive(b.glance.endpoint, files);
      // The download phase as the sync reports it (the longest), to tell start-up and upload apart.
      const transferMs = Math.max(0, ...m.report.downloads.map((d) => d.transferMs));
      return { ms: m.ms, rssKiB: m.rssKiB, cpuMs: m.cpuMs, glanceCpuMs, transferMs };
    } finally {
      await emptyGlance(b.glance.endpoint);
      await site.remove();
    }
  };
}

/** The arms of case a (one image). */
async function oneImageArms(b: Bench, file: DataFile): Promise<Record<string, () => Promise<Sample>>> {
  const { endpoint } = b.glance;
  const url = b.server.url(`/${file.name}`);
  const arms: Record<string, () => Promise<Sample>> = {
    vmicatcher: await syncArm(b, [file]),
    curlT: async () => {
      try {
        const id = await createRecord(endpoint, 'bench curl -T');
        const cpu0 = b.glance.cpuMs();
        const m = await curlUpload(endpoint, id, file.path);
        const glanceCpuMs = b.glance.cpuMs() - cpu0;
        await checkActive(endpoint, [file]);
        return { ...m, glanceCpuMs };
      } finally {
        await emptyGlance(endpoint);
      }
    },
    hashThenUpload: async () => {
      try {
        const id = await createRecord(endpoint, 'bench curl | sha512sum, curl -T');
        const line = `curl -sS --fail --noproxy '*' '${url}' | sha512sum && ${curlUploadLine(endpoint, id, file.path)}`;
        const m = check(await shell(line), 'curl | sha512sum; curl -T');
        if (!m.stdout.includes(file.sha512))
          throw new Error(`curl | sha512sum printed ${m.stdout.slice(0, 200)}`);
        await checkActive(endpoint, [file]);
        return m;
      } finally {
        await emptyGlance(endpoint);
      }
    },
    // The same single pass made of standard tools: what two cores allow when they must also run Glance.
    teePass: async () => {
      try {
        const id = await createRecord(endpoint, 'bench curl | tee sha512sum | curl -T -');
        const upload = curlUploadLine(endpoint, id, '-');
        const line = `set -o pipefail; curl -sS --fail --noproxy '*' '${url}' | tee >(sha512sum >&2) | ${upload}`;
        const m = check(await run('/bin/bash', ['-c', line]), 'curl | tee >(sha512sum) | curl -T -');
        await checkActive(endpoint, [file]);
        return m;
      } finally {
        await emptyGlance(endpoint);
      }
    },
  };
  // The backend's own upload path, for issue 6's figure, while that module exists (full runs).
  if (!QUICK && existsSync(DELIVER_FILE)) {
    const config = JSON.stringify(b.glance.backend());
    arms['deliverDiskFile'] = async () => {
      try {
        const args = [CHILD, config, file.path, file.sha512, b.dir];
        const m = check(
          await run(process.execPath, args, { env: { ...process.env, NODE_OPTIONS: '' } }),
          'deliverDiskFile',
        );
        await checkActive(endpoint, [file]);
        return m;
      } finally {
        await emptyGlance(endpoint);
      }
    };
  }
  if (ARMS === undefined) return arms;
  return Object.fromEntries(Object.entries(arms).filter(([name]) => ARMS.includes(name)));
}

const phase = (x: Sample) => (x.transferMs === undefined ? '' : `, downloads ${secs(x.transferMs)}`);

async function oneImage(b: Bench, file: DataFile) {
  const label = `${sizeLabel(file.size)} raw, first sync`;
  const arms = await oneImageArms(b, file);
  const samples = await pairedRounds(ROUNDS, arms, (arm, r, x) =>
    b.log(
      `${label} round ${r + 1} ${arm}: ${secs(x.ms)}, ${mibps(file.size, x.ms)} MiB/s, ${mb(x.rssKiB) ?? '?'} MB${phase(x)}`,
    ),
  );
  const rows = [
    timeRow(
      label,
      'whole sync into Glance vs curl -T into a fresh image (the limit)',
      samples,
      'vmicatcher',
      'curlT',
      1.15,
    ),
    timeRow(
      label,
      'whole sync into Glance vs curl | sha512sum, then curl -T',
      samples,
      'vmicatcher',
      'hashThenUpload',
      1.0,
    ),
    timeRow(
      label,
      'whole sync into Glance vs the same one pass in shell: curl | tee >(sha512sum) | curl -T -',
      samples,
      'vmicatcher',
      'teePass',
      null,
    ),
    rssRow(label, samples['vmicatcher'] ?? [], RSS_GOAL_MB, `${peakMb(samples['curlT'] ?? [])} MB curl -T`),
    cpuRow(label, samples, 'curlT', 'curl'),
  ];
  if (samples['deliverDiskFile'] !== undefined) {
    rows.push(
      timeRow(
        label,
        'glance backend alone (deliverDiskFile) vs curl -T',
        samples,
        'deliverDiskFile',
        'curlT',
        null,
      ),
    );
  }
  return { rows, details: { case: 'one image', size: file.size, rounds: ROUNDS, samples } };
}

async function manyImages(b: Bench, files: DataFile[]) {
  const label = `${files.length} x ${sizeLabel(MANY.size)} raw, first sync`;
  const { endpoint } = b.glance;
  const arms = {
    vmicatcher: await syncArm(b, files),
    createAndCurlT: async (): Promise<Sample> => {
      try {
        let rssKiB = 0;
        let cpuMs = 0;
        const t0 = performance.now();
        const cpu0 = b.glance.cpuMs();
        for (const file of files) {
          const m = await curlUpload(endpoint, await createRecord(endpoint, `bench ${file.name}`), file.path);
          rssKiB = Math.max(rssKiB, m.rssKiB ?? 0);
          cpuMs += m.cpuMs ?? NaN;
        }
        const glanceCpuMs = b.glance.cpuMs() - cpu0;
        const ms = performance.now() - t0;
        await checkActive(endpoint, files);
        return { ms, rssKiB, cpuMs, glanceCpuMs };
      } finally {
        await emptyGlance(endpoint);
      }
    },
  };
  const samples = await pairedRounds(ROUNDS, arms, (arm, r, x) =>
    b.log(`${label} round ${r + 1} ${arm}: ${secs(x.ms)}, ${mb(x.rssKiB) ?? '?'} MB${phase(x)}`),
  );
  const rows = [
    timeRow(
      label,
      `whole sync vs ${files.length} x (image create + curl -T)`,
      samples,
      'vmicatcher',
      'createAndCurlT',
      1.2,
    ),
    rssRow(label, samples.vmicatcher, RSS_GOAL_MB, `${peakMb(samples.createAndCurlT)} MB curl -T`),
    cpuRow(label, samples, 'createAndCurlT', `${files.length} curl`),
  ];
  return {
    rows,
    details: { case: 'many images', count: files.length, size: MANY.size, rounds: ROUNDS, samples },
  };
}

async function bigImage(b: Bench, file: DataFile, oneMb: number) {
  const label = `${sizeLabel(file.size)} raw, first sync`;
  const sample = await (await syncArm(b, [file]))();
  b.log(
    `${label}: ${secs(sample.ms)}, ${mibps(file.size, sample.ms)} MiB/s, ${mb(sample.rssKiB) ?? '?'} MB${phase(sample)}`,
  );
  const row = rssRow(label, [sample], RSS_GOAL_MB, `${oneMb} MB at ${sizeLabel(ONE)}`);
  return {
    rows: [{ ...row, vmicast: `${row.vmicast} (${mibps(file.size, sample.ms)} MiB/s)` }],
    details: { case: 'big image', size: file.size, sample },
  };
}

await runBenchmark('glance', 'First sync into a real Glance (benchmark 7)', async (log) => {
  const dir = scratchDir('vmicast-bench-glance-');
  const glance = await startGlance(dir);
  ensureBuilt();
  const missing = nginxMissing();
  const server =
    missing === undefined
      ? await startNginx(dataDir(), join(dir, 'nginx'))
      : await startNodeServer(dataDir());
  const b: Bench = { grid: await makePki(), glance, server, dir, log };
  const rows: Row[] = [];
  const details: unknown[] = [];
  const attempt = async (label: string, body: () => Promise<{ rows: Row[]; details: unknown }>) => {
    try {
      const out = await body();
      rows.push(...out.rows);
      details.push(out.details);
    } catch (err) {
      log(`${label}: ${err instanceof Error ? err.message : String(err)}`);
      rows.push(failedRow(label, err));
      details.push({ case: label, error: String(err) });
      await emptyGlance(glance.endpoint);
    }
  };
  try {
    if (CASES.includes('one')) {
      const one = await randomFile(ONE);
      await attempt(`${sizeLabel(ONE)} raw`, () => oneImage(b, one));
    }
    if (ARMS !== undefined) return { rows, details, note: `arms ${ARMS.join(', ')} only` };
    if (CASES.includes('many')) {
      const files: DataFile[] = [];
      for (let i = 0; i < MANY.count; i++) files.push(await randomFile(MANY.size, `glance${i}`));
      await attempt(`${MANY.count} x ${sizeLabel(MANY.size)} raw`, () => manyImages(b, files));
    }
    if (BIG !== undefined && CASES.includes('big')) {
      const oneMb = Number.parseInt(
        rows.find((r) => r.case.startsWith(sizeLabel(ONE)) && r.goal?.includes('MB'))?.vmicast ?? '0',
        10,
      );
      const big = await randomFile(BIG);
      await attempt(`${sizeLabel(BIG)} raw`, () => bigImage(b, big, oneMb));
    }
  } finally {
    await server.stop();
    await glance.stop();
    removeScratch(dir);
  }
  return {
    rows,
    details,
    note: `images served by ${missing === undefined ? 'nginx' : `node:http (${missing})`}`,
  };
});
