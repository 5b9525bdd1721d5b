import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import type { SigningDigest } from '../../shared/cms.js';
import { VmiError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { ChainPolicy } from '../../shared/pki/chain.js';
import { measureUrl } from '../imagefile.js';
import { prepareSigning } from '../signing.js';
import type { Db, WriteLock } from '../store/db.js';
import { allLists, findList } from '../store/lists.js';
import { renderIndexPage, renderListPage, type ListView } from './page.js';
import { handlePush, sendJson, statusOf } from './push.js';
import { serveStatic } from './static.js';
import { ServerTrust } from './trust.js';

/**
 * `vmicaster serve`: the static web root, the list browser pages and the push API on one
 * HTTP(S) server. With TLS, client certificates are requested but optional, so that bearer
 * tokens keep working; a presented certificate must pass the grid rules against the client
 * CAs (clientauth.ts).
 */

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA certificates (PEM bundle file or IGTF directory) that client certificates must chain to. */
  clientCa?: string | undefined;
}

export interface ServerOptions {
  db: Db;
  lock: WriteLock;
  logger: Logger;
  root: string;
  host: string;
  port: number;
  tls?: TlsFiles | undefined;
  maxBodyBytes: number;
  lifetimeDays: number;
  caDir?: string | undefined;
  vomsdir?: string | undefined;
  policy: ChainPolicy;
  digest: SigningDigest;
}

const PUSH_PATH = /^\/api\/v1\/lists\/([^/]+)\/appliances\/([^/]+)$/;
const LIST_PAGE = /^\/lists\/([^/]+?)(\.json)?$/;

/**
 * CA certificates for the TLS handshake: they name acceptable issuers to the client and
 * let OpenSSL link the presented chain. Whether the chain is valid is decided afterwards
 * by the grid rules (clientauth.ts), with the CRLs and namespaces of the same location.
 */
async function clientCaCertificates(location: string): Promise<string[]> {
  const info = await stat(location);
  if (info.isFile()) return [await readFile(location, 'latin1')];
  const names = await readdir(location);
  const read = (n: string) => readFile(`${location}/${n}`, 'latin1');
  return Promise.all(names.filter((n) => /\.(\d+|pem|crt)$/.test(n)).map(read));
}

/**
 * Lets a refused client finish sending (so it reads the answer instead of a reset), but
 * only up to a bound: past it, the connection is cut.
 */
function discardBody(req: IncomingMessage, limit = 64 * 1024 * 1024): void {
  if (req.readableEnded) return;
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) req.destroy();
  });
  req.resume();
}

export class CasterServer {
  private server: Server | undefined;
  /** Trust stores and verified lists, cached between requests. */
  private readonly trust: ServerTrust;

  constructor(private readonly options: ServerOptions) {
    this.trust = new ServerTrust(options);
  }

