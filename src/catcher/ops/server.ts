import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { VmiError } from '../../shared/errors.js';
import type { TriggerOutcome } from './cycle.js';
import type { CatcherMetrics } from './metrics.js';
import { renderStatusPage, STATUS_PAGE_CSP } from './page.js';
import type { SiteStatus } from './status.js';

/**
 * The daemon's status endpoint: `/healthz` (liveness), `/api/v1/status` (the site status
 * JSON), `/metrics` (Prometheus), `/` (the status page for people) and `POST /api/v1/sync`
 * (a cycle now; bearer token from `status.tokenFile`, refused when none is configured).
 * Loopback by default: everything but the sync trigger is readable without a token.
 */

export interface StatusServerDeps {
  log: Logger;
  status: () => Promise<SiteStatus>;
  metrics: CatcherMetrics;
  /** Liveness: the database answers. */
  alive: () => boolean;
  triggerSync: () => TriggerOutcome;
  tokenFile: () => string | null;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (m === null || port > 65535)
    throw new VmiError('CONFIG_INVALID', `status.listen must be HOST:PORT, not ${listen}`);
  return { host: m[1] ?? m[2] ?? '', port };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`, headers);
}

const READ_ROUTES = new Set(['/', '/index.html', '/healthz', '/api/v1/status', '/metrics']);

export class StatusServer {
  private server: Server | undefined;
  private address: string | undefined;

  constructor(private readonly deps: StatusServerDeps) {}

  /** The base URL once listening, e.g. http://127.0.0.1:9465/ */
  get url(): string | undefined {
    return this.address;
  }

  async listen(listen: string): Promise<string> {
    const { host, port } = parseListen(listen);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.deps.log.error({ err, path: req.url }, 'status request failed');
        if (!res.headersSent)
          sendJson(res, 500, { code: 'INTERNAL', message: 'internal error; see the log' });
        else res.destroy();
      });
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new VmiError('CONFIG_INVALID', `cannot listen on ${listen}: ${err.code ?? err.message}`, {
            cause: err,
          }),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    const bound = server.address() as AddressInfo;
    this.server = server;
    this.address = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/`;
    return this.address;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    if (path === '/api/v1/sync') {
      if (method !== 'POST')
        return sendJson(res, 405, { code: 'USAGE', message: 'use POST' }, { allow: 'POST' });
      return this.sync(req, res);
    }
    if (!READ_ROUTES.has(path))
      return sendJson(res, 404, { code: 'USAGE', message: `no such resource: ${path}` });
    if (method !== 'GET' && method !== 'HEAD') {
      return sendJson(res, 405, { code: 'USAGE', message: 'use GET' }, { allow: 'GET, HEAD' });
    }
    switch (path) {
      case '/healthz':
        return this.deps.alive()
          ? send(res, 200, 'text/plain', 'ok\n')
          : send(res, 503, 'text/plain', 'database unavailable\n');
      case '/api/v1/status':
        return sendJson(res, 200, await this.deps.status());
      case '/metrics': {
        this.deps.metrics.refresh(await this.deps.status());
        return send(res, 200, this.deps.metrics.contentType, await this.deps.metrics.text());
      }
      default:
        return send(res, 200, 'text/html; charset=utf-8', renderStatusPage(await this.deps.status()), {
          'content-security-policy': STATUS_PAGE_CSP,
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
        });
    }
  }

  private async sync(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume(); // the body carries nothing
    const file = this.deps.tokenFile();
    if (file === null) {
      return sendJson(res, 403, {
        code: 'USAGE',
        message: 'triggering a sync over HTTP is off: set status.tokenFile in the configuration',
      });
    }
    let expected: string;
    try {
      expected = (await readFile(file, 'utf8')).trim();
      if ((await stat(file)).mode & 0o077) {
        this.deps.log.warn({ tokenFile: file }, 'the token file is readable by other users; chmod 600 it');
      }
    } catch (err) {
      this.deps.log.error({ err, tokenFile: file }, 'cannot read the token file');
      return sendJson(res, 403, { code: 'CONFIG_INVALID', message: 'the token file cannot be read' });
    }
    const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (expected === '' || given === undefined || !timingSafeEqual(sha256(given), sha256(expected))) {
      this.deps.log.warn({ remote: req.socket.remoteAddress }, 'sync request with a missing or wrong token');
      return sendJson(
        res,
        401,
        { code: 'USAGE', message: 'a valid bearer token is needed' },
        { 'www-authenticate': 'Bearer realm="vmicatcher"' },
      );
    }
    const outcome = this.deps.triggerSync();
    this.deps.log.info({ outcome }, 'sync requested over HTTP');
    if (outcome === 'stopped')
      return sendJson(res, 503, { code: 'USAGE', message: 'vmicatcher is stopping' });
    return sendJson(res, 202, { ok: true, accepted: true, state: outcome });
  }
}
