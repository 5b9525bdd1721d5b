import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { getProxyForUrl } from 'proxy-from-env';
import { VmiError } from './errors.js';
import { ResponseStream, type ResponseHead, type StreamOptions, type Transport } from './http-request.js';

/**
 * The HTTP client of both programs, over node:http(s) (http-request.ts): TLS always verified
 * (system CAs plus the grid CA directory plus configured extras), proxies from
 * `http_proxy`/`https_proxy`/`no_proxy`, no decompression (the bytes must be the bytes that
 * were signed), at most 5 redirects, none from https to http, the Authorization header never
 * sent to another origin, and no retries of its own (callers decide).
 */

export type { ResponseHead, StreamOptions } from './http-request.js';

export interface HttpClientOptions {
  /** Extra CA certificates in PEM (grid CAs, a site CA for Glance, test CAs). */
  extraCaPem?: string[];
  userAgent?: string;
  /** False: a redirect is handed back as it is (an API whose token must not travel). */
  followRedirects?: boolean;
  /** False: never through the environment's proxy (a site-internal service). */
  proxyFromEnv?: boolean;
}

const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

function systemCas(): string[] {
  const cas = [...rootCertificates];
  try {
    cas.push(readFileSync(SYSTEM_BUNDLE, 'latin1'));
  } catch {
    // No Debian bundle: Node's compiled-in roots remain.
  }
  const extra = process.env['NODE_EXTRA_CA_CERTS'];
  if (extra !== undefined && extra !== SYSTEM_BUNDLE) {
    try {
      cas.push(readFileSync(extra, 'latin1'));
    } catch {
      // An unreadable extra bundle adds nothing; Node itself warns about it.
    }
  }
  return cas;
}

const proxyAgents = new Map<string, { http: HttpAgent; https: HttpsAgent }>();

/**
 * Agents for `url`: through the environment's proxy, or undefined for a direct connection.
 * The proxy agent modules are loaded only when a proxy applies (issue 14, item 6).
 */
async function agentsFor(
  url: string | URL,
  ca: () => string[],
): Promise<{ http?: HttpAgent; https?: HttpsAgent }> {
  const proxy = getProxyForUrl(url);
  if (proxy === '') return {};
  let agents = proxyAgents.get(proxy);
  if (agents === undefined) {
    const [{ HttpProxyAgent }, { HttpsProxyAgent }] = await Promise.all([
      import('http-proxy-agent'),
      import('https-proxy-agent'),
    ]);
    // Another request may have made them meanwhile: one pair per proxy.
    agents = proxyAgents.get(proxy) ?? {
      // Plain HTTP goes to the proxy as an absolute-URI request (site proxies often allow
      // CONNECT to port 443 only); HTTPS tunnels with CONNECT and is verified end to end.
      http: new HttpProxyAgent(proxy, { keepAlive: true }),
      // agent-base agents derive from http.Agent but serve https requests too.
      https: new HttpsProxyAgent(proxy, { keepAlive: true, ca: ca() }) as unknown as HttpsAgent,
    };
    proxyAgents.set(proxy, agents);
  }
  return agents;
}

/** Redirects go to https, or stay on the scheme they came from (SPEC.md section 5 step 2). */
function checkRedirect(from: URL, to: URL): void {
  if (to.protocol === 'https:') return;
  if (to.protocol === 'http:' && from.protocol === 'http:') return;
  throw new VmiError(
    'FETCH_FAILED',
    `refusing redirect from ${from.protocol}// to ${to.protocol}// (${to.origin})`,
  );
}

export interface HttpClient {
  /** The response body as a stream; it emits 'response' with the head first. */
  stream(url: string | URL, options?: StreamOptions): ResponseStream;
  /** The whole answer in memory (small answers and tests). */
  get(
    url: string | URL,
    options?: StreamOptions & { responseType?: 'buffer'; maxBytes?: number },
  ): Promise<ResponseHead & { body: Buffer }>;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  // Read when a TLS connection first needs them: a plain-http sync never parses the bundle.
  let cas: string[] | undefined;
  const ca = () => (cas ??= [...systemCas(), ...(options.extraCaPem ?? [])]);
  // One context for every connection: built once, not from the CA list at each handshake.
  let context: SecureContext | undefined;
  // Agents of this client only: a connection verified with one CA set never serves another.
  const direct = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  const transport: Transport = {
    userAgent: options.userAgent ?? 'vmicast',
    maxRedirects: options.followRedirects === false ? 0 : 5,
    checkRedirect,
    secureContext: () => (context ??= createSecureContext({ ca: ca() })),
    async agents(url) {
      const proxied = options.proxyFromEnv === false ? {} : await agentsFor(url, ca);
      return { http: proxied.http ?? direct.http, https: proxied.https ?? direct.https };
    },
  };
  const stream = (url: string | URL, opts: StreamOptions = {}) =>
    new ResponseStream(new URL(url), opts, transport);
  return {
    stream,
    async get(url, { responseType: _buffer, maxBytes = Infinity, ...opts } = {}) {
      const response = stream(url, opts);
      const head = await responseOf(response);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          response.destroy();
          const where = new URL(url);
          throw new VmiError(
            'FETCH_FAILED',
            `${where.origin}${where.pathname}: answer larger than ${maxBytes} bytes`,
          );
        }
        chunks.push(chunk as Buffer);
      }
      return { statusCode: head.statusCode, headers: head.headers, body: Buffer.concat(chunks) };
    },
  };
}

/** Maps a network failure to a coded error; keeps VmiErrors as they are. */
export function transferError(err: unknown, what: string): VmiError {
  if (err instanceof VmiError) return err;
  if (err instanceof Error && err.cause instanceof VmiError) return err.cause;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ETIMEDOUT') {
    return new VmiError('TIMEOUT', `${what}: timed out (${(err as Error).message})`, { cause: err });
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new VmiError('TIMEOUT', `${what}: aborted`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new VmiError('FETCH_FAILED', `${what}: ${code === undefined ? '' : `${code} `}${message}`, {
    cause: err,
  });
}

/** Waits for the status line and headers of a response stream (its body is read afterwards). */
export function responseOf(request: NodeJS.EventEmitter): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
}
