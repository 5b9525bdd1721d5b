import { noAuth, KeystoneAuth, type GlanceAuth } from './auth.js';
import { GlanceBackend } from './backend.js';
import { GlanceClient } from './client.js';
import { resolveGlanceConfig } from './config.js';
import { createGlanceHttp } from './http.js';

/** Builds the backend from its configuration block (validated here if it was not already). */
export function createGlanceBackend(
  raw: unknown,
  deps: { auth?: GlanceAuth; clock?: () => number } = {},
): GlanceBackend {
  const config = resolveGlanceConfig(raw);
  const http = createGlanceHttp(config.caFile);
  const timeoutMs = config.timeoutSeconds * 1000;
  const auth =
    deps.auth ??
    (config.auth === undefined
      ? noAuth(config.endpoint ?? '', config.testIdentity)
      : new KeystoneAuth(config.auth, {
          http,
          timeoutMs,
          endpointOverride: config.endpoint,
          ...(deps.clock === undefined ? {} : { clock: deps.clock }),
        }));
  return new GlanceBackend(config, new GlanceClient(auth, http, timeoutMs));
}
