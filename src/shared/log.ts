import { createRequire } from 'node:module';
import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * One root logger per program, a child per component. Secrets never reach the log:
 * the paths below are redacted wherever they appear in a logged object.
 */

export const REDACT_PATHS = [
  'password',
  'token',
  'authorization',
  'privateKey',
  'key',
  'secret',
  '*.password',
  '*.token',
  '*.authorization',
  '*.Authorization',
  '*.privateKey',
  '*.key',
  '*.secret',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'Authorization',
  '*.headers.Authorization',
  'req.headers.Authorization',
  '*.headers.cookie',
  'req.headers.cookie',
  'accessToken',
  '*.accessToken',
  'applicationCredentialSecret',
  '*.applicationCredentialSecret',
];

export type { Logger };

export interface LogOptions {
  level?: string | undefined;
  /** 1 (stdout, the daemon under journald) or 2 (stderr, one-shot commands). */
  fd?: 1 | 2;
  /** Readable lines instead of JSON; defaults to "is the destination a terminal". */
  pretty?: boolean | undefined;
}

export function createLogger(name: string, options: LogOptions = {}): Logger {
  const fd = options.fd ?? 2;
  const isTty = fd === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  const base: LoggerOptions = {
    name,
    level: options.level ?? process.env['VMICAST_LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
  };
  if (options.pretty ?? isTty) {
    // Loaded only for a terminal: the daemon and scripted commands write JSON and never need
    // it (issue 14, item 6). pino-pretty is CommonJS, so require keeps this synchronous.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(base, pretty({ destination: fd, sync: true, colorize: isTty, ignore: 'pid,hostname' }));
  }
  return pino(base, pino.destination({ fd, sync: true }));
}

/** A logger that drops everything (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
