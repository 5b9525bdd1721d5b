/**
 * Small real servers for vmicaster tests: an HTTP(S) file server on 127.0.0.1 for
 * `image add --url`, with a throw-away certificate made by `openssl req`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface FileServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

export interface TlsMaterial {
  certPath: string;
  keyPath: string;
}

/** A self-signed server certificate for 127.0.0.1 (usable as its own CA in NODE_EXTRA_CA_CERTS). */
export function makeServerCertificate(dir: string, name = 'server'): TlsMaterial {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { stdio: 'ignore' },
  );
  return { certPath, keyPath };
}

/** Serves `files` (URL path -> bytes); anything else is 404. */
export async function serveFiles(files: Map<string, Uint8Array>, tls?: TlsMaterial): Promise<FileServer> {
  const requests: string[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' });
    res.end(body);
  };
  const server: Server =
    tls === undefined
      ? createHttpServer(handler)
      : createHttpsServer({ cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Sent as is (not normalised as a URL would be), for path traversal tests. */
  rawPath?: string;
  /** Client certificate and the CA to trust for the server (HTTPS). */
  cert?: string;
  key?: string;
  ca?: string;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): Record<string, unknown>;
}

/** One HTTP(S) request with node:https, which (unlike fetch) can present a client certificate. */
export async function httpRequest(url: string, options: RequestOptions = {}): Promise<Reply> {
  const { request: httpReq } = await import('node:http');
  const { request: httpsReq } = await import('node:https');
  const target = new URL(url);
  const make = target.protocol === 'https:' ? httpsReq : httpReq;
  return new Promise((resolve, reject) => {
    const req = make(
      {
        hostname: target.hostname,
        port: target.port,
        path: options.rawPath ?? `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers: options.headers,
        ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as Record<string, unknown>,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
