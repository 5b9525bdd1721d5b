/**
 * A real node:http(s) server on 127.0.0.1:0 for tests: serves files with ETag,
 * Last-Modified, conditional GET and Range, optional Basic auth, and injects faults
 * (status codes, resets, stalls, drips, wrong lengths, endless bodies, redirects).
 */
import { createHash } from 'node:crypto';
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'drip'; bytesPerSecond: number }
  | { kind: 'ignore-range' }
  | { kind: 'content-length'; value: number }
  | { kind: 'endless' }
  | { kind: 'redirect'; location: string }
  | { kind: 'body'; bytes: Uint8Array };

interface Entry {
  body: Uint8Array;
  lastModified: Date;
  contentType: string;
  auth?: { user: string; password: string };
}

export interface RequestLog {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  status: number;
  bytes: number;
}

export class TestServer {
  readonly files = new Map<string, Entry>();
  readonly faults = new Map<string, Fault[]>();
  readonly log: RequestLog[] = [];
  private readonly sockets = new Set<import('node:net').Socket>();

  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(tls?: { cert: string; key: string }): Promise<TestServer> {
    const holder: { instance?: TestServer } = {};
    const handler = (req: IncomingMessage, res: ServerResponse) => holder.instance?.handle(req, res);
    const server =
      tls === undefined ? createHttp(handler) : createHttps({ cert: tls.cert, key: tls.key }, handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    holder.instance = new TestServer(server, `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`);
    return holder.instance;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  set(path: string, body: Uint8Array | string, options: Partial<Omit<Entry, 'body'>> = {}): string {
    this.files.set(path, {
      body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
      lastModified: options.lastModified ?? new Date(),
      contentType: options.contentType ?? 'application/octet-stream',
      ...(options.auth === undefined ? {} : { auth: options.auth }),
    });
    return this.url(path);
  }

  /** Serves another TLS certificate from now on (https only); open connections are closed. */
  useCertificate(tls: { cert: string; key: string }): void {
    // Started with a certificate, the server is a node:https one (its type says node:http).
    (this.server as unknown as { setSecureContext(c: { cert: string; key: string }): void }).setSecureContext(
      tls,
    );
    for (const s of this.sockets) s.destroy();
  }

  /** Queues faults for the next requests of `path`, one per request. */
  fault(path: string, ...faults: Fault[]): void {
    this.faults.set(path, [...(this.faults.get(path) ?? []), ...faults]);
  }

  requests(path: string): RequestLog[] {
    return this.log.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private record(req: IncomingMessage, status: number, bytes: number): void {
    this.log.push({
      method: req.method ?? 'GET',
      path: (req.url ?? '').split('?')[0] ?? '',
      headers: req.headers,
      status,
      bytes,
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const fault = this.faults.get(path)?.shift();
    const entry = this.files.get(path);
    if (fault?.kind === 'status') return this.finish(req, res, fault.status);
    if (fault?.kind === 'redirect') {
      res.setHeader('location', fault.location);
      return this.finish(req, res, 302);
    }
    if (entry === undefined) return this.finish(req, res, 404);
    if (entry.auth !== undefined) {
      const expected = `Basic ${Buffer.from(`${entry.auth.user}:${entry.auth.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return this.finish(req, res, 401);
    }
    const body = fault?.kind === 'body' ? fault.bytes : entry.body;
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    res.setHeader('etag', etag);
    res.setHeader('last-modified', entry.lastModified.toUTCString());
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('content-type', entry.contentType);
    if (req.headers['if-none-match'] === etag) return this.finish(req, res, 304);
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range !== null && fault?.kind !== 'ignore-range' && Number(range[1]) < body.length) {
      start = Number(range[1]);
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    } else {
      res.statusCode = 200;
    }
    const slice = body.subarray(start);
    if (fault?.kind === 'endless') return this.endless(req, res);
    res.setHeader('content-length', slice.length);
    if (fault?.kind === 'reset')
      return this.partial(req, res, slice, fault.afterBytes, () => res.socket?.destroy());
    if (fault?.kind === 'stall') return this.partial(req, res, slice, fault.afterBytes, () => undefined);
    if (fault?.kind === 'drip') return this.drip(req, res, slice, fault.bytesPerSecond);
    if (fault?.kind === 'content-length') {
      // Written by hand: node:http refuses to send a body that disagrees with its length.
      const socket = res.socket;
      this.record(req, 200, slice.length);
      res.detachSocket(socket as import('node:net').Socket);
      socket?.end(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${fault.value}\r\nconnection: close\r\n\r\n`),
          slice,
        ]),
      );
      return;
    }
    this.record(req, res.statusCode, req.method === 'HEAD' ? 0 : slice.length);
    res.end(req.method === 'HEAD' ? undefined : slice);
  }

  private finish(req: IncomingMessage, res: ServerResponse, status: number): void {
    this.record(req, status, 0);
    res.statusCode = status;
    res.end();
  }

  private partial(
    req: IncomingMessage,
    res: ServerResponse,
    body: Uint8Array,
    after: number,
    then: () => void,
  ): void {
    this.record(req, res.statusCode, Math.min(after, body.length));
    res.write(body.subarray(0, after), () => setTimeout(then, 20));
  }

  private drip(req: IncomingMessage, res: ServerResponse, body: Uint8Array, rate: number): void {
    this.record(req, res.statusCode, body.length);
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed || sent >= body.length) {
        clearInterval(timer);
        if (!res.destroyed) res.end();
        return;
      }
      const n = Math.max(1, Math.floor(rate / 10));
      res.write(body.subarray(sent, sent + n));
      sent += n;
    }, 100);
    res.on('close', () => clearInterval(timer));
  }

  private endless(req: IncomingMessage, res: ServerResponse): void {
    this.record(req, res.statusCode, -1);
    const chunk = new Uint8Array(64 * 1024).fill(7);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) {
        /* keep writing until backpressure */
      }
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  }
}
