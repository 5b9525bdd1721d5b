import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { VmiError } from '../../../shared/errors.js';
import { createHttpClient } from '../../../shared/http.js';
import type { Timeouts } from '../../../shared/http-request.js';
import { VERSION } from '../../../shared/version.js';

/**
 * The HTTP of Keystone and Glance, over the shared node:http(s) client (issue 14, item 6:
 * got cost a sync into Glance 11 MB): TLS always verified (system CAs plus the configured
 * extra CA), no retries and no redirects of its own (a redirect would carry the token
 * elsewhere), no environment proxy: the Image API is a site-internal service.
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

export interface GlanceRequest {
  method: Method;
  headers: Record<string, string>;
  body?: string | Readable;
  timeout: Timeouts;
  signal?: AbortSignal | undefined;
}

export interface GlanceResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface GlanceHttp {
  request(url: string, request: GlanceRequest): Promise<GlanceResponse>;
}

/** An Image API or Keystone answer is JSON of a few hundred KiB at most (a page of 200 images). */
const MAX_ANSWER = 16 * 1024 * 1024;

export function createGlanceHttp(caFile: string | undefined): GlanceHttp {
  let extraCaPem: string[] | undefined;
  if (caFile !== undefined) {
    try {
      extraCaPem = [readFileSync(caFile, 'latin1')];
    } catch (err) {
      throw new VmiError('CONFIG_INVALID', `glance caFile ${caFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const client = createHttpClient({
    ...(extraCaPem === undefined ? {} : { extraCaPem }),
    userAgent: `vmicast/${VERSION}`,
    followRedirects: false,
    proxyFromEnv: false,
  });
  return {
    async request(url, { method, headers, body, timeout, signal }) {
      const reply = await client.get(url, {
        method,
        headers,
        timeout,
        maxBytes: MAX_ANSWER,
        ...(body === undefined ? {} : { body }),
        ...(signal === undefined ? {} : { signal }),
      });
      return { status: reply.statusCode, headers: reply.headers, text: reply.body.toString('utf8') };
    },
  };
}

/** Methods whose repetition changes nothing more (a JSON patch sets values). */
const REPEATABLE = new Set<Method>(['GET', 'HEAD', 'DELETE', 'PATCH']);
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);

/**
 * `send`, once more when it met a closed connection and could not have changed anything
 * twice: Node keeps connections alive, and Glance may close an idle one just as it is
 * reused ("socket hang up"). Streamed bodies (uploads) and creations are never repeated.
 */
export async function onceMore<T>(
  method: Method,
  hasStream: boolean,
  signal: AbortSignal | undefined,
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (!REPEATABLE.has(method) || hasStream || signal?.aborted === true || !STALE_CONNECTION.has(code)) {
      throw err;
    }
    return send();
  }
}
