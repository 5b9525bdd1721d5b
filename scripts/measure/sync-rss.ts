/**
 * Where a sync's memory goes (issue 14, item 6): peak RSS and V8 heap figures of a real
 * `vmicatcher sync` (cache only, no backend) of one image served by nginx on 127.0.0.1, for
 * each size and variant, with the sync's time and the download's throughput beside them
 * (a lower RSS that costs throughput is no win). Peak RSS from GNU time; the V8 figures
 * from scripts/measure/sampler.mjs preloaded into the measured process.
 *
 *   node --import tsx scripts/measure/sync-rss.ts [--dist DIR] [--sizes 64,1024] [--rounds N]
 *        [--series DIR] [--variant 'NAME|NODE FLAGS|ENV=VALUE ...[|DIST]'] ...
 *
 * A variant's node flags go before the program (e.g. `--max-semi-space-size=1`); its
 * environment reaches the program (a scratch copy of dist/ may read knobs from it).
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { dataDir, randomFile } from '../../bench/lib/data.js';
import { run } from '../../bench/lib/proc.js';
import { removeScratch, scratchDir } from '../../bench/lib/scratch.js';
import { startNginx } from '../../bench/lib/servers.js';
import { makePki, makeSite, signedList, subscribeSite } from '../../bench/lib/site.js';
import { MiB, median } from '../../bench/lib/stats.js';

interface Variant {
  name: string;
  flags: string[];
  env: Record<string, string>;
  /** Another build to run (a baseline beside the current one, in the same rounds). */
  dist?: string;
}

function parseArgs(argv: string[]) {
  let dist = resolve('dist');
  let sizes = [64, 1024];
  let rounds = 2;
  let series: string | undefined;
  const variants: Variant[] = [];
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1] ?? '';
    if (argv[i] === '--dist') dist = resolve(value);
    else if (argv[i] === '--sizes') sizes = value.split(',').map(Number);
    else if (argv[i] === '--rounds') rounds = Number(value);
    else if (argv[i] === '--series') series = resolve(value);
    else if (argv[i] === '--variant') {
      const [name = '', flags = '', env = '', other = ''] = value.split('|');
      variants.push({
        ...(other === '' ? {} : { dist: resolve(other) }),
        name,
        flags: flags.split(' ').filter((f) => f !== ''),
        env: Object.fromEntries(
          env
            .split(' ')
            .filter((e) => e.includes('='))
            .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
        ),
      });
    } else continue;
    i++;
  }
  if (variants.length === 0) variants.push({ name: 'as built', flags: [], env: {} });
  return { dist, sizes, rounds, variants, series };
}

const SAMPLER = new URL('./sampler.mjs', import.meta.url).pathname;
const mb = (bytes: number) => Math.round(bytes / MiB);

interface Sample {
  ms: number;
  transferMs: number;
  rss: number;
  v8:
    | { max: Record<string, number>; atPeak: Record<string, number>; cpu?: { user: number; system: number } }
    | undefined;
}

async function main(): Promise<void> {
  const { dist, sizes, rounds, variants, series } = parseArgs(process.argv.slice(2));
  const grid = await makePki();
  const scratch = scratchDir('vmicast-mem-');
  const server = await startNginx(dataDir(), join(scratch, 'nginx'));
  try {
    for (const sizeMiB of sizes) {
      const file = await randomFile(sizeMiB * MiB);
      const listName = `list-mem-${randomUUID()}.smime`;
      const image = { identifier: randomUUID(), uri: server.url(`/${file.name}`), size: file.size };
      await writeFile(join(dataDir(), listName), signedList(grid, [{ ...image, sha512: file.sha512 }]), {
        mode: 0o644,
      });
      const samples = new Map<string, Sample[]>();
      for (let r = 0; r < rounds; r++) {
        // Alternate the order of the variants between rounds.
        const order = r % 2 === 0 ? variants : [...variants].reverse();
        for (const v of order) {
          const site = await makeSite(grid);
          try {
            await subscribeSite(site, server.url(`/${listName}`));
            const out = join(site.home, 'mem.json');
            const args = [...v.flags, '--import', SAMPLER, join(v.dist ?? dist, 'catcher/main.js')];
            const m = await run(
              process.execPath,
              [...args, '--home', site.home, '--config', site.configPath, 'sync', '--json'],
              {
                env: {
                  ...process.env,
                  NODE_OPTIONS: '',
                  VMICAST_LOG_LEVEL: 'warn',
                  VMICAST_MEM_SAMPLES: out,
                  ...(series === undefined ? {} : { VMICAST_MEM_SERIES: '1' }),
                  ...v.env,
                },
              },
            );
            const report = JSON.parse(m.stdout) as { downloads: { ok: boolean; transferMs: number }[] };
            if (m.status !== 0 || report.downloads[0]?.ok !== true) throw new Error(m.stdout + m.stderr);
            const text = await readFile(out, 'utf8').catch(() => 'null');
            const v8 = JSON.parse(text) as Sample['v8'];
            // --series DIR: every sample of the run, [ms, rss, heapTotal, heapUsed, external, arrayBuffers] in MB.
            if (series !== undefined) await writeFile(join(series, `${v.name}-${sizeMiB}-${r}.json`), text);
            const list = samples.get(v.name) ?? [];
            list.push({ ms: m.ms, transferMs: report.downloads[0].transferMs, rss: m.rssKiB ?? 0, v8 });
            samples.set(v.name, list);
          } finally {
            await site.remove();
          }
        }
      }
      console.log(`\n${sizeMiB} MiB, ${rounds} rounds (medians; peak RSS: largest)`);
      console.log(
        'variant                        peakRSS  sync s  MiB/s(dl)  cpu s  heapTot heapUsed  external arrayBuf (MB, max)',
      );
      for (const v of variants) {
        const list = samples.get(v.name) ?? [];
        const maxOf = (k: string) => mb(Math.max(...list.map((s) => s.v8?.max[k] ?? 0)));
        console.log(
          [
            v.name.padEnd(30),
            String(Math.round(Math.max(...list.map((s) => s.rss)) / 1024)).padStart(7),
            (median(list.map((s) => s.ms)) / 1000).toFixed(2).padStart(7),
            String(Math.round(sizeMiB / (median(list.map((s) => s.transferMs)) / 1000))).padStart(10),
            // CPU time (user + system) of the whole command: a fair cost figure on a busy machine.
            median(list.map((s) => ((s.v8?.cpu?.user ?? 0) + (s.v8?.cpu?.system ?? 0)) / 1e6))
              .toFixed(2)
              .padStart(6),
            ...['heapTotal', 'heapUsed', 'external', 'arrayBuffers'].map((k) => String(maxOf(k)).padStart(8)),
          ].join(' '),
        );
      }
    }
  } finally {
    await server.stop();
    removeScratch(scratch);
  }
}

await main();
