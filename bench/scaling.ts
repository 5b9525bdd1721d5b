/**
 * Benchmark 6, scaling (issue 9):
 *   a. one `vmicatcher sync` over 100 and 1,000 subscriptions (quick: 5 and 20) whose
 *      lists all answer 304 to the conditional GET: time and peak RSS, and the growth;
 *   b. the pure `reconcile()` of src/catcher/sync/reconcile.ts on lists of 100, 1,000 and
 *      10,000 images (quick: 50 and 200) with 1% of the images changed in place;
 *   c. `vmicatcher sync` with the store, one subscription whose list has 100, 1,000 and
 *      10,000 images of 4 KiB (quick: 50 and 200): the first sync (all downloaded), a new
 *      list version with 1% of the images changed in place (1% downloaded), and a sync
 *      that finds the list unchanged (304); time and peak RSS, and their growth.
 * Growth is reported as time(n_max) / time(n_min) against n_max / n_min: linear or
 * better means a ratio no larger than the size ratio.
 *
 *   node --import tsx bench/scaling.ts [--quick]
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { reconcile, entryKey, type StoredImage } from '../src/catcher/sync/reconcile.js';
import { parseImageList } from '../src/shared/imagelist/parse.js';
import { listFor } from '../test/helpers/grid.js';
import { makeImage } from '../test/helpers/lists.js';
import { dataDir } from './lib/data.js';
import { mb, type Measured } from './lib/proc.js';
import { QUICK, runBenchmark, type Row } from './lib/results.js';
import { startNodeServer, type NodeServer } from './lib/servers.js';
import { Slices } from './lib/slices.js';
import {
  ensureBuilt,
  makePki,
  makeSite,
  openSite,
  signedList,
  subscribeWith,
  syncSite,
  type Grid,
  type ListImage,
} from './lib/site.js';
import { median, round } from './lib/stats.js';

// A collection before each timed reconcile() (the flag can be set at run time).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SUBSCRIPTIONS = QUICK ? [5, 20] : [100, 1000];
const IMAGES = QUICK ? [50, 200] : [100, 1000, 10_000];
const UPDATES = QUICK ? 1 : 3;
const SYNC_TIMEOUT_MS = 600_000;

function checkSync(m: Measured & { report: { failures: number } }, what: string): void {
  if (m.status !== 0 || m.report.failures !== 0) {
    throw new Error(`${what}: sync failed (${m.report.failures} failures)\n${m.stderr.slice(-1500)}`);
  }
}

const seconds = (ms: number) => `${round(ms / 1000, 2)} s`;

function growthRow(label: string, metric: string, sizes: number[], values: number[], unit: 'ms' | 'MB'): Row {
  const first = values[0] ?? NaN;
  const last = values.at(-1) ?? NaN;
  const sizeRatio = (sizes.at(-1) ?? 1) / (sizes[0] ?? 1);
  const growth = round(last / first, 2);
  const fmt = (v: number) => (unit === 'ms' ? (v < 100 ? `${round(v, 2)} ms` : seconds(v)) : `${v} MB`);
  // What each further item costs, from the smallest to the largest size.
  const step = (last - first) / ((sizes.at(-1) ?? 1) - (sizes[0] ?? 0));
  const marginal = unit === 'ms' ? `${round(step, 3)} ms` : `${round(step * 1024, 1)} KB`;
  return {
    case: label,
    metric: `${metric}: ${sizes.map((s) => s.toLocaleString('en')).join(' / ')}`,
    vmicast: `${values.map(fmt).join(' / ')} (+${marginal} each)`,
    baseline: `x${sizeRatio} size`,
    ratio: growth,
    goal: `<= ${sizeRatio} (linear)`,
    met: growth <= sizeRatio,
  };
}

/** a. Subscriptions that all answer 304. */
async function subscriptions(grid: Grid, server: NodeServer, slices: Slices, log: (m: string) => void) {
  const out: {
    subscriptions: number;
    setupMs: number;
    firstSync: Measured;
    cycles: Measured[];
    notModified: number;
  }[] = [];
  for (const count of SUBSCRIPTIONS) {
    const dir = `subs-${randomUUID()}`;
    await mkdir(join(dataDir(), dir), { mode: 0o755 });
    const site = await makeSite(grid, { parallel: 4, perHost: 4 });
    try {
      const t0 = performance.now();
      const catcher = await openSite(site);
      try {
        for (let i = 0; i < count; i++) {
          const name = `${dir}/list-${i}.smime`;
          await writeFile(join(dataDir(), name), signedList(grid, [await slices.image()]));
          await subscribeWith(catcher, server.url(`/${name}`));
        }
      } finally {
        await catcher.close();
      }
      const setupMs = performance.now() - t0;
      const firstSync = await syncSite(site, { timeoutMs: SYNC_TIMEOUT_MS });
      checkSync(firstSync, `first sync of ${count} subscriptions`);
      const cycles: Measured[] = [];
      let notModified = 0;
      for (let r = 0; r < (QUICK ? 1 : 3); r++) {
        await server.reset();
        const m = await syncSite(site, { timeoutMs: SYNC_TIMEOUT_MS });
        checkSync(m, `304 cycle over ${count} subscriptions`);
        const stats = await server.stats();
        notModified = stats.log.filter((e) => e.status === 304).length;
        cycles.push(m);
      }
      log(
        `${count} subscriptions: set-up ${seconds(setupMs)}, first sync ${seconds(firstSync.ms)}, 304 cycle ${cycles.map((c) => seconds(c.ms)).join(' ')}, ${notModified} answered 304`,
      );
      out.push({ subscriptions: count, setupMs, firstSync, cycles, notModified });
    } finally {
      await site.remove();
    }
  }
  const times = out.map((o) => median(o.cycles.map((c) => c.ms)));
  const rss = out.map((o) => mb(Math.max(...o.cycles.map((c) => c.rssKiB ?? 0))) ?? 0);
  const all304 = out.every((o) => o.notModified === o.subscriptions);
  const rows: Row[] = [
    growthRow('sync, every list answers 304', 'time for subscriptions', SUBSCRIPTIONS, times, 'ms'),
    growthRow('sync, every list answers 304', 'peak RSS for subscriptions', SUBSCRIPTIONS, rss, 'MB'),
  ];
  if (!all304)
    rows[0] = { ...(rows[0] as Row), met: false, metric: `${(rows[0] as Row).metric} (not all 304!)` };
  return {
    rows,
    details: out.map((o) => ({ ...o, firstSync: strip(o.firstSync), cycles: o.cycles.map(strip) })),
  };
}

