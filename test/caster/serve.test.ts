import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseRange, serveStatic } from '../../src/caster/serve/static.js';
import { ensureBuilt, startCaster, stopCaster } from '../helpers/caster-cli.js';
import { httpRequest } from '../helpers/caster-http.js';
import { tempDir } from '../helpers/tmp.js';

describe('the static web root', () => {
  let server: ChildProcess;
  let base: string;
  const image = randomBytes(100_000);

  before(async () => {
    ensureBuilt();
    const dir = await tempDir('vmicaster-serve-');
    const root = join(dir, 'www');
    await mkdir(join(root, 'images'), { recursive: true });
    await writeFile(join(root, 'images', 'disk.qcow2'), image);
    await writeFile(join(root, 'list.smime'), 'MIME-Version: 1.0\n');
    await writeFile(join(root, 'index.json'), '{}');
    await writeFile(join(root, '.list.smime.0123456789ab.tmp'), 'half written');
    await writeFile(join(dir, 'secret.txt'), 'outside the root');
    await symlink(join(dir, 'secret.txt'), join(root, 'escape.txt'));
    const started = await startCaster(['serve', '--listen', '127.0.0.1:0', '--root', root, '--json'], {
      env: { VMICASTER_HOME: join(dir, 'home') },
    });
    server = started.child;
    base = started.first['url'] as string;
  });

  after(async () => {
    await stopCaster(server);
  });

  it('serves files with their type, validators and ranges', async () => {
    const full = await httpRequest(`${base}/images/disk.qcow2`);
    assert.equal(full.status, 200);
    assert.equal(full.headers['content-type'], 'application/octet-stream');
    assert.equal(full.headers['content-length'], String(image.length));
    assert.equal(full.headers['accept-ranges'], 'bytes');
    const etag = String(full.headers['etag']);
    assert.match(etag, /^"[0-9a-f-]+"$/);
    assert.equal(
      (await httpRequest(`${base}/list.smime`)).headers['content-type'],
      'text/plain; charset=utf-8',
    );
    assert.equal((await httpRequest(`${base}/index.json`)).headers['content-type'], 'application/json');

    assert.equal(
      (await httpRequest(`${base}/images/disk.qcow2`, { headers: { 'if-none-match': etag } })).status,
      304,
    );
    assert.equal(
      (await httpRequest(`${base}/images/disk.qcow2`, { headers: { 'if-none-match': '"other"' } })).status,
      200,
    );
    const since = String(full.headers['last-modified']);
    assert.equal(
      (await httpRequest(`${base}/images/disk.qcow2`, { headers: { 'if-modified-since': since } })).status,
      304,
    );

    const tail = await httpRequest(`${base}/images/disk.qcow2`, { headers: { range: 'bytes=99990-' } });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers['content-range'], `bytes 99990-99999/${image.length}`);
    assert.equal(tail.headers['content-length'], '10');
    const stale = await httpRequest(`${base}/images/disk.qcow2`, {
      headers: { range: 'bytes=0-9', 'if-range': '"stale"' },
    });
    assert.equal(stale.status, 200, 'a changed file is sent whole');
    const current = await httpRequest(`${base}/images/disk.qcow2`, {
      headers: { range: 'bytes=0-9', 'if-range': etag },
    });
    assert.equal(current.status, 206);
    const beyond = await httpRequest(`${base}/images/disk.qcow2`, { headers: { range: 'bytes=200000-' } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${image.length}`);
    const head = await httpRequest(`${base}/images/disk.qcow2`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  it('never serves anything outside the root, dot files or directories', async () => {
    for (const path of [
      '/../secret.txt',
      '/images/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/images/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/escape.txt',
      '/.list.smime.0123456789ab.tmp',
      '/images/',
      '/images',
      '/%00',
      '/images%5c..%5c..%5csecret.txt',
    ]) {
      const reply = await httpRequest(base, { rawPath: path });
      assert.equal(reply.status, 404, path);
      assert.ok(!reply.text.includes('outside the root'), path);
    }
    const post = await httpRequest(`${base}/list.smime`, { method: 'POST' });
    assert.equal(post.status, 405);
  });

  it('parses byte ranges the way RFC 9110 says', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 });
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,3-4', 10), undefined);
    assert.equal(parseRange('items=0-1', 10), undefined);
  });
});

describe('the static web root while lists are published', () => {
  it('answers every request with one whole version while new files are renamed over it', async () => {
    const root = await tempDir('vmicaster-serve-race-');
    const path = join(root, 'list.smime');
    const versions = [Buffer.alloc(3_000, 'a'), Buffer.alloc(70_000, 'b'), Buffer.alloc(500, 'c')];
    await writeFile(path, versions[0] ?? '');
    const server = createServer((req, res) => {
      void serveStatic(req, res, root, '/list.smime').then((found) => {
        if (!found) res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/list.smime`;
    let stop = false;
    let renames = 0;
    // What `vmicaster publish` does: write a temporary file, rename it over the list.
    const publisher = (async () => {
      for (let i = 1; !stop; i++) {
        const tmp = join(root, `.list.smime.${i}.tmp`);
        await writeFile(tmp, versions[i % versions.length] ?? '');
        await rename(tmp, path);
        renames++;
      }
    })();
    try {
      const reader = async () => {
        for (let i = 0; i < 100; i++) {
          const body = Buffer.from(await (await fetch(url)).arrayBuffer());
          assert.ok(
            versions.some((v) => v.equals(body)),
            `${body.length} bytes that are no version of the file`,
          );
        }
      };
      await Promise.all([reader(), reader(), reader(), reader()]);
    } finally {
      stop = true;
      await publisher;
      server.closeAllConnections();
      server.close();
    }
    assert.ok(renames > 10, `only ${renames} publications happened during the requests`);
  });
});
