import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import got, { type Got } from 'got';
import { VmiError } from '../../../shared/errors.js';
import { VERSION } from '../../../shared/version.js';

/**
 * The got instance for Keystone and Glance: TLS always verified (Node's roots, the
 * system bundle and the configured extra CA), no retries and no redirects of its own
 * (a redirect would carry the token elsewhere), no environment proxy: the Image API is a
 * site-internal service.
 */

const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export function createGlanceHttp(caFile: string | undefined): Got {
  let certificateAuthority: string[] | undefined;
  if (caFile !== undefined) {
    let extra: string;
    try {
      extra = readFileSync(caFile, 'latin1');
    } catch (err) {
      throw new VmiError('CONFIG_INVALID', `glance caFile ${caFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // Giving Node a CA list replaces its defaults: keep them.
    certificateAuthority = [...rootCertificates, ...readOptional(SYSTEM_BUNDLE), extra];
  }
  return got.extend({
    headers: { 'user-agent': `vmicast/${VERSION}` },
    https: {
      rejectUnauthorized: true,
      ...(certificateAuthority === undefined ? {} : { certificateAuthority }),
    },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
  });
}

function readOptional(path: string): string[] {
  try {
    return [readFileSync(path, 'latin1')];
  } catch {
    return [];
  }
}
