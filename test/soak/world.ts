/**
 * The soak's world (issue 8): many signed lists of small images served by a few real HTTP
 * servers, a seeded random source, a cheap vmcatcher event hook, and the normalized state
 * of a site for comparing a faulty run with a fault-free one.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Catcher } from '../../src/catcher/catcher.js';
import { listEvents } from '../../src/catcher/store/outbox.js';
import { imageViews, subscriptionViews } from '../../src/catcher/views.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import type { TestCatcher } from '../helpers/catcher.js';
import { signDocument, type Grid } from '../helpers/grid.js';
import { makeImage, makeList } from '../helpers/lists.js';
import { TestServer } from '../helpers/server.js';

export interface SoakSize {
  subscriptions: number;
  images: number;
  cycles: number;
  servers: number;
  seed: number;
}

/** The full soak (`npm run soak`) or the bounded one of `npm test`; each knob can be set alone. */
export function soakSize(): SoakSize {
  const full = process.env['VMICAST_SOAK'] === 'full';
  const knob = (name: string, fallback: number) => Number(process.env[`VMICAST_SOAK_${name}`] ?? fallback);
  return {
    subscriptions: knob('SUBSCRIPTIONS', full ? 100 : 6),
    images: knob('IMAGES', full ? 50 : 6),
    cycles: knob('CYCLES', full ? 20 : 6),
    servers: knob('SERVERS', full ? 4 : 2),
    seed: knob('SEED', 8),
  };
}

/** mulberry32: a small seeded generator, so that a soak run can be repeated. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SoakImage {
  identifier: string;
  path: string;
  bytes: Uint8Array;
  sha512: string;
  entry: JsonObject;
}

export interface SoakList {
  id: string;
  server: TestServer;
  path: string;
  version: number;
  images: SoakImage[];
}

let serial = 0;

/** Many lists on a few servers, each list signed by the grid publisher at every change. */
export class Publisher {
  readonly lists: SoakList[] = [];

  private constructor(
    readonly grid: Grid,
    readonly servers: TestServer[],
  ) {}

  static async create(grid: Grid, size: SoakSize): Promise<Publisher> {
    const servers = await Promise.all(Array.from({ length: size.servers }, () => TestServer.start()));
    const publisher = new Publisher(grid, servers);
    for (let i = 0; i < size.subscriptions; i++) {
      const server = servers[i % servers.length] as TestServer;
      const list: SoakList = { id: randomUUID(), server, path: `/lists/${i}.smime`, version: 0, images: [] };
      for (let j = 0; j < size.images; j++) list.images.push(publisher.image(list, 1));
      publisher.lists.push(list);
      publisher.publish(list);
    }
    return publisher;
  }

  url(list: SoakList): string {
    return list.server.url(list.path);
  }

  /** A new small image (1-4 KiB) served by the list's server. */
  image(list: SoakList, version: number, identifier: string = randomUUID()): SoakImage {
    const n = ++serial;
    const bytes = new Uint8Array(1024 + ((n * 977) % 3072)).map((_, i) => (i * 31 + n * 17) & 0xff);
    const path = `/images/${identifier}-${n}.img`;
    const uri = list.server.set(path, bytes);
    const entry = makeImage({ identifier, bytes, uri, version: String(version) })['hv:image'] as JsonObject;
    return { identifier, path, bytes, sha512: entry['sl:checksum:sha512'] as string, entry };
  }

  publish(list: SoakList): void {
    list.version += 1;
    const doc = makeList({
      identifier: list.id,
      version: String(list.version),
      dn: this.grid.publisher.subject,
      ca: this.grid.intermediate.subject,
      images: list.images.map((i) => ({ 'hv:image': i.entry })),
    });
    const signed = signDocument(doc, this.grid.publisher, [this.grid.intermediate]);
    list.server.set(list.path, signed, { contentType: 'application/pkcs7-mime' });
  }

  /** A new version: one image replaced in place, one added, the oldest removed. */
  change(list: SoakList, random: () => number): SoakImage[] {
    const at = Math.floor(random() * list.images.length);
    const victim = list.images[at] as SoakImage;
    const replaced = this.image(list, list.version + 1, victim.identifier);
    const added = this.image(list, list.version + 1);
    list.images[at] = replaced;
    list.images.push(added);
    list.images.splice(at === 0 ? 1 : 0, 1);
    this.publish(list);
    return [replaced, added];
  }

