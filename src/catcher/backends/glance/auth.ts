import { VmiError } from '../../../shared/errors.js';
import { isApplicationCredential, type GlanceAuthConfig, type GlanceTestIdentity } from './config.js';
import type { GlanceHttp } from './http.js';

/**
 * How the Glance client reaches the Image API: a Keystone v3 token plus the image
 * endpoint from the token's catalog, or a fixed endpoint without any token (a Glance
 * without Keystone, as the tests run it). Credentials never appear in messages.
 */

export interface GlanceSession {
  /** Image API root without /v2 and without a trailing slash. */
  endpoint: string;
  /** X-Auth-Token value; undefined in no-auth mode. */
  token: string | undefined;
  /** Project the token is scoped to (undefined in no-auth mode without a test identity). */
  projectId: string | undefined;
  /** Extra request headers (the test identity of no-auth mode). */
  headers?: Readonly<Record<string, string>>;
}

export interface GlanceAuth {
  session(signal?: AbortSignal): Promise<GlanceSession>;
  /** The API refused this token (401): forget it so that the next session authenticates again. */
  invalidate(token: string | undefined): void;
  /**
   * The same user scoped to another project (by ID), or undefined when the credential cannot
   * be scoped elsewhere (an application credential belongs to one project; no-auth mode).
   */
  scopedTo?(projectId: string): GlanceAuth | undefined;
}

/** Strips a trailing slash and a version suffix ("/v2", "/v2.0"): the client adds /v2 itself. */
export function imageApiRoot(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '');
}

/**
 * No token. With a test identity, every request claims it through the headers Glance's
 * ContextMiddleware reads when no Keystone middleware sits in front of it.
 */
export function noAuth(endpoint: string, identity?: GlanceTestIdentity): GlanceAuth {
  const session: GlanceSession = {
    endpoint: imageApiRoot(endpoint),
    token: undefined,
    projectId: identity?.projectId,
    ...(identity === undefined
      ? {}
      : {
          headers: {
            'x-identity-status': 'Confirmed',
            'x-project-id': identity.projectId,
            'x-user-id': identity.userId,
            'x-roles': identity.roles.join(','),
          },
        }),
  };
  return {
    session: () => Promise.resolve(session),
    invalidate: () => undefined,
  };
}

export interface KeystoneAuthOptions {
  http: GlanceHttp;
  timeoutMs: number;
  /** Use this Image API root instead of the catalog's. */
  endpointOverride?: string | undefined;
  /** Milliseconds since the epoch; tests pass a fake clock. */
  clock?: () => number;
  /** Scope tokens to this project ID instead of the configured project name (password auth). */
  projectId?: string | undefined;
}

interface CachedToken {
  session: GlanceSession;
  /** Renew from this instant on (a margin before the real expiry). */
  renewAt: number;
}

interface CatalogEndpoint {
  interface?: unknown;
  region?: unknown;
  region_id?: unknown;
  url?: unknown;
}

interface TokenBody {
  token?: {
    expires_at?: unknown;
    project?: { id?: unknown };
    catalog?: { type?: unknown; endpoints?: CatalogEndpoint[] }[];
  };
}

/** Keystone v3 token for password or application-credential auth, cached until shortly before expiry. */
export class KeystoneAuth implements GlanceAuth {
  private cached: CachedToken | undefined;
  private pending: Promise<CachedToken> | undefined;
  private readonly clock: () => number;
  private readonly rescoped = new Map<string, KeystoneAuth>();
  /** Number of token requests sent (for tests and metrics). */
  issued = 0;

