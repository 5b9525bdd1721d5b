import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { connect, rootCertificates } from 'node:tls';
import type { TrustStore } from '../shared/pki/truststore.js';
import type { CompatProblem } from './readiness.js';

/**
 * Can readers that trust only the system CA bundle (atrope fetches with it) download the list
 * from its `hv:uri`? An https URL is checked by one TLS handshake against the system bundle and,
 * when that fails, one against the grid trust store, to say whether the certificate is grid-only.
 * Offline-safe: a URL that cannot be reached in time yields no problem (nothing is known).
 */

const HANDSHAKE_MS = 3000;

/** Where distributions keep the system bundle; `SSL_CERT_FILE` (OpenSSL's variable) wins. */
const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
];

export async function systemBundle(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const candidates = env['SSL_CERT_FILE'] === undefined ? SYSTEM_BUNDLES : [env['SSL_CERT_FILE']];
  for (const path of candidates) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) return text;
  }
  return rootCertificates.join('\n');
}

/** Whether the server's chain validates against `ca`; undefined when no handshake happened. */
function handshake(url: URL, ca: string | string[]): Promise<boolean | undefined> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port: url.port === '' ? 443 : Number(url.port),
      servername: isIP(host) === 0 ? host : undefined,
      ca,
      // Only to read the verdict below; nothing is sent over this connection.
      rejectUnauthorized: false,
    });
    const done = (result: boolean | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(undefined), HANDSHAKE_MS);
    socket.once('secureConnect', () => done(socket.authorized));
    socket.once('error', () => done(undefined));
  });
}

export async function urlProblems(uri: string, grid: TrustStore): Promise<CompatProblem[]> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return [];
  }
  if (url.protocol !== 'https:') return [];
  const bySystem = await handshake(url, await systemBundle());
  if (bySystem !== false) return [];
  const gridCas = grid.certificates.map((c) => new X509Certificate(c.der).toString());
  const byGrid = gridCas.length === 0 ? false : await handshake(url, gridCas);
  const why =
    byGrid === true
      ? 'is served with a certificate that only grid CAs trust'
      : 'is served with a certificate that the system CA bundle does not trust';
  return [
    {
      code: 'CONFIG_INVALID',
      message:
        `the list URL ${uri} ${why}: atrope fetches lists with the system CA bundle only and ` +
        'cannot download it; serve the list with a certificate from a CA in the system bundle ' +
        '(or over http: the list is signed)',
    },
  ];
}
