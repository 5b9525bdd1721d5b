/**
 * The distribution spec's authentication: a request answered 401 names a scheme in
 * WWW-Authenticate. Basic: retried with the configured credentials. Bearer: a token is
 * fetched from the realm (`realm?service=&scope=`, with Basic credentials when configured,
 * anonymous otherwise) and the request retried with `Authorization: Bearer`. Tokens are
 * cached per realm, service and scope until `expires_in` (60 s when absent).
 *
 * The realm must be https (the registry itself is always reached over https, so its own
 * origin is https too); credentials therefore only ever travel over TLS. Neither credentials
 * nor tokens appear in any error message.
 */
import type { HttpClient } from '../http.js';
import { VmiError } from '../errors.js';
import { shown } from './reference.js';
import { exchange, header, type Answer } from './transport.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN_ANSWER = 64 * 1024;
const DEFAULT_LIFETIME_S = 60;

/** Parses `Scheme k="v", k2=v2, Scheme2 ...` (RFC 7235) into challenges. */
export function parseChallenges(value: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(value) ? value.join(', ') : (value ?? '');
  const challenges: Challenge[] = [];
  const token = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)/y;
  let pos = 0;
  let current: Challenge | undefined;
  while (pos < text.length) {
    token.lastIndex = pos;
    const name = token.exec(text)?.[1]?.toLowerCase();
    if (name === undefined) break;
    pos = token.lastIndex;
    const rest = text.slice(pos);
    const param = /^\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/.exec(rest);
    if (param !== null && current !== undefined) {
      current.params[name] = param[1]?.replace(/\\(.)/g, '$1') ?? param[2] ?? '';
      pos += param[0].length;
    } else {
      current = { scheme: name, params: {} };
      challenges.push(current);
      pos += /^\s*,?/.exec(rest)?.[0].length ?? 0;
    }
  }
  return challenges;
}

