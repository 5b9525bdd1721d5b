/** A catcher home for tests: configuration pointing at the test grid, fast retry settings. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { openCatcher, type Catcher } from '../../src/catcher/catcher.js';
import { resolveConfig, type CatcherConfig } from '../../src/catcher/config.js';
import { openReadOnlySource } from '../../src/catcher/ops/source.js';
import { buildStatus } from '../../src/catcher/ops/status.js';
import type { SiteStatus } from '../../src/catcher/ops/sitestatus.js';
import type { RegistrySource } from '../../src/catcher/registry/source.js';
import type { NewSubscription } from '../../src/catcher/store/subscriptions.js';
import type { SubscribeRequest } from '../../src/catcher/sync/subscribe.js';
import { uuid5 } from '../../src/shared/uuid5.js';
import { silentLogger } from '../../src/shared/log.js';
import type { Grid } from './grid.js';
import { tempDir } from './tmp.js';

/** Fast retries and short watchdogs, so fault tests finish quickly. */
export const TEST_DOWNLOADS = {
  backoffSeconds: 0.01,
  maxBackoffSeconds: 0.05,
  stallSeconds: 2,
  throughputWindowSeconds: 1,
  minBytesPerSecond: 1,
  minFreeBytes: 0,
  attempts: 3,
};

export interface TestCatcher {
  home: string;
  configPath: string;
  raw: Record<string, unknown>;
  open(clock?: () => Date): Promise<Catcher>;
}

export async function makeCatcherHome(
  grid: Grid,
  overrides: Record<string, unknown> = {},
): Promise<TestCatcher> {
  const home = await tempDir('vmicast-catcher-');
  const raw: Record<string, unknown> = {
    home,
    caDir: grid.caDir,
    vomsDir: join(home, 'vomsdir'),
    graceHours: 0,
    ...overrides,
    downloads: { ...TEST_DOWNLOADS, ...(overrides['downloads'] as object | undefined) },
  };
  const configPath = join(home, 'vmicatcher.yaml');
  await writeFile(configPath, stringify(raw));
  return {
    home,
    configPath,
    raw,
    open: (clock?: () => Date) =>
      openCatcher(resolveConfig(raw, home, {}), {
        log: silentLogger(),
        ...(clock === undefined ? {} : { clock }),
      }),
  };
}

/**
 * The subscription most catcher tests make: any endorser the trust store accepts
 * (auto-endorse), no VO or VOMS requirement, new images subscribed.
 */
export function openSubscription(url: string, now = new Date()): SubscribeRequest {
  return {
    url,
    endorser: undefined,
    autoEndorse: true,
    vo: undefined,
    requireVoms: false,
    fqan: undefined,
    newImages: 'subscribe',
    username: undefined,
    password: undefined,
    trust: {},
    now,
  };
}

/** The same subscription pinned to one endorser (`autoEndorse: false`), with overrides. */
export function pinnedSubscription(
  url: string,
  endorser: { dn: string; ca: string },
  more: Partial<SubscribeRequest> = {},
): SubscribeRequest {
  return { ...openSubscription(url), endorser, autoEndorse: false, ...more };
}

/**
 * A registry subscription as `vmicatcher subscribe oci://... --unsigned` stores it (the
 * command itself is tested in test/catcher/registry-subscribe.test.ts).
 */
export function registrySubscription(
  source: RegistrySource,
  more: { vo?: string; credentials?: { username: string; password: string } } = {},
): NewSubscription {
  const path = source.scope.kind === 'project' ? source.scope.project : source.scope.repository;
  const url = `oci://${source.registry}/${path}`;
  return {
    id: uuid5(url),
    url,
    vo: more.vo ?? null,
    requireVoms: false,
    fqan: null,
    newImages: 'subscribe',
    trust: {},
    username: more.credentials?.username ?? null,
    password: more.credentials?.password ?? null,
    endorsers: [],
    registry: source,
  };
}

/** The status document of a catcher's home, read as `vmicatcher status` reads it (no daemon). */
export async function statusOf(config: CatcherConfig): Promise<SiteStatus> {
  const source = openReadOnlySource(config);
  try {
    return await buildStatus(source, { info: null, lastCycle: null });
  } finally {
    source.close();
  }
}