function strip(m: Measured): { ms: number; rssKiB: number | null } {
  return { ms: Math.round(m.ms), rssKiB: m.rssKiB };
}

/** b. The pure reconcile over n images with 1% changed in place. */
function pureReconcile(log: (m: string) => void) {
  const samples: { images: number; ms: number }[] = [];
  for (const n of IMAGES) {
    const dn = { eec: { subject: '/CN=x' }, issuer: { subject: '/CN=y' } } as Parameters<typeof listFor>[0];
    const entries = Array.from({ length: n }, (_, i) =>
      makeImage({ identifier: randomUUID(), title: `image ${i}` }),
    );
    const before = parseImageList(listFor(dn, { images: entries }));
    const stored: StoredImage[] = before.images.map((image) => ({
      identifier: image.identifier,
      selected: true,
      listed: true,
      unwantedReason: null,
      unwantedSince: null,
      current: { sha512: image.sha512, entryJson: entryKey(image.entry) },
    }));
    const changed = entries.map((e, i) =>
      i % 100 === 0
        ? makeImage({
            identifier: String((e['hv:image'] as Record<string, unknown>)['dc:identifier']),
            bytes: new TextEncoder().encode(`changed ${i}`),
          })
        : e,
    );
    const after = parseImageList(listFor(dn, { images: changed, version: '2' }));
    const input = {
      list: after,
      stored,
      newImages: 'subscribe' as const,
      now: new Date(),
      owners: new Map<string, string>(),
    };
    const plan = reconcile(input);
    const bytes = plan.images.filter((p) => p.change === 'bytes').length;
    if (bytes !== Math.ceil(n / 100))
      throw new Error(`reconcile found ${bytes} changes, expected ${Math.ceil(n / 100)}`);
    const runs: number[] = [];
    for (let r = 0; r < (QUICK ? 5 : 21); r++) {
      gc(); // each run starts with a clean heap: garbage of the previous one is not billed to it
      const t0 = performance.now();
      reconcile(input);
      runs.push(performance.now() - t0);
    }
    samples.push({ images: n, ms: round(median(runs), 3) });
    log(`reconcile of ${n} images: ${round(median(runs), 3)} ms`);
  }
  const row = growthRow(
    'reconcile() alone, 1% changed',
    'time for images',
    IMAGES,
    samples.map((s) => s.ms),
    'ms',
  );
  return { rows: [row], details: samples };
}