/** The scope string of the distribution token spec, e.g. `repository:a/b:pull,push`. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

export const CATALOG_SCOPE = 'registry:catalog:*';

function refused(message: string): VmiError {
  return new VmiError('HTTP_STATUS', message, { details: { status: 401 } });
}

export class RegistryAuth {
  private scheme: 'none' | 'basic' | 'bearer' | undefined;
  private bearer: { realm: URL; service: string | undefined } | undefined;
  private readonly tokens = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly http: HttpClient,
    private readonly credentials: Credentials | undefined,
    private readonly now: () => number = Date.now,
  ) {
    if (credentials !== undefined && (credentials.username === '' || credentials.username.includes(':'))) {
      throw new VmiError('CONFIG_INVALID', 'registry user name must be non-empty and contain no ":"');
    }
  }

  get known(): boolean {
    return this.scheme !== undefined;
  }

  /** What `/v2/` answered: 200 (no authentication) or a 401 challenge. */
  learn(answer: Answer): void {
    if (answer.status !== 401) {
      this.scheme = 'none';
      return;
    }
    this.adopt(parseChallenges(answer.headers['www-authenticate']));
  }

  private basic(): string | undefined {
    if (this.credentials === undefined) return undefined;
    const { username, password } = this.credentials;
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  private adopt(challenges: Challenge[]): Challenge {
    const chosen =
      challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen === undefined)
      throw refused('registry asks for an authentication scheme vmicast does not speak');
    if (chosen.scheme === 'basic') {
      this.scheme = 'basic';
      return chosen;
    }
    const realmText = chosen.params['realm'] ?? '';
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new VmiError('FETCH_FAILED', `registry token realm is not a URL: ${shown(realmText)}`);
    }
    if (realm.protocol !== 'https:' || realm.username !== '' || realm.password !== '') {
      throw new VmiError(
        'FETCH_FAILED',
        `refusing a token realm that is not plain https (${realm.protocol}//${realm.host})`,
      );
    }
    this.scheme = 'bearer';
    this.bearer = { realm, service: chosen.params['service'] };
    return chosen;
  }

  /** The error for a request still answered 401 after the challenge was met. */
  refusal(path: string): VmiError {
    const what =
      this.scheme === 'basic'
        ? 'refused the configured credentials'
        : this.credentials === undefined
          ? 'refused anonymous access'
          : 'refused access with the token its service granted to the configured credentials';
    return refused(`registry ${what} to ${path} (HTTP 401)`);
  }

  /** The Authorization value for a request needing `scope`, or undefined (none known yet). */
  async headerFor(scope: string): Promise<string | undefined> {
    if (this.scheme === 'basic') return this.basic();
    if (this.scheme !== 'bearer') return undefined;
    return `Bearer ${await this.token(scope)}`;
  }

  /** After a 401: the Authorization value to retry with; throws when a retry cannot help. */
  async challenged(answer: Answer, scope: string, sent: string | undefined): Promise<string> {
    const chosen = this.adopt(parseChallenges(answer.headers['www-authenticate']));
    if (chosen.scheme === 'basic') {
      const value = this.basic();
      if (value === undefined) throw refused('registry requires credentials and none are configured');
      if (sent === value) throw refused('registry refused the configured credentials (HTTP 401)');
      return value;
    }
    const wanted = chosen.params['scope'] ?? scope;
    this.tokens.delete(this.cacheKey(wanted));
    return `Bearer ${await this.token(wanted)}`;
  }

  private cacheKey(scope: string): string {
    return `${this.bearer?.realm.href ?? ''}\n${this.bearer?.service ?? ''}\n${scope}`;
  }

  private async token(scope: string): Promise<string> {
    const key = this.cacheKey(scope);
    const cached = this.tokens.get(key);
    if (cached !== undefined && this.now() < cached.expiresAt) return cached.value;
    if (this.bearer === undefined) throw refused('registry token realm unknown');
    const { realm, service } = this.bearer;
    const url = new URL(realm.href);
    if (service !== undefined) url.searchParams.append('service', service);
    for (const one of scope.split(' ').filter((s) => s !== '')) url.searchParams.append('scope', one);
    const answer = await exchange(this.http, url, {
      headers: { authorization: this.basic(), accept: 'application/json' },
      maxBytes: MAX_TOKEN_ANSWER,
      timeoutMs: 30_000,
    });
    if (answer.status === 401 || answer.status === 403) {
      throw refused(
        `registry token service refused ${this.credentials === undefined ? 'anonymous access' : 'the configured credentials'} (HTTP ${answer.status})`,
      );
    }
    if (answer.status !== 200) {
      throw new VmiError('HTTP_STATUS', `registry token service answered HTTP ${answer.status}`, {
        details: { status: answer.status },
      });
    }
    const value = this.parseToken(answer);
    this.tokens.set(key, value);
    return value.value;
  }

  private parseToken(answer: Answer): { value: string; expiresAt: number } {
    let doc: unknown;
    try {
      doc = JSON.parse(answer.body.toString('utf8'));
    } catch {
      throw new VmiError(
        'LIST_MALFORMED',
        `registry token service answered no JSON (${header(answer, 'content-type') ?? 'no type'})`,
      );
    }
    const record = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    const value = record['token'] ?? record['access_token'];
    if (typeof value !== 'string' || !TOKEN_RE.test(value)) {
      throw new VmiError('LIST_MALFORMED', 'registry token service answered no usable token');
    }
    const given = record['expires_in'];
    const lifetimeS =
      typeof given === 'number' && Number.isFinite(given) && given > 0 ? given : DEFAULT_LIFETIME_S;
    // Renew a little early, so a token does not expire between the check and its use.
    const lifetimeMs = lifetimeS * 1000;
    return { value, expiresAt: this.now() + lifetimeMs - Math.min(10_000, lifetimeMs / 10) };
  }
}
