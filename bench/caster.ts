/**
 * Benchmark 5, publisher metadata (issues 9 and 4): `vmicaster image add LIST --file F
 * --uri URL --title T` on a 4 GiB file (quick: 256 MiB), which streams the file once for
 * size, SHA-512 and format detection, against `sha512sum F` on the same file (goal: within
 * 10%), and `openssl dgst -sha512 F` for reference. The file is in the page cache (it was
 * just written), as it would be on a publisher that just built it; both read it alike.
 *
 *   node --import tsx bench/caster.ts [--quick]
 */
import { randomFile } from './lib/data.js';
import { check, mb, run } from './lib/proc.js';
import { QUICK, runBenchmark } from './lib/results.js';
import { removeScratch, scratchDir } from './lib/scratch.js';
import { CASTER, ensureBuilt } from './lib/site.js';
import { GiB, MiB, median, mibps, pairedRatio, pairedRounds, round, sizeLabel } from './lib/stats.js';

const SIZE = QUICK ? 256 * MiB : 4 * GiB;
const ROUNDS = QUICK ? 1 : 3;

const env = { ...process.env, NODE_OPTIONS: '', VMICAST_LOG_LEVEL: 'warn' };

await runBenchmark('caster', 'Publisher metadata: vmicaster image add --file (benchmark 5)', async (log) => {
  ensureBuilt();
  const file = await randomFile(SIZE);
  const home = scratchDir('vmicast-bench-caster-');
  const caster = (args: string[]) => run(process.execPath, [CASTER, '--home', home, ...args], { env });
  try {
    const created = check(
      await caster(['list', 'create', '--title', 'Bench', '--uri', 'https://example.org/bench.smime']),
      'vmicaster list create',
    );
    const list = created.stdout.trim();
    let n = 0;
    const samples = await pairedRounds(
      ROUNDS,
      {
        vmicaster: async () => {
          const m = check(
            await caster([
              'image',
              'add',
              list,
              '--file',
              file.path,
              '--uri',
              `https://example.org/images/bench-${++n}.img`,
              '--title',
              `Bench ${n}`,
            ]),
            'vmicaster image add',
          );
          return { ms: m.ms, rssKiB: m.rssKiB };
        },
        sha512sum: async () => {
          const m = check(await run('sha512sum', [file.path]), 'sha512sum');
          if (!m.stdout.startsWith(file.sha512)) throw new Error('sha512sum disagrees with the generator');
          return { ms: m.ms, rssKiB: m.rssKiB };
        },
        openssl: async () => {
          const m = check(await run('openssl', ['dgst', '-sha512', '-r', file.path]), 'openssl dgst');
          return { ms: m.ms, rssKiB: m.rssKiB };
        },
      },
      (arm, r, x) => log(`round ${r + 1} ${arm}: ${mibps(SIZE, x.ms)} MiB/s, ${mb(x.rssKiB) ?? '?'} MB`),
    );
    const shown = check(await caster(['show', list, '--json']), 'vmicaster show');
    if (!shown.stdout.includes(file.sha512)) throw new Error('the list does not carry the file SHA-512');
    const ms = (arm: keyof typeof samples) => samples[arm].map((x) => x.ms);
    const rate = (arm: keyof typeof samples) => `${mibps(SIZE, median(ms(arm)))} MiB/s`;
    const vsSha = round(pairedRatio(ms('sha512sum'), ms('vmicaster')));
    const rss = mb(Math.max(...samples.vmicaster.map((x) => x.rssKiB ?? 0)));
    const label = sizeLabel(SIZE);
    return {
      rows: [
        {
          case: label,
          metric: 'image add --file vs sha512sum (throughput)',
          vmicast: rate('vmicaster'),
          baseline: rate('sha512sum'),
          ratio: vsSha,
          goal: '>= 0.9',
          met: vsSha >= 0.9,
        },
        {
          case: label,
          metric: 'image add --file vs openssl dgst -sha512',
          vmicast: rate('vmicaster'),
          baseline: rate('openssl'),
          ratio: round(pairedRatio(ms('openssl'), ms('vmicaster'))),
          goal: null,
          met: null,
        },
        {
          case: label,
          metric: 'peak RSS of vmicaster image add',
          vmicast: `${rss ?? '?'} MB`,
          baseline: `${mb(Math.max(...samples.sha512sum.map((x) => x.rssKiB ?? 0))) ?? '?'} MB sha512sum`,
          ratio: null,
          goal: 'flat',
          met: null,
        },
      ],
      details: { size: SIZE, rounds: ROUNDS, samples },
    };
  } finally {
    removeScratch(home);
  }
});