  async start(): Promise<string> {
    const { tls } = this.options;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.route(req, res).catch((err: unknown) => this.fail(req, res, err));
    };
    if (tls === undefined) {
      this.server = createHttpServer(handler);
    } else {
      const clientCas = tls.clientCa === undefined ? undefined : await clientCaCertificates(tls.clientCa);
      this.server = createHttpsServer(
        {
          cert: await readFile(tls.cert),
          key: await readFile(tls.key),
          requestCert: clientCas !== undefined,
          // The client chain is judged by the grid rules in the push handler (proxies included).
          rejectUnauthorized: false,
          ...(clientCas === undefined ? {} : { ca: clientCas }),
        },
        handler,
      );
    }
    const server = this.server;
    server.requestTimeout = 300_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${tls === undefined ? 'http' : 'https'}://${host}:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const known = err instanceof VmiError;
    const status = known ? statusOf(err) : 500;
    if (!known || status >= 500) this.options.logger.error({ err }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { Connection: 'close' };
    if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="vmicaster"';
    const body = known
      ? { code: err.code, message: err.message }
      : { code: 'INTERNAL', message: 'internal error' };
    sendJson(res, status, body, headers);
    discardBody(req);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const push = PUSH_PATH.exec(url.pathname);
    if (push !== null) {
      const clientCa = this.options.tls?.clientCa;
      if (req.method !== 'PUT') {
        sendJson(res, 405, { code: 'USAGE', message: 'use PUT' }, { Allow: 'PUT' });
        return;
      }
      await handlePush(req, res, decodeURIComponent(push[1] ?? ''), decodeURIComponent(push[2] ?? ''), {
        db: this.options.db,
        lock: this.options.lock,
        logger: this.options.logger,
        root: this.options.root,
        maxBodyBytes: this.options.maxBodyBytes,
        lifetimeDays: this.options.lifetimeDays,
        signing: (list, now) =>
          prepareSigning(this.options.db, {
            vo: list.vo,
            caDir: this.options.caDir,
            vomsdir: this.options.vomsdir,
            policy: this.options.policy,
            digest: this.options.digest,
            now,
            loadStore: (location) => this.trust.store(location),
          }),
        measure: (uri) => measureUrl(uri),
        now: () => new Date(),
        clientTrust:
          clientCa === undefined
            ? undefined
            : async () => ({
                store: await this.trust.store(clientCa),
                policy: this.options.policy,
              }),
      });
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      sendJson(res, 404, { code: 'USAGE', message: `no such API: ${url.pathname}` });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/' || url.pathname === '/lists' || url.pathname === '/lists/') {
      const entries = allLists(this.options.db).map((l) => ({
        id: l.id,
        title: l.title,
        vo: l.vo,
        version: l.version,
      }));
      this.sendHtml(res, req, renderIndexPage(entries));
      return;
    }
    const page = LIST_PAGE.exec(url.pathname);
    if (page !== null) {
      await this.listPage(req, res, decodeURIComponent(page[1] ?? ''), page[2] === '.json');
      return;
    }
    if (!(await serveStatic(req, res, this.options.root, url.pathname))) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  }

  private sendHtml(res: ServerResponse, req: IncomingMessage, html: string, status = 200): void {
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(html),
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : html);
  }

  private async listPage(
    req: IncomingMessage,
    res: ServerResponse,
    listId: string,
    json: boolean,
  ): Promise<void> {
    const list = findList(this.options.db, listId);
    if (list === undefined) {
      if (json) sendJson(res, 404, { code: 'USAGE', message: `no list ${listId}` });
      else
        this.sendHtml(
          res,
          req,
          renderListPage({ listId, fileUrl: undefined, error: { code: 'USAGE', message: 'no such list' } }),
          404,
        );
      return;
    }
    const verified =
      list.publishPath === null
        ? new VmiError('USAGE', 'the list has not been published yet')
        : await this.trust.verifiedView(list.publishPath);
    if (json) {
      if (verified instanceof VmiError)
        sendJson(res, 409, { ok: false, code: verified.code, message: verified.message });
      else sendJson(res, 200, { ok: true, signer: verified.signer, list: verified.list.document });
      return;
    }
    const view: ListView = {
      listId,
      fileUrl: list.publishPath === null ? undefined : await this.urlInRoot(list.publishPath),
      ...(verified instanceof VmiError
        ? { error: { code: verified.code, message: verified.message } }
        : { verified: { signer: verified.signer, list: verified.list } }),
    };
    this.sendHtml(res, req, renderListPage(view));
  }

  /** The URL path of a file under the web root (for the download link), if it is there. */
  private async urlInRoot(path: string): Promise<string | undefined> {
    const root = await realpath(this.options.root).catch(() => this.options.root);
    const file = await realpath(path).catch(() => path);
    const rel = relative(root, file);
    if (rel.startsWith('..') || rel.startsWith(sep)) return undefined;
    return `/${rel.split(sep).map(encodeURIComponent).join('/')}`;
  }
}
