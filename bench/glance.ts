/**
 * Benchmark 7, delivery (issues 9 and 6): a 2 GiB raw image (quick: 128 MiB) streamed
 * into a real OpenStack Glance (Debian's glance-api on 127.0.0.1 without Keystone, started
 * with scripts/glance/run-glance.sh) by the catcher's glance backend
 * (src/catcher/backends/glance/backend.ts through deliverDiskFile, run from dist/ in a process of
 * its own: create the record with every property, PUT /v2/images/{id}/file streaming,
 * check Glance's digest) against `curl -T FILE` to the same endpoint (the record created
 * beforehand, not timed). Throughput ratio and the peak RSS of the node process
 * (goal: under 150 MB). Skipped with a notice when glance-api is not installed.
 *
 *   node --import tsx bench/glance.ts [--quick]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomFile, SkipError, type DataFile } from './lib/data.js';
import { check, mb, onPath, run } from './lib/proc.js';
import { QUICK, runBenchmark } from './lib/results.js';
import { removeScratch, scratchDir } from './lib/scratch.js';
import { freePort } from './lib/servers.js';
import { ensureBuilt, REPO } from './lib/site.js';
import { GiB, MiB, median, mibps, pairedRatio, pairedRounds, round, sizeLabel } from './lib/stats.js';

const SIZE = QUICK ? 128 * MiB : 2 * GiB;
const ROUNDS = QUICK ? 1 : 3;
const RSS_GOAL_MB = 150;
const SCRIPT = join(REPO, 'scripts/glance/run-glance.sh');
const CHILD = join(REPO, 'bench/lib/glance-deliver.mjs');

interface Glance {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts glance-api; a watcher stops it when this process goes away, whatever the way. */
async function startGlance(dir: string): Promise<Glance> {
  let last = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const state = join(dir, `run${attempt}`);
    const started = await run(SCRIPT, ['start', '--port', String(await freePort()), '--dir', state], {
      timeoutMs: 180_000,
    });
    if (started.status === 0) {
      const watcher: ChildProcess = spawn(
        '/bin/sh',
        ['-c', 'cat >/dev/null; "$0" stop --dir "$1"', SCRIPT, state],
        {
          stdio: ['pipe', 'ignore', 'ignore'],
        },
      );
      return {
        endpoint: started.stdout.trim().split('\n').pop() ?? '',
        stop: async () => {
          const exited = new Promise((resolve) => watcher.once('exit', resolve));
          watcher.stdin?.end();
          await exited;
        },
      };
    }
    last = `${started.stderr}${await readFile(join(state, 'glance-api.log'), 'utf8').catch(() => '')}`.slice(
      -2000,
    );
  }
  throw new Error(`glance-api did not start:\n${last}`);
}

async function api(endpoint: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${endpoint}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status >= 300)
    throw new Error(`${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return text === '' ? undefined : JSON.parse(text);
}

async function checkActive(endpoint: string, id: string, file: DataFile): Promise<void> {
  const image = (await api(endpoint, 'GET', `/v2/images/${id}`)) as {
    status: string;
    size: number;
    os_hash_value?: string;
  };
  if (image.status !== 'active' || image.size !== file.size || image.os_hash_value !== file.sha512) {
    throw new Error(
      `image ${id} in Glance is ${image.status}, ${image.size} bytes, digest ${String(image.os_hash_value).slice(0, 16)}`,
    );
  }
}

await runBenchmark('glance', 'Delivery to a real Glance (benchmark 7)', async (log) => {
  const missing = ['glance-api', 'glance-manage', 'curl'].filter((t) => !onPath(t));
  if (missing.length > 0) {
    throw new SkipError(
      `${missing.join(', ')} not installed (Debian packages glance-api, glance-common; scripts/ci/install-debian.sh)`,
    );
  }
  ensureBuilt();
  const file = await randomFile(SIZE);
  const dir = scratchDir('vmicast-bench-glance-');
  const glance = await startGlance(dir);
  const { endpoint } = glance;
  const env = { ...process.env, NODE_OPTIONS: '' };
  try {
    const samples = await pairedRounds(
      ROUNDS,
      {
        vmicast: async () => {
          const m = check(
            await run(process.execPath, [CHILD, endpoint, file.path, file.sha512, dir], { env }),
            'glance delivery',
          );
          const { refs } = JSON.parse(m.stdout) as { refs: string[] };
          const id = refs[0] ?? '';
          await checkActive(endpoint, id, file);
          await api(endpoint, 'DELETE', `/v2/images/${id}`);
          return { ms: m.ms, rssKiB: m.rssKiB };
        },
        curl: async () => {
          const record = (await api(endpoint, 'POST', '/v2/images', {
            name: 'bench curl -T',
            disk_format: 'raw',
            container_format: 'bare',
          })) as { id: string };
          const m = check(
            await run('curl', [
              '-sS',
              '--fail',
              '--noproxy',
              '*',
              '-T',
              file.path,
              '-H',
              'Content-Type: application/octet-stream',
              `${endpoint}/v2/images/${record.id}/file`,
            ]),
            'curl -T',
          );
          await checkActive(endpoint, record.id, file);
          await api(endpoint, 'DELETE', `/v2/images/${record.id}`);
          return { ms: m.ms, rssKiB: m.rssKiB };
        },
      },
      (arm, r, x) => log(`round ${r + 1} ${arm}: ${mibps(SIZE, x.ms)} MiB/s, ${mb(x.rssKiB) ?? '?'} MB`),
    );
    const ms = (arm: 'vmicast' | 'curl') => samples[arm].map((x) => x.ms);
    const ratio = round(pairedRatio(ms('curl'), ms('vmicast')));
    const peak = mb(Math.max(...samples.vmicast.map((x) => x.rssKiB ?? 0))) ?? 0;
    const label = `${sizeLabel(SIZE)} raw`;
    return {
      rows: [
        {
          case: label,
          metric: 'glance backend upload vs curl -T (throughput)',
          vmicast: `${mibps(SIZE, median(ms('vmicast')))} MiB/s`,
          baseline: `${mibps(SIZE, median(ms('curl')))} MiB/s`,
          ratio,
          goal: null,
          met: null,
        },
        {
          case: label,
          metric: 'peak RSS of the delivering node process',
          vmicast: `${peak} MB`,
          baseline: `${mb(Math.max(...samples.curl.map((x) => x.rssKiB ?? 0))) ?? '?'} MB curl`,
          ratio: null,
          goal: `< ${RSS_GOAL_MB} MB`,
          met: peak > 0 && peak < RSS_GOAL_MB,
        },
      ],
      details: { size: SIZE, rounds: ROUNDS, samples },
    };
  } finally {
    await glance.stop();
    removeScratch(dir);
  }
});
