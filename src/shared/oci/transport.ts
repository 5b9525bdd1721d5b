/**
 * One HTTP exchange with a registry or its token service through the project's HTTP client (shared/http.ts)
 * (TLS verified, proxies, no https-to-http redirects): the body is read up to a cap, and a
 * failure becomes a VmiError WITHOUT the transport error as its cause, since such errors may carry the
 * request options, headers included (an Authorization header must never reach a log).
 */
import type { Readable } from 'node:stream';
import { VmiError } from '../errors.js';
import { responseOf, transferError, type HttpClient } from '../http.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface ExchangeOptions {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT';
  headers?: Record<string, string | undefined>;
  body?: Buffer | Readable;
  /** Largest body read; more is refused with LIST_TOO_LARGE. */
  maxBytes: number;
  timeoutMs?: number;
}

/** `METHOD /path` without the query, which may hold upload state. */
export function describe(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

export function header(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A coded network failure whose message is kept and whose cause is dropped. */
function cleanError(err: unknown, what: string): VmiError {
  const coded = transferError(err, what);
  return new VmiError(
    coded.code,
    coded.message,
    coded.details === undefined ? undefined : { details: { ...coded.details } },
  );
}

async function readCapped(stream: Readable, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > maxBytes) {
      stream.destroy();
      throw new VmiError('LIST_TOO_LARGE', `${what}: answer larger than ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export async function exchange(http: HttpClient, url: URL, options: ExchangeOptions): Promise<Answer> {
  const method = options.method ?? 'GET';
  const what = describe(method, url);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {}))
    if (value !== undefined) headers[name] = value;
  const timeout = options.timeoutMs ?? 60_000;
  const request = http.stream(url, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: options.body }),
    timeout: { lookup: 30_000, connect: 30_000, secureConnect: 30_000, response: timeout },
  });
  try {
    // The request stream is a duplex: nothing more is written when the body was given.
    if (options.body === undefined && method !== 'GET' && method !== 'HEAD') request.end();
    const response = await responseOf(request);
    const length = Number(response.headers['content-length'] ?? NaN);
    if (Number.isFinite(length) && length > options.maxBytes && method !== 'HEAD') {
      request.destroy();
      throw new VmiError(
        'LIST_TOO_LARGE',
        `${what}: answer of ${length} bytes, more than ${options.maxBytes}`,
      );
    }
    const body = await readCapped(request, options.maxBytes, what);
    return { status: response.statusCode, headers: response.headers, body };
  } catch (err) {
    request.destroy();
    throw cleanError(err, what);
  }
}

export function statusError(answer: Answer, what: string): VmiError {
  return new VmiError('HTTP_STATUS', `${what}: registry answered HTTP ${answer.status}`, {
    details: { status: answer.status },
  });
}
