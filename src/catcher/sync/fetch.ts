import { VmiError } from '../../shared/errors.js';
import { responseOf, transferError, type HttpClient } from '../../shared/http.js';

/**
 * Step 2 of SPEC.md section 5: the conditional, size-capped, time-bounded fetch of a
 * signed list. Redirect and TLS rules live in the shared HTTP client.
 */

export interface ListFetchOptions {
  etag: string | null;
  lastModified: string | null;
  username: string | null;
  password: string | null;
  maxBytes: number;
  deadlineMs: number;
  signal?: AbortSignal | undefined;
}

export type ListFetch =
  | { status: 'not-modified' }
  | { status: 'ok'; bytes: Uint8Array; etag: string | null; lastModified: string | null };

function header(value: string | string[] | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

export async function fetchList(
  http: HttpClient,
  url: string,
  options: ListFetchOptions,
): Promise<ListFetch> {
  const headers: Record<string, string> = { accept: 'application/pkcs7-mime, multipart/signed, */*' };
  if (options.etag !== null) headers['if-none-match'] = options.etag;
  if (options.lastModified !== null) headers['if-modified-since'] = options.lastModified;
  if (options.username !== null) {
    headers['authorization'] =
      `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  const request = http.stream(url, {
    headers,
    timeout: { request: options.deadlineMs },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    const response = await responseOf(request);
    if (response.statusCode === 304) return { status: 'not-modified' };
    if (response.statusCode !== 200) {
      throw new VmiError('HTTP_STATUS', `${url} answered HTTP ${response.statusCode}`, {
        details: { status: response.statusCode },
      });
    }
    const declared = Number(response.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      throw new VmiError(
        'LIST_TOO_LARGE',
        `${url} announces ${declared} bytes; the limit is ${options.maxBytes}`,
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > options.maxBytes) {
        throw new VmiError('LIST_TOO_LARGE', `${url} sent more than the limit of ${options.maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    return {
      status: 'ok',
      bytes: new Uint8Array(Buffer.concat(chunks)),
      etag: header(response.headers['etag']),
      lastModified: header(response.headers['last-modified']),
    };
  } catch (err) {
    throw transferError(err, url);
  } finally {
    request.destroy();
  }
}
