/**
 * A bearer-token issuer of the tests' own, in the role Harbor's core or docker's auth server
 * plays for a distribution registry: an https server on 127.0.0.1 that answers
 * `GET /token?service=&scope=` with a JWT (RS256) signed by a key made at run time.
 *
 * Fact (distribution 2.8.2, registry/auth/token): a token header with `x5c` is verified by
 * building the chain from its first certificate to `auth.token.rootcertbundle` (extended key
 * usage "any"), so the JWT carries the signer's certificate, issued by the test CA, and the
 * registry's root bundle is the test CA. `kid` would need libtrust's key-ID format instead.
 * The registry allows 60 s of clock skew on `exp`/`nbf`: an expired token is not refused by
 * the registry for another minute, so expiry tests count the client's token requests.
 */
import { randomBytes, sign } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { localhostServerCert } from './tls.js';
import { issue, type TestCert } from './x509.js';

export const TOKEN_SERVICE = 'vmicast-test-registry';
export const TOKEN_ISSUER = 'vmicast-test-issuer';

export interface TokenRequest {
  /** The Authorization header as received (tests assert on it; never printed). */
  authorization: string | undefined;
  scopes: string[];
  service: string | null;
}

export interface TokenIssuer {
  /** The realm, e.g. https://127.0.0.1:41234/token */
  realm: string;
  requests: TokenRequest[];
  /** `expires_in` of the next tokens (seconds). */
  lifetimeS: number;
  /** The JSON field the token is answered in (both appear in the wild). */
  field: 'token' | 'access_token';
  /** A token for `scopes`, as this issuer would grant it to a known user. */
  mint(scopes: string[]): string;
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

function grant(
  scope: string,
  known: boolean,
  anonymousPull: boolean,
): { type: string; name: string; actions: string[] } | undefined {
  const parts = scope.split(':');
  if (parts.length < 3) return undefined;
  const actions = (parts.pop() ?? '').split(',');
  const type = parts.shift() ?? '';
  // Known users get what they ask for; anonymous callers get nothing (the registry then says 401).
  // With anonymousPull (a Harbor public project), anonymous callers may pull.
  const anonymous = anonymousPull ? actions.filter((a) => a === 'pull') : [];
  return { type, name: parts.join(':'), actions: known ? actions : anonymous };
}

export async function startTokenIssuer(
  ca: TestCert,
  users: Record<string, string>,
  options: { anonymousPull?: boolean } = {},
): Promise<TokenIssuer> {
  const signer = issue({
    subject: '/DC=org/DC=example/O=Hosts/CN=registry token signer',
    issuer: ca,
    ca: false,
    keyUsage: ['digitalSignature'],
  });
  const tls = localhostServerCert(ca);
  const jwt = (scopes: string[], known: boolean, lifetimeS: number): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [Buffer.from(signer.der).toString('base64')] };
    const claims = {
      iss: TOKEN_ISSUER,
      sub: known ? 'user' : '',
      aud: TOKEN_SERVICE,
      exp: now + lifetimeS,
      nbf: now - 5,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access: scopes
        .map((s) => grant(s, known, options.anonymousPull === true))
        .filter((g) => g !== undefined),
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), signer.key.privateKey))}`;
  };
  const state = { lifetimeS: 300, field: 'token' as 'token' | 'access_token' };
  const requests: TokenRequest[] = [];
  const server: Server = createServer({ cert: tls.pem, key: tls.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const authorization = req.headers.authorization;
    const scopes = url.searchParams.getAll('scope');
    requests.push({ authorization, scopes, service: url.searchParams.get('service') });
    let known = false;
    if (authorization !== undefined) {
      const [user, ...rest] = Buffer.from(authorization.replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':');
      known = authorization.startsWith('Basic ') && user !== undefined && users[user] === rest.join(':');
      if (!known) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
    }
    const body = { [state.field]: jwt(scopes, known, state.lifetimeS), expires_in: state.lifetimeS };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `https://127.0.0.1:${port}/token`,
    requests,
    get lifetimeS() {
      return state.lifetimeS;
    },
    set lifetimeS(value: number) {
      state.lifetimeS = value;
    },
    get field() {
      return state.field;
    },
    set field(value: 'token' | 'access_token') {
      state.field = value;
    },
    mint: (scopes) => jwt(scopes, true, 300),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
