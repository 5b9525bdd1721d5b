/**
 * The Glance client against a small fake image API whose server closes the connection of
 * chosen requests without an answer, as Glance does now and then with an idle keep-alive
 * connection that the client reuses at that moment.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { noAuth } from '../../../src/catcher/backends/glance/auth.js';
import { GlanceClient } from '../../../src/catcher/backends/glance/client.js';
import { createGlanceHttp } from '../../../src/catcher/backends/glance/http.js';
import { VmiError } from '../../../src/shared/errors.js';

/** Listens on a free loopback port; the base URL. */
async function serve(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function stop(server: Server): void {
  server.closeAllConnections();
  server.close();
}

describe('Glance client: a connection closed without an answer', () => {
  const seen: string[] = [];
  let drops = 0;
  let base = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      if (drops > 0) {
        drops--;
        req.socket.destroy();
        return;
      }
      const status = req.method === 'POST' ? 201 : req.method === 'DELETE' ? 204 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 204 ? '' : JSON.stringify({ id: 'img-1', status: 'active' }));
    });
  });
  const client = () => new GlanceClient(noAuth(base), createGlanceHttp(undefined), 5000);

  before(async () => {
    base = await serve(server);
  });
  after(() => stop(server));
  beforeEach(() => {
    seen.length = 0;
    drops = 0;
  });

  it('sends a read, a metadata patch and a deletion once more', async () => {
    drops = 1;
    assert.equal((await client().getImage('img-1'))?.id, 'img-1');
    drops = 1;
    assert.equal((await client().patchImage('img-1', [{ op: 'add', path: '/a', value: 'b' }])).id, 'img-1');
    drops = 1;
    assert.equal(await client().deleteImage('img-1'), 'deleted');
    assert.deepEqual(seen, [
      'GET /v2/images/img-1',
      'GET /v2/images/img-1',
      'PATCH /v2/images/img-1',
      'PATCH /v2/images/img-1',
      'DELETE /v2/images/img-1',
      'DELETE /v2/images/img-1',
    ]);
  });

  it('sends a read at most twice, then fails with BACKEND_FAILED', async () => {
    drops = 2;
    await assert.rejects(
      client().getImage('img-1'),
      (err: unknown) =>
        err instanceof VmiError && err.code === 'BACKEND_FAILED' && /ECONNRESET/.test(err.message),
    );
    assert.equal(seen.length, 2);
  });

  it('never repeats a creation: it may have been made', async () => {
    drops = 1;
    await assert.rejects(
      client().createImage({ name: 'x' }),
      (err: unknown) => err instanceof VmiError && err.code === 'BACKEND_FAILED',
    );
    assert.deepEqual(seen, ['POST /v2/images']);
  });
});

describe('Glance client: an answer too large for an API reply', () => {
  let sent = 0;
  let base = '';
  // An image API (or whatever answers at its address) that streams an endless JSON string.
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id": "img-1", "name": "');
    const chunk = Buffer.alloc(1 << 20, 'a');
    const more = () => {
      while (sent < 64 << 20 && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end('"}');
    };
    more();
  });

  before(async () => {
    base = await serve(server);
  });
  after(() => stop(server));

  it('stops reading it and fails with BACKEND_FAILED', async () => {
    const client = new GlanceClient(noAuth(base), createGlanceHttp(undefined), 5000);
    await assert.rejects(
      client.getImage('img-1'),
      (err: unknown) =>
        err instanceof VmiError && err.code === 'BACKEND_FAILED' && /larger than/.test(err.message),
    );
    assert.ok(sent < 64 << 20, `the server sent ${sent} bytes: the client read it all`);
  });
});
