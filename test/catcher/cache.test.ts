import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CacheLayout, downloadKey } from '../../src/catcher/cache/layout.js';
import { safeFileName } from '../../src/shared/fsutil.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * vmcatcher sites sometimes keep the download, cache and expired directories on different
 * file systems: moves between them must still be complete and atomic at the target.
 */
describe('cache layout across file systems', () => {
  const cleanup: string[] = [];
  after(async () => {
    for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
  });

  it('promotes and expires files between /dev/shm and the disk', async (t) => {
    const shm = await mkdtemp('/dev/shm/vmicast-').catch(() => undefined);
    if (shm === undefined || (await stat(shm)).dev === (await stat(await tempDir())).dev) {
      t.skip('no second file system (/dev/shm) here');
      return;
    }
    cleanup.push(shm);
    const disk = await tempDir();
    const cache = new CacheLayout({
      dir: join(disk, 'cache'),
      partialDir: join(shm, 'partial'),
      expiredDir: join(shm, 'expired'),
      retentionDays: 1,
    });
    await cache.ensure();
    const key = { subscriptionId: 'list', identifier: 'abc', sha512: 'ab'.repeat(64) };
    const verified = cache.verifiedFor(await cache.partialFor(key));
    await writeFile(verified, 'verified bytes');
    await cache.expose(verified, 'abc');
    await cache.promote(verified, 'abc');
    assert.equal(await readFile(cache.cached('abc'), 'utf8'), 'verified bytes');
    assert.equal(await cache.exists(verified), false);
    assert.equal(await cache.exists(cache.exposed('abc')), false);
    const at = new Date('2030-01-02T03:04:05Z');
    const name = await cache.expire('abc', at);
    assert.equal(name, 'abc.2030-01-02_03-04-05');
    assert.equal(await readFile(join(cache.expiredDir, name), 'utf8'), 'verified bytes');
    assert.equal((await stat(join(cache.expiredDir, name))).mtime.getTime(), at.getTime());
    assert.equal(await cache.exists(cache.cached('abc')), false);
  });
});

/** Issue 12: names from lists and vmicast's own names never meet in one directory. */
describe('cache names', () => {
  async function layout(nested = false): Promise<CacheLayout> {
    const root = await tempDir();
    const dir = join(root, 'cache');
    return new CacheLayout({
      dir,
      partialDir: nested ? join(dir, 'partial') : join(root, 'partial'),
      expiredDir: nested ? join(dir, 'expired') : join(root, 'expired'),
      retentionDays: 1,
    });
  }

  it('refuses identifiers that could hide, escape or take a derived name', () => {
    for (const bad of ['.hidden', 'a/b', '..', 'a..b', 'x.json', 'X.JSON', '', '-x', 'a\nb', 'é']) {
      assert.throws(() => safeFileName(bad), { code: 'IMAGE_IDENTIFIER_UNSAFE' }, bad);
    }
    for (const good of ['0b7c5b6e-7f0e-4f57-9b8b-6d7a9f1c2e3d', 'debian.12_amd64', 'a.json-x']) {
      assert.equal(safeFileName(good), good);
    }
  });

  it('refuses an identifier naming a directory nested in the cache (vmcatcher layout)', async () => {
    const cache = await layout(true);
    await cache.ensure();
    assert.throws(() => cache.check('partial'), { code: 'IMAGE_IDENTIFIER_UNSAFE' });
    assert.throws(() => cache.check('expired'), { code: 'IMAGE_IDENTIFIER_UNSAFE' });
    cache.check('other');
  });

  it('refuses one directory for two roles', async () => {
    const root = await tempDir();
    const cache = new CacheLayout({
      dir: root,
      partialDir: root,
      expiredDir: join(root, 'x'),
      retentionDays: 1,
    });
    await assert.rejects(cache.ensure(), { code: 'CONFIG_INVALID' });
  });

  it('keeps its own files under names no identifier can take, created per list and image', async () => {
    const cache = await layout();
    await cache.ensure();
    const a = { subscriptionId: 'list-a', identifier: 'img', sha512: 'aa'.repeat(64) };
    const b = { ...a, subscriptionId: 'list-b' };
    const partA = await cache.partialFor(a);
    const partB = await cache.partialFor(b);
    assert.notEqual(partA, partB, 'two lists never share a partial file');
    assert.notEqual(await cache.partialFor(a), partA, 'a new name is unpredictable');
    for (const path of [partA, cache.verifiedFor(partA)]) {
      assert.match(basename(path), /^\./);
      assert.throws(() => safeFileName(basename(path)), { code: 'IMAGE_IDENTIFIER_UNSAFE' });
    }
    await writeFile(partA, 'some');
    assert.equal(await cache.partialFor(a), partA, 'an existing partial file is resumed');
    assert.equal(await cache.partialOf(b), undefined);
    // The sweep keeps what is wanted and removes the rest, and old-layout partial files.
    await writeFile(partB, 'other');
    await writeFile(join(cache.partialDir, `img.${'0'.repeat(16)}.part`), 'legacy');
    await writeFile(join(cache.partialDir, 'img'), 'shown for AvailablePrefix');
    await cache.sweep({ part: new Set([downloadKey(a)]), ok: new Set() });
    assert.deepEqual(await readdir(cache.partialDir), [basename(partA), 'img'].sort());
  });

  it('maps the expired names injectively, whatever the identifiers look like', async () => {
    const cache = await layout();
    await cache.ensure();
    const at = new Date('2030-01-02T03:04:05Z');
    const a = 'img';
    const b = 'img.2030-01-02_03-04-05';
    await writeFile(cache.cached(a), 'A');
    await writeFile(cache.cached(b), 'B');
    const nameA = await cache.expire(a, at);
    const nameB = await cache.expire(b, at);
    assert.notEqual(nameA, nameB);
    assert.equal(await readFile(join(cache.expiredDir, nameA ?? ''), 'utf8'), 'A');
    assert.equal(await readFile(join(cache.expiredDir, nameB ?? ''), 'utf8'), 'B');
  });
});
