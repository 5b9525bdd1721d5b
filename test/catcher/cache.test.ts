import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CacheLayout } from '../../src/catcher/cache.js';
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
    await writeFile(cache.verified('abc'), 'verified bytes');
    await cache.promote('abc');
    assert.equal(await readFile(cache.cached('abc'), 'utf8'), 'verified bytes');
    assert.equal(await cache.exists(cache.verified('abc')), false);
    const at = new Date('2030-01-02T03:04:05Z');
    const name = await cache.expire('abc', at);
    assert.equal(name, 'abc.2030-01-02_03-04-05');
    assert.equal(await readFile(join(cache.expiredDir, name), 'utf8'), 'verified bytes');
    assert.equal((await stat(join(cache.expiredDir, name))).mtime.getTime(), at.getTime());
    assert.equal(await cache.exists(cache.cached('abc')), false);
  });
});
