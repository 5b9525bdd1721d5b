import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { SigningDigest } from '../shared/cms.js';
import { VmiError } from '../shared/errors.js';
import { resolveHome } from '../shared/home.js';
import { createLogger, type Logger } from '../shared/log.js';
import { openCasterDatabase, WriteLock, type Db } from './store/db.js';

/**
 * The composition root of one command: configuration (validated, defaulted and frozen at
 * the edge), the state directory, the database with its write lock, and the logger.
 */

export interface CasterConfig {
  home?: string;
  caDir?: string;
  vomsDir?: string;
  lifetimeDays?: number;
  digest?: SigningDigest;
  /** Refuse, instead of warning, what some reader will not take (docs/caster.md, "Readers"). */
  strictCompat?: boolean;
}

const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    home: { type: 'string', minLength: 1 },
    caDir: { type: 'string', minLength: 1 },
    vomsDir: { type: 'string', minLength: 1 },
    lifetimeDays: { type: 'integer', minimum: 1, maximum: 3650 },
    digest: { enum: ['sha256', 'sha384', 'sha512'] },
    strictCompat: { type: 'boolean' },
  },
} as const;

const validateConfig = new Ajv({ allErrors: false, strict: true }).compile(configSchema);

export async function loadConfig(path: string | undefined): Promise<Readonly<CasterConfig>> {
  if (path === undefined) return Object.freeze({});
  let value: unknown;
  try {
    value = parseYaml(await readFile(path, 'utf8')) ?? {};
  } catch (err) {
    throw new VmiError('CONFIG_INVALID', `cannot read configuration ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!validateConfig(value)) {
    const first = validateConfig.errors?.[0];
    const where = first?.instancePath === '' ? 'configuration' : (first?.instancePath ?? 'configuration');
    throw new VmiError('CONFIG_INVALID', `${path}: ${where} ${first?.message ?? 'is invalid'}`);
  }
  return Object.freeze({ ...(value as CasterConfig) });
}

export interface CasterContext {
  home: string;
  config: Readonly<CasterConfig>;
  db: Db;
  lock: WriteLock;
  logger: Logger;
  close(): void;
}

export async function openContext(cmd: Command): Promise<CasterContext> {
  const globals = cmd.optsWithGlobals<{ home?: string; config?: string }>();
  const config = await loadConfig(globals.config);
  const home = resolveHome('vmicaster', globals.home ?? config.home);
  const db = await openCasterDatabase(home);
  return {
    home,
    config,
    db,
    lock: new WriteLock(db),
    logger: createLogger('vmicaster'),
    close: () => db.close(),
  };
}

/** Runs `work` with an open context and closes the database afterwards. */
export async function withContext<T>(cmd: Command, work: (ctx: CasterContext) => Promise<T> | T): Promise<T> {
  const ctx = await openContext(cmd);
  try {
    return await work(ctx);
  } finally {
    ctx.close();
  }
}

/** ISO time for state rows. */
export function isoNow(now: Date = new Date()): string {
  return now.toISOString();
}
