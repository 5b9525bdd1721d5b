/**
 * A site for the conformance scenarios: a vmicatcher home with a `directory` backend, driven
 * only through the real command-line program (`vmicatcher subscribe/sync/subscriptions/
 * images --json`, `--at` for the clock), and observed from outside: exit status, error code,
 * stored state (subscriptions and images as the CLI shows them), cache directories and the
 * backend's files and `<uuid>.json` sidecars.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageView, SubscriptionView } from '../../src/catcher/views.js';
import { EXIT_STATUS, areaOf, type ErrorCode } from '../../src/shared/errors.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher, type CatcherRun } from '../helpers/catcher-cli.js';
import type { Grid } from '../helpers/grid.js';
import type { RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

export interface Sidecar {
  identifier: string;
  sha512: string;
  listIdentifier: string;
  deprecated: boolean;
  entry: Record<string, unknown>;
}

/** Everything a scenario can see of a site. */
export interface Observation {
  subscriptions: SubscriptionView[];
  images: ImageView[];
  /** Files of `<home>/cache`, with the SHA-512 of their bytes. */
  cache: Record<string, string>;
  partial: string[];
  expired: string[];
  /** Image files of the directory backend, with the SHA-512 of their bytes and their sidecar. */
  backend: Record<string, { sha512: string; sidecar: Sidecar | undefined }>;
}

const sha512 = (bytes: Uint8Array) => createHash('sha512').update(bytes).digest('hex');

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

export class Site {
  private constructor(
    readonly home: TestCatcher,
    readonly backendDir: string,
  ) {}

  static async create(grid: Grid, overrides: Record<string, unknown> = {}): Promise<Site> {
    const backendDir = join(await tempDir('vmicast-site-'), 'images');
    const home = await makeCatcherHome(grid, {
      backends: [{ type: 'directory', name: 'site', path: backendDir }],
      ...overrides,
    });
    return new Site(home, backendDir);
  }

  run(args: string[]): Promise<CatcherRun> {
    return runCatcher(this.home, args);
  }

  subscribe(url: string, flags: string[], at?: string): Promise<CatcherRun> {
    return this.run(['subscribe', url, ...flags, ...(at === undefined ? [] : ['--at', at]), '--json']);
  }

  sync(at?: string): Promise<CatcherRun> {
    return this.run(['sync', ...(at === undefined ? [] : ['--at', at]), '--json']);
  }

  async observe(): Promise<Observation> {
    const [subs, images] = await Promise.all([
      this.run(['subscriptions', '--json']),
      this.run(['images', '--json']),
    ]);
    assert.equal(subs.status, 0, subs.stderr);
    assert.equal(images.status, 0, images.stderr);
    const cacheDir = join(this.home.home, 'cache');
    const cache: Record<string, string> = {};
    for (const name of await names(cacheDir)) cache[name] = sha512(await readFile(join(cacheDir, name)));
    const backend: Observation['backend'] = {};
    for (const name of (await names(this.backendDir)).filter((n) => !n.endsWith('.json'))) {
      const sidecar = await readFile(join(this.backendDir, `${name}.json`), 'utf8').then(
        (t) => JSON.parse(t) as Sidecar,
        () => undefined,
      );
      backend[name] = { sha512: sha512(await readFile(join(this.backendDir, name))), sidecar };
    }
    return {
      subscriptions: subs.json as SubscriptionView[],
      images: images.json as ImageView[],
      cache,
      partial: await names(join(this.home.home, 'partial')),
      expired: await names(join(this.home.home, 'expired')),
      backend,
    };
  }
}

/** The part of an observation a refused poll must leave alone (the error it records aside). */
export function stored(o: Observation): unknown {
  return {
    ...o,
    subscriptions: o.subscriptions.map((s) => ({ ...s, lastError: null })),
  };
}

/** A sync that refused the list: exit 1, the code in its report and on the subscription. */
export function assertRefused(run: CatcherRun, after: Observation, code: ErrorCode): void {
  assert.equal(run.status, 1, `sync exit status: ${run.stdout}${run.stderr}`);
  const report = run.json as { subscriptions: { status: string; code?: string }[] };
  assert.equal(report.subscriptions[0]?.status, 'refused', run.stdout);
  assert.equal(report.subscriptions[0].code, code, run.stdout);
  assert.equal(after.subscriptions[0]?.lastError?.code, code);
}

/** A command that failed on its own (subscribe): its exit status is the code's area. */
export function assertFailed(run: CatcherRun, code: ErrorCode): void {
  const json = run.json as { ok: boolean; code: string };
  assert.equal(json.ok, false, run.stdout);
  assert.equal(json.code, code, run.stdout);
  assert.equal(run.status, EXIT_STATUS[areaOf(code)]);
}

export function assertSynced(run: CatcherRun): void {
  assert.equal(run.status, 0, `sync failed: ${run.stdout}${run.stderr}`);
}

/**
 * The backend holds exactly `images`, each with the bytes the list gives (SHA-512) and a
 * sidecar naming it; the cache holds the same bytes; nothing waits in the partial directory.
 */
export function assertDelivered(o: Observation, images: RepoImage[], listId: string): void {
  const expected = Object.fromEntries(
    images.map((i) => [i.identifier, i.entry['sl:checksum:sha512'] as string]),
  );
  assert.deepEqual(
    Object.fromEntries(Object.entries(o.backend).map(([id, held]) => [id, held.sha512])),
    expected,
    'backend content',
  );
  for (const [id, held] of Object.entries(o.backend)) {
    const sidecar = held.sidecar;
    assert.ok(sidecar, `sidecar of ${id}`);
    assert.equal(sidecar.identifier, id);
    assert.equal(sidecar.sha512, held.sha512, `sidecar digest of ${id}`);
    assert.equal(sidecar.listIdentifier, listId);
    assert.equal(sidecar.deprecated, false);
  }
  for (const image of images) {
    assert.equal(o.cache[image.identifier], expected[image.identifier], `cache file of ${image.identifier}`);
    const view = o.images.find((v) => v.id === image.identifier);
    assert.equal(view?.state, 'delivered', `state of ${image.identifier}`);
    assert.equal(view.backends['site']?.state, 'delivered');
    assert.equal(view.lastError, null);
  }
  assert.deepEqual(o.partial, [], 'partial directory');
}

/** Every file the backend holds has the digest its sidecar names: nothing unverified was delivered. */
export function assertBackendVerified(o: Observation): void {
  for (const [id, held] of Object.entries(o.backend)) {
    assert.equal(held.sidecar?.sha512, held.sha512, `backend file ${id} does not have its listed digest`);
  }
}
