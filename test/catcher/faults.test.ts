import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce, type SyncReport } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { Repo, sha512Of, type RepoImage } from '../helpers/repo.js';
import { TestServer, type Fault } from '../helpers/server.js';
import { listDir } from '../helpers/state.js';
import { localhostServerCert } from '../helpers/tls.js';

/**
 * The download fault table (issue 5): each case serves one image with a fault, syncs, and
 * checks the outcome code, that nothing unverified reached the cache, and the requests.
 */

const SIZE = 256 * 1024;

function bytes(seed: number): Uint8Array {
  const out = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

interface Case {
  name: string;
  faults: Fault[];
  /** Undefined: the image must end up cached. */
  code?: string;
  config?: Record<string, unknown>;
  /** Change the list entry (size off by one). */
  entry?: (image: RepoImage) => RepoImage;
  check?: (repo: Repo, path: string) => void;
  /** Bytes the resumable partial file must keep after the failure. */
  partialBytes?: number;
}

describe('download faults', () => {
  let grid: Grid;
  const open: { catcher: Catcher; repo: Repo }[] = [];
  before(async () => {
    grid = await makeGrid();
  });
  after(async () => {
    for (const { catcher, repo } of open) {
      await catcher.close();
      await repo.stop();
    }
  });

  async function run(
    c: Case,
    seed: number,
  ): Promise<{ report: SyncReport; catcher: Catcher; repo: Repo; image: RepoImage; path: string }> {
    const repo = await Repo.create(grid);
    const catcher = await (await makeCatcherHome(grid, c.config ?? {})).open();
    open.push({ catcher, repo });
    let image = repo.add(bytes(seed));
    if (c.entry !== undefined) {
      image = c.entry(image);
      repo.images = [image];
    }
    repo.publish();
    const path = new URL(image.entry['hv:uri'] as string).pathname;
    repo.server.fault(path, ...c.faults);
    await subscribe(catcher, openSubscription(repo.listUrl));
    const report = await syncOnce(catcher);
    return { report, catcher, repo, image, path };
  }

  const persist = (f: Fault, n = 5): Fault[] => Array.from({ length: n }, () => f);
  const cases: Case[] = [
    {
      name: '404 is not retried',
      faults: [{ kind: 'status', status: 404 }],
      code: 'HTTP_STATUS',
      check: (repo, path) => assert.equal(repo.server.requests(path).length, 1),
    },
    {
      name: '500 then success is retried',
      faults: [{ kind: 'status', status: 500 }],
      check: (repo, path) => assert.equal(repo.server.requests(path).length, 2),
    },
    {
      name: 'a reset mid-body resumes with Range',
      faults: [{ kind: 'reset', afterBytes: SIZE / 2 }],
      check: (repo, path) => {
        const [first, second] = repo.server.requests(path);
        assert.equal(first?.headers.range, undefined);
        assert.match(second?.headers.range ?? '', /^bytes=\d+-$/);
        assert.equal(second?.status, 206);
      },
    },
    {
      name: 'a server ignoring Range restarts cleanly',
      faults: [{ kind: 'reset', afterBytes: SIZE / 2 }, { kind: 'ignore-range' }],
      check: (repo, path) => assert.equal(repo.server.requests(path)[1]?.status, 200),
    },
    {
      name: 'Content-Length larger than hv:size is refused before reading',
      faults: persist({ kind: 'content-length', value: SIZE + 10 }),
      code: 'IMAGE_TOO_LARGE',
    },
    {
      name: 'Content-Length larger than the body (truncated transfer)',
      faults: [{ kind: 'content-length', value: SIZE - 10 }],
      check: (repo, path) => assert.equal(repo.server.requests(path).length, 2),
    },
    {
      name: 'an endless body is cut at hv:size + 1',
      faults: persist({ kind: 'endless' }),
      code: 'IMAGE_TOO_LARGE',
    },
    {
      name: 'a 10 byte/s drip trips the throughput floor',
      faults: persist({ kind: 'drip', bytesPerSecond: 10 }, 1),
      code: 'STALLED',
      config: { downloads: { minBytesPerSecond: 5000, throughputWindowSeconds: 1, attempts: 1 } },
    },
    {
      name: 'a stalled transfer times out',
      faults: persist({ kind: 'stall', afterBytes: 1000 }, 1),
      code: 'STALLED',
      config: { downloads: { stallSeconds: 1, attempts: 1 } },
      partialBytes: 1000,
    },
    {
      name: 'wrong bytes fail the digest',
      faults: persist({ kind: 'body', bytes: bytes(99) }),
      code: 'IMAGE_DIGEST_MISMATCH',
    },
    {
      name: 'one byte short of hv:size',
      faults: [],
      code: 'IMAGE_SIZE_MISMATCH',
      entry: (i) => ({ ...i, entry: { ...i.entry, 'hv:size': SIZE + 1 } }),
    },
    {
      name: 'one byte more than hv:size',
      faults: [],
      code: 'IMAGE_TOO_LARGE',
      entry: (i) => ({ ...i, entry: { ...i.entry, 'hv:size': SIZE - 1 } }),
    },
    {
      name: 'no free space',
      faults: [],
      code: 'DISK_FULL',
      config: { downloads: { minFreeBytes: 2 ** 53 } },
    },
  ];

  cases.forEach((c, index) => {
    it(c.name, async () => {
      const { report, catcher, repo, image, path } = await run(c, index);
      const download = report.downloads.find((d) => d.identifier === image.identifier);
      const cached = await listDir(catcher.cache.cacheDir);
      if (c.code === undefined) {
        assert.equal(report.failures, 0, JSON.stringify(report.downloads));
        assert.equal(
          sha512Of(await readFile(join(catcher.cache.cacheDir, image.identifier))),
          sha512Of(image.bytes),
        );
      } else {
        assert.equal(download?.ok, false);
        assert.equal(download.code, c.code, JSON.stringify(download));
        assert.deepEqual(cached, [], 'nothing unverified reaches the cache');
        assert.ok(
          !(await listDir(catcher.cache.partialDir)).includes(image.identifier),
          'no verified file for it either',
        );
      }
      c.check?.(repo, path);
      if (c.partialBytes !== undefined) {
        const partial = await catcher.cache.partialOf({
          subscriptionId: repo.listId,
          identifier: image.identifier,
          sha512: sha512Of(image.bytes),
        });
        assert.equal((await stat(partial ?? '')).size, c.partialBytes, 'what arrived is kept for a resume');
      }
    });
  });

  it('refuses a redirect from https to http', async () => {
    const tls = localhostServerCert(grid.intermediate);
    const https = await TestServer.start({ cert: tls.pem, key: tls.keyPem });
    const repo = await Repo.create(grid);
    const catcher = await (await makeCatcherHome(grid)).open();
    open.push({ catcher, repo });
    try {
      const image = repo.add(bytes(7));
      const httpUri = image.entry['hv:uri'] as string;
      // The list names an https URL that redirects to the plain-http copy.
      https.set('/img', image.bytes);
      https.fault('/img', ...persist({ kind: 'redirect', location: httpUri }));
      repo.images = [{ ...image, entry: { ...image.entry, 'hv:uri': https.url('/img') } }];
      repo.publish();
      await subscribe(catcher, openSubscription(repo.listUrl));
      const report = await syncOnce(catcher);
      assert.equal(report.downloads[0]?.code, 'FETCH_FAILED', JSON.stringify(report.downloads));
      assert.match(report.downloads[0].message ?? '', /redirect/);
      assert.equal(
        repo.server.requests(new URL(httpUri).pathname).length,
        0,
        'the http copy was never fetched',
      );
      assert.deepEqual(await listDir(catcher.cache.cacheDir), []);
    } finally {
      await https.stop();
    }
  });
});