  clearFaults(): void {
    for (const server of this.servers) server.faults.clear();
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

/** A vmcatcher event handler of one shell process (the recording hook spawns several per event). */
export interface LightHook {
  command: string;
  fail(type: string): Promise<void>;
  heal(): Promise<void>;
  seen(): Promise<Set<string>>;
}

export async function lightHook(dir: string): Promise<LightHook> {
  const flags = join(dir, 'flags');
  const log = join(dir, 'events.log');
  await mkdir(flags, { recursive: true });
  await writeFile(log, '');
  return {
    command:
      `[ -f "${flags}/$VMCATCHER_EVENT_TYPE" ] && { echo "refusing $VMCATCHER_EVENT_TYPE" >&2; exit 1; }; ` +
      `printf '%s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "$VMCATCHER_EVENT_DC_IDENTIFIER" "$VMCATCHER_EVENT_SL_CHECKSUM_SHA512" >> "${log}"`,
    fail: (type) => writeFile(join(flags, type), ''),
    heal: async () => {
      for (const name of await readdir(flags)) await rm(join(flags, name));
    },
    seen: async () => new Set((await readFile(log, 'utf8')).split('\n').filter((l) => l !== '')),
  };
}

/**
 * What must be equal between the faulty site and the fault-free one (no times, no URLs).
 * Event history is not compared: a site that was down while an image version came and went
 * never saw it, and rightly announces nothing about it; assertEventsBalanced checks events.
 */
export interface SiteState {
  subscriptions: string[];
  images: string[];
  cache: string[];
  /** Files waiting in the partial directory: none once a site has settled. */
  partial: string[];
  backend: string[];
}

export async function siteState(catcher: Catcher, backendDir: string): Promise<SiteState> {
  const sha = (bytes: Uint8Array) => createHash('sha512').update(bytes).digest('hex');
  const files = async (dir: string) => {
    const out: string[] = [];
    for (const name of (await readdir(dir).catch(() => [] as string[]))
      .filter((n) => !n.endsWith('.json'))
      .sort()) {
      out.push(`${name} ${sha(await readFile(join(dir, name)))}`);
    }
    return out;
  };
  return {
    subscriptions: subscriptionViews(catcher.db).map(
      (s) => `${s.id} v${s.version ?? '-'} ${s.lapsedSince ?? ''}`,
    ),
    // A retired image keeps the digest of the last version this site saw, which depends on
    // which versions it saw: only that it is retired must agree.
    images: imageViews(catcher.db, ['site'])
      .map((v) => (v.state === 'retired' ? `${v.id} retired` : `${v.id} ${v.sha512} ${v.state}`))
      .sort(),
    cache: await files(catcher.cache.cacheDir),
    partial: (await readdir(catcher.cache.partialDir).catch(() => [] as string[])).sort(),
    backend: await files(backendDir),
  };
}

/**
 * No event was lost: the outbox is empty, every transition recorded reached the hook, every
 * cached image was announced available, and every announced image no longer cached was
 * announced expired.
 */
export async function assertNoEventLost(
  home: TestCatcher,
  hook: LightHook,
  backendDir: string,
): Promise<void> {
  const catcher = await home.open();
  try {
    assert.deepEqual(
      listEvents(catcher.db, `state != 'done'`).map((e) => `${e.type} ${e.identifier ?? ''}`),
      [],
      'events still pending or failed',
    );
    const label = (type: string, id: string | null, env: Record<string, string>) =>
      `${type} ${id ?? ''} ${env['VMCATCHER_EVENT_SL_CHECKSUM_SHA512'] ?? ''}`;
    const recorded = listEvents(catcher.db, `type IN ('AvailablePostfix', 'ExpirePostfix')`);
    const seen = await hook.seen();
    for (const e of recorded) {
      assert.ok(
        seen.has(label(e.type, e.identifier, e.env)),
        `the hook never saw ${e.type} ${e.identifier ?? ''}`,
      );
    }
    const cached = new Set(
      (await siteState(catcher, backendDir)).cache.map((line) => {
        const [id, sha] = line.split(' ');
        return `${id ?? ''} ${sha ?? ''}`;
      }),
    );
    const last = new Map<string, string>();
    for (const e of recorded) {
      last.set(`${e.identifier ?? ''} ${e.env['VMCATCHER_EVENT_SL_CHECKSUM_SHA512'] ?? ''}`, e.type);
    }
    for (const key of cached)
      assert.equal(last.get(key), 'AvailablePostfix', `cached ${key} was not announced`);
    for (const [key, type] of last) {
      if (!cached.has(key)) assert.equal(type, 'ExpirePostfix', `${key} left the cache unannounced`);
    }
  } finally {
    await catcher.close();
  }
}
