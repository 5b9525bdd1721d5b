import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { VmiError } from '../shared/errors.js';
import { findConfigFile, resolveHome } from '../shared/home.js';
import { createLogger, type Logger } from '../shared/log.js';
import { deepFreeze, validatorFor, type FromSchema } from '../shared/schema.js';
import { openCasterDatabase, WriteLock, type Db } from './store/db.js';

/**
 * The composition root of one command: configuration (validated, defaulted and frozen at
 * the edge), the state directory, the database with its write lock, and the logger.
 */

const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    home: { type: 'string', minLength: 1 },
    caDir: { type: 'string', minLength: 1 },
    vomsDir: { type: 'string', minLength: 1 },
    lifetimeDays: { type: 'integer', minimum: 1, maximum: 3650 },
    digest: { enum: ['sha256', 'sha384', 'sha512'] },
    /** Refuse, instead of warning, what some reader will not take (docs/caster.md, "Readers"). */
    strictCompat: { type: 'boolean' },
  },
} as const;

/**
 * The caster configuration file. Every key is optional and has no schema default: each
 * one is overridden by a command-line flag, and the command applies its default after both.
 */
export type CasterConfig = FromSchema<typeof configSchema>;

const validateConfig = validatorFor<CasterConfig>(configSchema);

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
  return deepFreeze(value);
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
  // `--config` wins; else `<home>/vmicaster.yaml` when it exists; else no file (docs/caster.md).
  const homeForConfig = resolveHome('vmicaster', globals.home);
  const config = await loadConfig(await findConfigFile('vmicaster', homeForConfig, globals.config));
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
