import type { Agent as HttpAgent, ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { Agent as HttpsAgent, RequestOptions as HttpsRequestOptions } from 'node:https';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { VmiError } from './errors.js';

/**
 * One HTTP exchange over node:http(s), as a readable stream of the response body (issue 14,
 * item 6: got and its twenty dependencies cost 11-14 MB of resident memory in every sync).
 * The body is the socket's own chunks, passed on with back-pressure; nothing is decompressed.
 * Redirects are followed by the rules that http.ts hands in; a timeout or an abort destroys
 * the exchange with a coded error.
 */

export interface Timeouts {
  /** lookup + connect + secureConnect: the budget to have a usable socket (summed). */
  lookup?: number;
  connect?: number;
  secureConnect?: number;
  /** From the end of the request until the response head. */
  response?: number;
  /** The socket idle for this long. */
  socket?: number;
  /** The whole exchange, body included. */
  request?: number;
}

export interface StreamOptions {
  method?: string;
  /** Header names in any case; an undefined value is not sent. */
  headers?: Record<string, string | undefined>;
  body?: Buffer | string | Readable;
  timeout?: Timeouts;
  signal?: AbortSignal;
}

export interface ResponseHead {
  statusCode: number;
  headers: IncomingHttpHeaders;
}

/** What the client (http.ts) decides for every exchange. */
export interface Transport {
  agents(url: URL): Promise<{ http: HttpAgent; https: HttpsAgent }>;
  secureContext(): SecureContext;
  userAgent: string;
  /** 0: a redirect goes back to the caller as it is. */
  maxRedirects: number;
  /** Throws a VmiError for a redirect that must not be followed. */
  checkRedirect(from: URL, to: URL): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return Object.assign(new Error('The operation was aborted', { cause: reason }), { name: 'AbortError' });
}

export class ResponseStream extends Readable {
  private req: ClientRequest | undefined;
  private res: IncomingMessage | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly onAbort: () => void;

  constructor(
    url: URL,
    private readonly options: StreamOptions,
    private readonly transport: Transport,
  ) {
    super();
    const signal = options.signal;
    this.onAbort = () => this.destroy(abortError(signal as AbortSignal));
    if (signal?.aborted === true) {
      queueMicrotask(this.onAbort);
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    const whole = options.timeout?.request;
    if (whole !== undefined) this.deadline(url, 'request', whole);
    this.start(url).catch((err: unknown) => this.destroy(err as Error));
  }

  /** Compatibility with a duplex request: the body, if any, was given in the options. */
  end(): this {
    return this;
  }

  override _read(): void {
    this.res?.resume();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.options.signal?.removeEventListener('abort', this.onAbort);
    // A response read to its end leaves the socket to the agent for the next request.
    if (this.res?.complete !== true) {
      this.res?.destroy();
      this.req?.destroy();
    }
    callback(err);
  }

  private deadline(url: URL, phase: string, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.destroy(new VmiError('TIMEOUT', `${url.origin}${url.pathname}: timed out (${phase}, ${ms} ms)`));
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private clear(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private async start(first: URL): Promise<void> {
    let url = first;
    let method = (this.options.method ?? 'GET').toUpperCase();
    let body = this.options.body;
    const headers: Record<string, string> = { 'user-agent': this.transport.userAgent };
    for (const [name, value] of Object.entries(this.options.headers ?? {}))
      if (value !== undefined) headers[name.toLowerCase()] = value;
    for (let redirects = 0; ; redirects++) {
      const res = await this.send(url, method, headers, body);
      if (this.destroyed) {
        res.destroy();
        return;
      }
      const location = res.headers.location;
      // A streamed body cannot be sent twice: its redirect goes back to the caller as it is.
      const resendable = !(body instanceof Readable) || res.statusCode === 303;
      const follow = resendable && this.transport.maxRedirects > 0;
      if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined || !follow) {
        this.deliver(res);
        return;
      }
      res.resume();
      if (redirects >= this.transport.maxRedirects) {
        throw new VmiError(
          'FETCH_FAILED',
          `${first.href}: more than ${this.transport.maxRedirects} redirects`,
        );
      }
      const to = new URL(location, url);
      this.transport.checkRedirect(url, to);
      if (to.origin !== url.origin) {
        // Credentials of one origin never go to another (a registry's token to its storage).
        delete headers['authorization'];
        delete headers['cookie'];
      }
      if (res.statusCode === 303 && method !== 'HEAD') {
        method = 'GET';
        body = undefined;
        delete headers['content-type'];
        delete headers['content-length'];
      }
      url = to;
    }
  }

  private async send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: StreamOptions['body'],
  ): Promise<IncomingMessage> {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new VmiError('FETCH_FAILED', `${url.href}: unsupported protocol ${url.protocol}`);
    }
    const agents = await this.transport.agents(url);
    if (this.destroyed) throw new Error('destroyed');
    const tls = url.protocol === 'https:';
    const sendHeaders = { ...headers };
    if ((typeof body === 'string' || Buffer.isBuffer(body)) && sendHeaders['content-length'] === undefined) {
      sendHeaders['content-length'] = String(Buffer.byteLength(body));
    }
    // The secure context (every CA parsed: about 50 ms) is built only for an https request.
    const secure = (): HttpsRequestOptions & { secureContext: SecureContext } => ({
      method,
      headers: sendHeaders,
      agent: agents.https,
      secureContext: this.transport.secureContext(),
      rejectUnauthorized: true,
    });
    const req = tls
      ? httpsRequest(url, secure())
      : httpRequest(url, { method, headers: sendHeaders, agent: agents.http });
    this.req = req;
    const t = this.options.timeout ?? {};
    return new Promise<IncomingMessage>((resolve, reject) => {
      let answered = false;
      // Before the head, a failure rejects; after it (a reset mid-body), it ends the stream.
      req.on('error', (err) => {
        if (!answered) reject(err);
        else if (this.req === req) this.destroy(err);
      });
      const budget = [t.lookup, t.connect, t.secureConnect].filter((v) => v !== undefined);
      if (budget.length > 0) {
        const timer = this.deadline(
          url,
          'connect',
          budget.reduce((a, b) => a + b, 0),
        );
        req.once('socket', (socket) => {
          if (!socket.connecting) this.clear(timer);
          else socket.once(tls ? 'secureConnect' : 'connect', () => this.clear(timer));
        });
      }
      if (t.socket !== undefined) {
        req.setTimeout(t.socket, () =>
          this.destroy(new VmiError('TIMEOUT', `${url.origin}${url.pathname}: timed out (socket idle)`)),
        );
      }
      let waiting: NodeJS.Timeout | undefined;
      if (t.response !== undefined) {
        const ms = t.response;
        req.once('finish', () => (waiting = this.deadline(url, 'response', ms)));
      }
      req.once('response', (res) => {
        answered = true;
        this.clear(waiting);
        resolve(res);
      });
      if (body instanceof Readable) {
        body.once('error', (err) => req.destroy(err));
        body.pipe(req);
      } else req.end(body);
    });
  }

  private deliver(res: IncomingMessage): void {
    this.res = res;
    res.on('error', (err) => this.destroy(err));
    res.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) res.pause();
    });
    res.once('end', () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      this.push(null);
    });
    this.emit('response', res);
  }
}
