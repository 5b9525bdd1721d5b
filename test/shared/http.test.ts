import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import { createHttpClient, responseOf, transferError } from '../../src/shared/http.js';

/**
 * The project's HTTP client over node:http (src/shared/http.ts, http-request.ts): what
 * got did for it before (issue 14, item 6), at the edges the catcher tests do not reach.
 */

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const handlers = new Map<string, Handler>();
let server: Server;
let base: string;
const http = createHttpClient();

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const handler = handlers.get(req.url ?? '');
      if (handler === undefined) res.writeHead(404).end();
      else handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** The coded error a request ends with. */
async function failure(run: () => Promise<unknown>): Promise<VmiError> {
  try {
    await run();
  } catch (err) {
    return transferError(err, 'test');
  }
  return assert.fail('expected a failure');
}

describe('HTTP client (src/shared/http.ts)', () => {
  it('turns a POST answered with 303 into a GET without the body', async () => {
    const seen: string[] = [];
    handlers.set('/post', (req, body, res) => {
      seen.push(`${req.method} ${body}`);
      res.writeHead(303, { location: '/after' }).end();
    });
    handlers.set('/after', (req, body, res) => {
      seen.push(`${req.method} ${body}`);
      res.writeHead(200).end('done');
    });
    const answer = await http.get(`${base}/post`, { method: 'POST', body: 'payload' });
    assert.equal(answer.body.toString(), 'done');
    assert.deepEqual(seen, ['POST payload', 'GET ']);
  });

  it('sends a streamed body, and hands back a redirect it cannot follow with it', async () => {
    handlers.set('/put', (_req, body, res) => res.writeHead(307, { location: `/got?${body}` }).end());
    const answer = await http.get(`${base}/put`, { method: 'PUT', body: Readable.from(['a', 'b']) });
    assert.equal(answer.statusCode, 307);
    assert.equal(answer.headers.location, '/got?ab');
  });

  it('drops the Authorization header on a redirect to another origin, keeps it on its own', async () => {
    const auth: (string | undefined)[] = [];
    handlers.set('/a', (req, _b, res) => {
      auth.push(req.headers.authorization);
      res.writeHead(302, { location: `${base.replace('127.0.0.1', 'localhost')}/b` }).end();
    });
    handlers.set('/b', (req, _b, res) => {
      auth.push(req.headers.authorization);
      res.writeHead(200).end();
    });
    handlers.set('/same', (req, _b, res) => {
      auth.push(req.headers.authorization);
      res.writeHead(302, { location: '/b' }).end();
    });
    await http.get(`${base}/a`, { headers: { Authorization: 'Bearer secret' } });
    await http.get(`${base}/same`, { headers: { Authorization: 'Bearer secret' } });
    assert.deepEqual(auth, ['Bearer secret', undefined, 'Bearer secret', 'Bearer secret']);
  });

  it('reports a body cut short by the server as a failed fetch', async () => {
    handlers.set('/cut', (_req, _b, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('x'.repeat(100), () => res.socket?.destroy());
    });
    const err = await failure(() => http.get(`${base}/cut`));
    assert.equal(err.code, 'FETCH_FAILED');
  });

  it('times out waiting for the response head, and when the socket goes idle', async () => {
    handlers.set('/silent', () => undefined);
    handlers.set('/drip', (_req, _b, res) => res.writeHead(200, { 'content-length': '10' }).write('x'));
    let err = await failure(() => http.get(`${base}/silent`, { timeout: { response: 100 } }));
    assert.equal(err.code, 'TIMEOUT');
    err = await failure(() => http.get(`${base}/drip`, { timeout: { socket: 100 } }));
    assert.equal(err.code, 'TIMEOUT');
    err = await failure(() => http.get(`${base}/drip`, { timeout: { request: 100 } }));
    assert.equal(err.code, 'TIMEOUT');
  });

  it('stops when its signal is aborted, before or during the exchange', async () => {
    handlers.set('/slow', () => undefined);
    const early = AbortSignal.abort();
    let err = await failure(() => http.get(`${base}/slow`, { signal: early }));
    assert.match(err.message, /aborted/);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    err = await failure(() => http.get(`${base}/slow`, { signal: controller.signal }));
    assert.equal(err.code, 'TIMEOUT');
  });

  it('hands a redirect back when told not to follow, and ignores the proxy when told to', async () => {
    handlers.set('/moved', (_req, _b, res) => res.writeHead(302, { location: '/elsewhere' }).end());
    const saved = process.env['http_proxy'];
    // A proxy that does not exist: a request through it would fail.
    process.env['http_proxy'] = 'http://127.0.0.1:1';
    try {
      const api = createHttpClient({ followRedirects: false, proxyFromEnv: false });
      const answer = await api.get(`${base}/moved`);
      assert.equal(answer.statusCode, 302);
      assert.equal(answer.headers.location, '/elsewhere');
    } finally {
      if (saved === undefined) delete process.env['http_proxy'];
      else process.env['http_proxy'] = saved;
    }
  });

  it('refuses a scheme other than http and https', async () => {
    const stream = http.stream('ftp://127.0.0.1/x');
    const err = await failure(() => responseOf(stream));
    assert.equal(err.code, 'FETCH_FAILED');
    assert.match(err.message, /unsupported protocol/);
  });
});
