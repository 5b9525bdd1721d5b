import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { openCatcher, type Catcher } from '../../src/catcher/catcher.js';
import { resolveConfig } from '../../src/catcher/config.js';
import type { NewImagePolicy } from '../../src/catcher/sync/reconcile.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { ensureBuilt, REPO } from '../../test/helpers/caster-cli.js';
import { listFor, makeGrid, signDocument, type Grid } from '../../test/helpers/grid.js';
import { makeImage } from '../../test/helpers/lists.js';
import { removeScratch, scratchDir } from './scratch.js';
import { run, start, type Measured, type RunOptions, type Running } from './proc.js';
import { openSubscription } from '../../test/helpers/catcher.js';

/**
 * The subscriber side of the benchmarks: the test PKI of test/helpers/grid.ts signs lists
 * at run time (as in the catcher tests), and the real programs of dist/ run as child
 * processes (`vmicatcher --home H --config C ...`), each in a fresh home.
 */

/** VMICAST_BENCH_CATCHER: another build's main.js, to compare two builds in the same way. */
export const CATCHER = process.env['VMICAST_BENCH_CATCHER'] ?? join(REPO, 'dist/catcher/main.js');
export const CASTER = join(REPO, 'dist/caster/main.js');

export { ensureBuilt, REPO };
export type { Grid };

export async function makePki(): Promise<Grid> {
  return makeGrid();
}

export interface ListImage {
  identifier: string;
  uri: string;
  size: number;
  sha512: string;
}

/** A list of `images`, signed by the grid's publisher (with the issuing CA in the chain). */
export function signedList(
  grid: Grid,
  images: readonly ListImage[],
  options: { identifier?: string; version?: string; vo?: string } = {},
): Uint8Array {
  const doc = listFor(
    { eec: grid.publisher, issuer: grid.intermediate },
    {
      ...options,
      images: images.map((i) =>
        makeImage({ identifier: i.identifier, uri: i.uri, size: i.size, sha512: i.sha512 }),
      ),
    },
  );
  return signDocument(doc, grid.publisher, [grid.intermediate]);
}

export interface Site {
  home: string;
  configPath: string;
  raw: Record<string, unknown>;
  remove(): Promise<void>;
}

/** A catcher home configured for the grid; `downloads` overrides the download settings. */
export async function makeSite(
  grid: Grid,
  downloads: Record<string, number> = {},
  extra: Record<string, unknown> = {},
): Promise<Site> {
  const home = scratchDir('vmicast-bench-site-');
  const raw = {
    home,
    caDir: grid.caDir,
    vomsDir: join(home, 'vomsdir'),
    graceHours: 0,
    downloads: { minFreeBytes: 0, ...downloads },
    ...extra,
  };
  const configPath = join(home, 'vmicatcher.yaml');
  await writeFile(configPath, stringify(raw));
  return { home, configPath, raw, remove: () => Promise.resolve(removeScratch(home)) };
}

/**
 * Node as the systemd unit runs it (docs/memory.md), plus VMICAST_BENCH_NODE_FLAGS (e.g.
 * `--cpu-prof`) when set, to look inside a run.
 */
const NODE_FLAGS = [
  ...(process.env['VMICAST_BENCH_PLAIN'] === '1' ? [] : ['--max-semi-space-size=1', '--single-threaded']),
  ...(process.env['VMICAST_BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== ''),
];

function catcherArgs(site: Site, args: string[]): string[] {
  return [...NODE_FLAGS, CATCHER, '--home', site.home, '--config', site.configPath, ...args];
}

const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  NODE_OPTIONS: '',
  MALLOC_ARENA_MAX: '2',
  VMICAST_LOG_LEVEL: process.env['VMICAST_BENCH_LOG'] ?? 'warn',
});

/** Runs `vmicatcher ARGS` in the site, measured (wall time, peak RSS). */
export function catcher(site: Site, args: string[], options: RunOptions = {}): Promise<Measured> {
  ensureBuilt();
  return run(process.execPath, catcherArgs(site, args), { env: env(), ...options });
}

/** Starts `vmicatcher ARGS` without GNU time in between (its pid is node's, to kill it). */
export function startCatcher(site: Site, args: string[], startFn = start): Running {
  ensureBuilt();
  return startFn(process.execPath, catcherArgs(site, args), { env: env() });
}

/** The site's catcher, in this process (for set-up work that is not measured). */
export function openSite(site: Site): Promise<Catcher> {
  return openCatcher(resolveConfig(site.raw, site.home, {}));
}

/** What `vmicatcher subscribe URL --auto-endorse` does, in this process (set-up, not measured). */
export async function subscribeWith(
  catcher: Catcher,
  url: string,
  newImages: NewImagePolicy = 'subscribe',
): Promise<void> {
  await subscribe(catcher, { ...openSubscription(url), newImages });
}

/** Subscribes the site to `url`; throws when the list is refused. */
export async function subscribeSite(
  site: Site,
  url: string,
  newImages: NewImagePolicy = 'subscribe',
): Promise<void> {
  const catcher = await openSite(site);
  try {
    await subscribeWith(catcher, url, newImages);
  } finally {
    await catcher.close();
  }
}

export interface SyncJson {
  ok: boolean;
  subscriptions: { id: string; status: string; code?: string }[];
  downloads: { identifier: string; ok: boolean; bytes: number; transferMs: number; code?: string }[];
  available: string[];
  failures: number;
}

/** `vmicatcher sync --json`, measured; the report parsed. */
export async function syncSite(
  site: Site,
  options: RunOptions = {},
): Promise<Measured & { report: SyncJson }> {
  const m = await catcher(site, ['sync', '--json'], options);
  let report: SyncJson;
  try {
    report = JSON.parse(m.stdout) as SyncJson;
  } catch {
    throw new Error(
      `vmicatcher sync printed no report (status ${m.status ?? m.signal ?? '?'}):\n${m.stderr.slice(-2000)}`,
    );
  }
  return { ...m, report };
}