  constructor(
    private readonly config: GlanceAuthConfig,
    private readonly options: KeystoneAuthOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  async session(signal?: AbortSignal): Promise<GlanceSession> {
    if (this.cached !== undefined && this.clock() < this.cached.renewAt) return this.cached.session;
    // Concurrent callers share one token request.
    this.pending ??= this.authenticate(signal).finally(() => {
      this.pending = undefined;
    });
    this.cached = await this.pending;
    return this.cached.session;
  }

  invalidate(token: string | undefined): void {
    if (this.cached !== undefined && this.cached.session.token === token) this.cached = undefined;
  }

  scopedTo(projectId: string): KeystoneAuth | undefined {
    if (isApplicationCredential(this.config)) return undefined;
    let auth = this.rescoped.get(projectId);
    if (auth === undefined) {
      auth = new KeystoneAuth(this.config, { ...this.options, projectId });
      this.rescoped.set(projectId, auth);
    }
    return auth;
  }

  private async authenticate(signal: AbortSignal | undefined): Promise<CachedToken> {
    const url = `${keystoneRoot(this.config.url)}/auth/tokens`;
    this.issued += 1;
    let response;
    try {
      response = await this.options.http.request(url, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify(requestBody(this.config, this.options.projectId)),
        timeout: { request: this.options.timeoutMs },
        signal,
      });
    } catch (err) {
      // Only the message: never anything of the request (the password is in its body).
      throw new VmiError('BACKEND_FAILED', `Keystone ${url}: ${(err as Error).message}`);
    }
    if (response.status !== 201 && response.status !== 200) {
      throw new VmiError(
        'BACKEND_FAILED',
        `Keystone refused the token request (HTTP ${response.status}): ${keystoneMessage(response.text)}`,
      );
    }
    const token = response.headers['x-subject-token'];
    if (typeof token !== 'string' || token === '') {
      throw new VmiError('BACKEND_FAILED', 'Keystone answered without an X-Subject-Token header');
    }
    const body = parseJson(response.text);
    const expiresAt = Date.parse(typeof body.token?.expires_at === 'string' ? body.token.expires_at : '');
    if (Number.isNaN(expiresAt)) {
      throw new VmiError('BACKEND_FAILED', 'Keystone token without a valid expires_at');
    }
    const endpoint = this.options.endpointOverride ?? this.imageEndpoint(body);
    const projectId = body.token?.project?.id;
    const now = this.clock();
    // Renew 5 minutes early, or half-way through a short-lived token.
    const margin = Math.min(300_000, Math.max(0, (expiresAt - now) / 2));
    return {
      session: {
        endpoint: imageApiRoot(endpoint),
        token,
        projectId: typeof projectId === 'string' ? projectId : undefined,
      },
      renewAt: expiresAt - margin,
    };
  }

  private imageEndpoint(body: TokenBody): string {
    const wanted = this.config.interface ?? 'public';
    const region = this.config.region;
    for (const service of body.token?.catalog ?? []) {
      if (service.type !== 'image') continue;
      for (const e of service.endpoints ?? []) {
        if (e.interface !== wanted || typeof e.url !== 'string') continue;
        if (region !== undefined && e.region_id !== region && e.region !== region) continue;
        return e.url;
      }
    }
    const where = region === undefined ? '' : `, region ${region}`;
    throw new VmiError(
      'BACKEND_FAILED',
      `no image endpoint (interface ${wanted}${where}) in the Keystone catalog`,
    );
  }
}

/** Keystone v3 root: the configured URL, "/v3" added when it names the service root. */
export function keystoneRoot(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

function requestBody(config: GlanceAuthConfig, projectId: string | undefined): unknown {
  if (isApplicationCredential(config)) {
    return {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: {
            id: config.applicationCredentialId,
            secret: config.applicationCredentialSecret,
          },
        },
      },
    };
  }
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: {
          user: {
            name: config.username,
            domain: { name: config.userDomain ?? 'Default' },
            password: config.password,
          },
        },
      },
      scope: {
        project:
          projectId === undefined
            ? { name: config.project, domain: { name: config.projectDomain ?? 'Default' } }
            : { id: projectId },
      },
    },
  };
}

function parseJson(text: string): TokenBody {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null) return value;
  } catch {
    // fall through
  }
  throw new VmiError('BACKEND_FAILED', 'Keystone answered with a body that is not a JSON object');
}

function keystoneMessage(text: string): string {
  try {
    const value = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof value.error?.message === 'string') return value.error.message.slice(0, 300);
  } catch {
    // not JSON: use the raw text below
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 300) || '(empty body)';
}