/** c. One subscription with n images: first sync, 1% updates, 304. */
async function listSizes(grid: Grid, server: NodeServer, slices: Slices, log: (m: string) => void) {
  const out: { images: number; first: Measured; updates: Measured[]; unchanged: Measured }[] = [];
  for (const n of IMAGES) {
    const site = await makeSite(grid, { parallel: 4, perHost: 4 });
    const name = `list-scale-${randomUUID()}.smime`;
    const identifier = randomUUID();
    try {
      const images: ListImage[] = [];
      for (let i = 0; i < n; i++) images.push(await slices.image());
      const publish = async (version: number) =>
        writeFile(join(dataDir(), name), signedList(grid, images, { identifier, version: String(version) }));
      await publish(1);
      const catcher = await openSite(site);
      try {
        await subscribeWith(catcher, server.url(`/${name}`));
      } finally {
        await catcher.close();
      }
      const first = await syncSite(site, { timeoutMs: SYNC_TIMEOUT_MS });
      checkSync(first, `first sync of ${n} images`);
      const updates: Measured[] = [];
      for (let u = 0; u < UPDATES; u++) {
        for (let i = u; i < n; i += 100) images[i] = await slices.image((images[i] as ListImage).identifier);
        await publish(u + 2);
        const m = await syncSite(site, { timeoutMs: SYNC_TIMEOUT_MS });
        checkSync(m, `sync of ${n} images with 1% changed`);
        const fetched = m.report.downloads.length;
        if (fetched !== Math.ceil((n - u) / 100))
          throw new Error(`${fetched} downloads for a 1% change of ${n}`);
        updates.push(m);
      }
      const unchanged = await syncSite(site, { timeoutMs: SYNC_TIMEOUT_MS });
      checkSync(unchanged, `sync of ${n} unchanged images`);
      log(
        `${n} images: first sync ${seconds(first.ms)} ${mb(first.rssKiB) ?? '?'} MB, 1% update ${updates.map((u) => seconds(u.ms)).join(' ')}, unchanged ${seconds(unchanged.ms)}`,
      );
      out.push({ images: n, first, updates, unchanged });
    } finally {
      await site.remove();
    }
  }
  const label = 'sync of one list with n images';
  const rows = [
    growthRow(
      label,
      'first sync (all fetched), time for images',
      IMAGES,
      out.map((o) => o.first.ms),
      'ms',
    ),
    growthRow(
      label,
      '1% changed in place, time for images',
      IMAGES,
      out.map((o) => median(o.updates.map((u) => u.ms))),
      'ms',
    ),
    growthRow(
      label,
      'list unchanged (304), time for images',
      IMAGES,
      out.map((o) => o.unchanged.ms),
      'ms',
    ),
    growthRow(
      label,
      '1% changed in place, peak RSS for images',
      IMAGES,
      out.map((o) => mb(Math.max(...o.updates.map((u) => u.rssKiB ?? 0))) ?? 0),
      'MB',
    ),
    growthRow(
      label,
      'first sync, peak RSS for images',
      IMAGES,
      out.map((o) => mb(o.first.rssKiB) ?? 0),
      'MB',
    ),
  ];
  return {
    rows,
    details: out.map((o) => ({
      images: o.images,
      first: strip(o.first),
      updates: o.updates.map(strip),
      unchanged: strip(o.unchanged),
    })),
  };
}

await runBenchmark('scaling', 'Scaling (benchmark 6)', async (log) => {
  ensureBuilt();
  const grid = await makePki();
  const server = await startNodeServer(dataDir());
  try {
    const slices = await Slices.create(server);
    const pure = pureReconcile(log);
    const subs = await subscriptions(grid, server, slices, log);
    const lists = await listSizes(grid, server, slices, log);
    return {
      rows: [...subs.rows, ...pure.rows, ...lists.rows],
      details: { subscriptions: subs.details, reconcile: pure.details, listSizes: lists.details },
    };
  } finally {
    await server.stop();
  }
});
