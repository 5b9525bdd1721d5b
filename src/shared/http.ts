import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import got, { RequestError, type BeforeRedirectHook, type BeforeRequestHook, type Got } from 'got';
import { getProxyForUrl } from 'proxy-from-env';
import { VmiError } from './errors.js';

/**
 * The HTTP client of both programs (got 14): TLS always verified (system CAs plus the grid
 * CA directory plus configured extras), proxies from `http_proxy`/`https_proxy`/`no_proxy`,
 * no automatic decompression (the bytes must be the bytes that were signed), no silent
 * downgrade from https to http on redirects, and no retries of its own (callers decide).
 */

export interface HttpClientOptions {
  /** Extra CA certificates in PEM (grid CAs, a site CA for Glance, test CAs). */
  extraCaPem?: string[];
  userAgent?: string;
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
export async function agentsFor(
  url: string | URL,
  ca: string[],
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
      https: new HttpsProxyAgent(proxy, { keepAlive: true, ca }) as unknown as HttpsAgent,
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

export function createHttpClient(options: HttpClientOptions = {}): Got {
  const ca = [...systemCas(), ...(options.extraCaPem ?? [])];
  return got.extend({
    retry: { limit: 0 },
    decompress: false,
    throwHttpErrors: false,
    followRedirect: true,
    maxRedirects: 5,
    https: { certificateAuthority: ca, rejectUnauthorized: true },
    headers: { 'user-agent': options.userAgent ?? 'vmicast' },
    hooks: {
      beforeRequest: [
        // The URL is known only now (init hooks run before got merges it in).
        (async (opts) => {
          if (opts.url !== undefined) opts.agent = await agentsFor(opts.url, ca);
        }) satisfies BeforeRequestHook,
      ],
      beforeRedirect: [
        (async (opts, response) => {
          const to = opts.url instanceof URL ? opts.url : new URL(String(opts.url));
          checkRedirect(new URL(response.url), to);
          opts.agent = await agentsFor(to, ca);
        }) satisfies BeforeRedirectHook,
      ],
    },
  });
}

/** Maps a got/network failure to a coded error; keeps VmiErrors as they are. */
export function transferError(err: unknown, what: string): VmiError {
  if (err instanceof VmiError) return err;
  if (err instanceof RequestError) {
    if (err.cause instanceof VmiError) return err.cause;
    if (err.code === 'ETIMEDOUT' || err.name === 'TimeoutError') {
      return new VmiError('TIMEOUT', `${what}: timed out (${err.message})`, { cause: err });
    }
    return new VmiError('FETCH_FAILED', `${what}: ${err.code} ${err.message}`, { cause: err });
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new VmiError('TIMEOUT', `${what}: aborted`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new VmiError('FETCH_FAILED', `${what}: ${message}`, { cause: err });
}

export interface ResponseHead {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
}

/** Waits for the status line and headers of a got stream (its body is read afterwards). */
export function responseOf(request: NodeJS.EventEmitter): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
}
