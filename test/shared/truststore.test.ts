import assert from 'node:assert/strict';
import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import { loadTrustStore, TrustStoreCache } from '../../src/shared/pki/trustdir.js';
import { listFor, makeGrid, signDocument, type Grid } from '../helpers/grid.js';
import { subjectHash } from '../helpers/pki.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCrl } from '../helpers/x509.js';
import { ourVerdict } from './table.js';

/** Loading trust material from disk: IGTF layout, symlinks, both hash names, reloads. */

describe('trust store on disk', () => {
  let grid: Grid;
  before(async () => {
    grid = await makeGrid();
  });

  it('follows symlinks, deduplicates old and new hash names, reads .pem anchors, warns about junk', async () => {
    const real = await tempDir('vmicast-real-');
    const dir = join(await tempDir('vmicast-links-'), 'certificates');
    await mkdir(dir);
    await writeFile(join(real, 'Root.pem'), grid.root.pem);
    await writeFile(join(real, 'Issuing.pem'), grid.intermediate.pem);
    for (const [name, cert] of [
      ['Root.pem', grid.root],
      ['Issuing.pem', grid.intermediate],
    ] as const) {
      await symlink(join(real, name), join(dir, name));
      await symlink(join(real, name), join(dir, `${subjectHash(cert)}.0`));
      await symlink(join(real, name), join(dir, `${subjectHash(cert, true)}.0`));
      await writeFile(join(dir, `${subjectHash(cert)}.r0`), makeCrl({ issuer: cert }).pem);
    }
    await writeFile(join(dir, 'deadbeef.0'), 'not a certificate');
    await writeFile(join(dir, 'README.txt'), 'ignored');
    await symlink(join(real, 'missing.pem'), join(dir, 'dangling.pem'));
    const store = await loadTrustStore(dir);
    assert.equal(store.certificates.length, 2);
    assert.equal(store.crls.length, 2);
    assert.equal(store.warnings.length, 2, store.warnings.join('\n'));
    assert.match(store.warnings.join('\n'), /deadbeef\.0/);
    assert.match(store.warnings.join('\n'), /dangling\.pem/);
    const signed = signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }), grid.publisher);
    assert.equal(ourVerdict({ name: 'links', signed, trust: { caDir: dir, store }, code: null }).code, null);
  });

  it('refuses a trust store location that does not exist (CONFIG_INVALID)', async () => {
    await assert.rejects(
      loadTrustStore(join(grid.dir, 'nowhere')),
      (e: unknown) => e instanceof VmiError && e.code === 'CONFIG_INVALID',
    );
  });

  it('TrustStoreCache reloads when fetch-crl replaces a CRL, and only then', async () => {
    const dir = join(await tempDir('vmicast-cache-'), 'certificates');
    await mkdir(dir);
    const copy = async (name: string, text: string, age = 0) => {
      await writeFile(join(dir, name), text);
      const when = new Date(Date.now() - age);
      await utimes(join(dir, name), when, when);
    };
    const hash = subjectHash(grid.intermediate);
    await copy(`${subjectHash(grid.root)}.0`, grid.root.pem);
    await copy(`${subjectHash(grid.root)}.r0`, makeCrl({ issuer: grid.root }).pem);
    await copy(`${hash}.0`, grid.intermediate.pem);
    await copy(`${hash}.r0`, makeCrl({ issuer: grid.intermediate }).pem, 60_000);
    const cache = new TrustStoreCache(dir);
    const first = await cache.current();
    assert.equal(await cache.current(), first, 'unchanged files: the same store');
    const signed = signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }), grid.publisher);
    assert.equal(
      ourVerdict({ name: 'before', signed, trust: { caDir: dir, store: first }, code: null }).code,
      null,
    );
    await copy(`${hash}.r0`, makeCrl({ issuer: grid.intermediate, revoked: [grid.publisher] }).pem);
    const second = await cache.current();
    assert.notEqual(second, first);
    assert.equal(
      ourVerdict({ name: 'after', signed, trust: { caDir: dir, store: second }, code: null }).code,
      'CERT_REVOKED',
    );
    cache.invalidate();
    assert.notEqual(await cache.current(), second);
  });
});
