import assert from 'node:assert/strict';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { syncOnce, type SyncReport } from '../../src/catcher/sync/sync.js';
import { imageViews } from '../../src/catcher/views.js';
import { makeCatcherHome, openSubscription } from '../helpers/catcher.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { Repo, sha512Of, type RepoImage } from '../helpers/repo.js';
import { listDir } from '../helpers/state.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 12, section 1: image identifiers come from lists and become file names. One list
 * must not be able to name, or collide with, a file of another list's image in any
 * directory vmicast writes: partial downloads, cache, expired, the directory backend.
 */

function payload(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 37 + seed * 11) & 0xff;
  return out;
}

interface Site {
  catcher: Catcher;
  target: string;
}

describe('file names from lists', () => {
  let grid: Grid;
  const repos: Repo[] = [];
  const catchers: Catcher[] = [];

  before(async () => {
    grid = await makeGrid();
  });
  after(async () => {
    for (const c of catchers) await c.close();
    for (const r of repos) await r.stop();
  });

  async function site(): Promise<Site> {
    const target = join(await tempDir('vmicast-names-'), 'images');
    const home = await makeCatcherHome(grid, {
      backends: [{ type: 'directory', name: 'local', path: target }],
    });
    const catcher = await home.open();
    catchers.push(catcher);
    return { catcher, target };
  }

  async function repo(): Promise<Repo> {
    const r = await Repo.create(grid);
    repos.push(r);
    return r;
  }

  /** What a site holds of one image: cache bytes, backend file and sidecar, state. */
  async function holding(s: Site, image: RepoImage): Promise<string> {
    const read = (path: string) =>
      readFile(path).then(
        (b) => sha512Of(b),
        () => 'missing',
      );
    const view = imageViews(s.catcher.db, ['local']).find((v) => v.id === image.identifier);
    return JSON.stringify({
      cache: await read(join(s.catcher.cache.cacheDir, image.identifier)),
      file: await read(join(s.target, image.identifier)),
      sidecar: await read(join(s.target, `${image.identifier}.json`)),
      state: view?.state,
      backend: view?.backends['local']?.state,
    });
  }

  function outcome(report: SyncReport, identifier: string) {
    return report.downloads.find((d) => d.identifier === identifier);
  }

  it('a list naming its image after another image’s partial download cannot swap the bytes', async () => {
    const s = await site();
    const repoA = await repo();
    const repoB = await repo();
    const a = repoA.add(payload(1, 96 * 1024));
    repoA.publish();
    // A drips slowly, so B's download finishes while A's is still being written.
    const pathA = new URL(a.entry['hv:uri'] as string).pathname;
    repoA.server.fault(pathA, { kind: 'drip', bytesPerSecond: 48 * 1024 });
    const b = repoB.add(payload(2, 8 * 1024), {
      identifier: `${a.identifier}.${sha512Of(a.bytes).slice(0, 16)}.part`,
    });
    repoB.publish();
    // B drips too, a little faster: it ends once A has opened its partial file.
    const pathB = new URL(b.entry['hv:uri'] as string).pathname;
    repoB.server.fault(pathB, { kind: 'drip', bytesPerSecond: 16 * 1024 });
    await subscribe(s.catcher, openSubscription(repoA.listUrl));
    await subscribe(s.catcher, openSubscription(repoB.listUrl));
    const report = await syncOnce(s.catcher);
    assert.equal(outcome(report, a.identifier)?.ok, true, JSON.stringify(report.downloads));
    const sha = sha512Of(a.bytes);
    const held = JSON.parse(await holding(s, a)) as Record<string, string>;
    assert.equal(held['cache'], sha, 'the cache holds A’s bytes');
    assert.equal(held['file'], sha, 'the backend holds A’s bytes');
    assert.equal(held['state'], 'delivered');
    const sidecar = JSON.parse(await readFile(join(s.target, `${a.identifier}.json`), 'utf8')) as {
      sha512: string;
    };
    assert.equal(sidecar.sha512, sha, 'the sidecar describes A');
  });

  it('a list naming its image `<other id>.json` cannot replace the other image’s sidecar', async () => {
    const s = await site();
    const repoA = await repo();
    const repoB = await repo();
    const a = repoA.add(payload(3, 8192));
    repoA.publish();
    await subscribe(s.catcher, openSubscription(repoA.listUrl));
    assert.equal((await syncOnce(s.catcher)).failures, 0);
    const before = await holding(s, a);
    const sidecarBefore = await readFile(join(s.target, `${a.identifier}.json`), 'utf8');
    // B's image is a forged sidecar for A: deprecated=false, B's own digest for A.
    const forged = JSON.stringify({
      identifier: a.identifier,
      sha512: 'f'.repeat(128),
      listIdentifier: repoB.listId,
      vo: null,
      deprecated: false,
      entry: { 'dc:title': 'forged' },
    });
    const b = repoB.add(forged, { identifier: `${a.identifier}.json` });
    repoB.publish();
    await subscribe(s.catcher, openSubscription(repoB.listUrl));
    const report = await syncOnce(s.catcher);
    assert.equal(outcome(report, b.identifier)?.code, 'IMAGE_IDENTIFIER_UNSAFE', JSON.stringify(report));
    assert.equal(await holding(s, a), before, 'nothing of A changed');
    assert.equal(await readFile(join(s.target, `${a.identifier}.json`), 'utf8'), sidecarBefore);
    assert.deepEqual(await listDir(s.target), [a.identifier, `${a.identifier}.json`].sort());
  });

  it('refuses an identifier it cannot map for that image only; the rest of the list goes on', async () => {
    const s = await site();
    const r = await repo();
    const good1 = r.add(payload(4, 4096));
    const bad = r.add(payload(5, 4096), { identifier: '.hidden' });
    const good2 = r.add(payload(6, 4096));
    r.publish();
    await subscribe(s.catcher, openSubscription(r.listUrl));
    const report = await syncOnce(s.catcher);
    assert.equal(outcome(report, bad.identifier)?.code, 'IMAGE_IDENTIFIER_UNSAFE', JSON.stringify(report));
    assert.equal(report.failures, 1, JSON.stringify(report));
    for (const good of [good1, good2]) {
      const sha = sha512Of(good.bytes);
      const held = JSON.parse(await holding(s, good)) as Record<string, string>;
      assert.equal(held['cache'], sha);
      assert.equal(held['file'], sha);
      assert.equal(held['state'], 'delivered');
    }
    const view = imageViews(s.catcher.db, ['local']).find((v) => v.id === bad.identifier);
    assert.equal(view?.lastError?.code, 'IMAGE_IDENTIFIER_UNSAFE');
    for (const dir of [s.catcher.cache.cacheDir, s.catcher.cache.partialDir, s.target]) {
      assert.ok(!(await listDir(dir)).some((n) => n.includes('hidden')), `nothing for it in ${dir}`);
    }
  });

  it('a file renamed onto a download in progress is never promoted', async () => {
    const s = await site();
    const r = await repo();
    const a = r.add(payload(7, 96 * 1024));
    r.publish();
    const path = new URL(a.entry['hv:uri'] as string).pathname;
    r.server.fault(path, { kind: 'drip', bytesPerSecond: 48 * 1024 });
    await subscribe(s.catcher, openSubscription(r.listUrl));
    const running = syncOnce(s.catcher);
    // Whoever can write the partial directory swaps the growing file for other bytes.
    const partialDir = s.catcher.cache.partialDir;
    let swapped = false;
    for (let i = 0; i < 100 && !swapped; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const names = (await readdir(partialDir)).filter((n) => n.endsWith('.part'));
      for (const name of names) {
        const forged = join(partialDir, `forged-${i}`);
        await writeFile(forged, payload(8, 96 * 1024));
        await rename(forged, join(partialDir, name));
        swapped = true;
      }
    }
    assert.ok(swapped, 'found the partial file');
    const report = await running;
    // The swapped bytes were refused; the retry fetched A again.
    const sha = sha512Of(a.bytes);
    const held = JSON.parse(await holding(s, a)) as Record<string, string>;
    assert.equal(held['cache'], sha, JSON.stringify(report));
    assert.equal(held['file'], sha);
  });
});
