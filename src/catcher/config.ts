import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { VmiError } from '../shared/errors.js';
import { deepFreeze, validatorFor, type FromSchema } from '../shared/schema.js';
import { defaultCaDir, defaultVomsDir } from '../shared/trustopts.js';
import { backendSchema, EXEC_TIMEOUT_SECONDS, type BackendConfig } from './backends/config.js';

/**
 * The catcher configuration (CONTRACT.md): YAML, validated with JSON Schema, defaulted and
 * frozen at the edge. The daemon and the one-shot commands read the same file. vmcatcher's
 * environment variables fill in what the file does not set (migration aid).
 *
 * The schema is the one description of the file: its defaults are filled in by Ajv, and
 * the types below are derived from it. Only defaults that depend on the environment (the
 * home directory, the trust store locations, vmcatcher's VMCATCHER_* variables) are set in
 * code, in resolveConfig.
 */

const crlMode = { enum: ['require', 'if-present', 'off'] } as const;
const positive = { type: 'number', exclusiveMinimum: 0 } as const;

const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    home: { type: 'string', minLength: 1 },
    caDir: { type: 'string', minLength: 1 },
    vomsDir: { type: 'string', minLength: 1 },
    schedule: { type: 'string', minLength: 1, default: '50 */6 * * *' },
    trust: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        crl: { ...crlMode, default: 'require' },
        allowSha1: { type: 'boolean', default: false },
        purpose: { enum: ['smime', 'any'], default: 'smime' },
        /** CRL mode per trust anchor (oneline subject), e.g. a CA that publishes no CRL. */
        crlByAnchor: { type: 'object', additionalProperties: crlMode, default: {} },
        allowEndorserMismatch: { type: 'boolean', default: false },
      },
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // The three directories default to VMCATCHER_CACHE_DIR_* or the home (resolveConfig).
        dir: { type: 'string' },
        partialDir: { type: 'string' },
        expiredDir: { type: 'string' },
        retentionDays: { type: 'number', minimum: 0, default: 7 },
      },
    },
    lists: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxBytes: { type: 'integer', minimum: 1024, default: 16 * 1024 * 1024 },
        timeoutSeconds: { ...positive, default: 60 },
        clockSkewSeconds: { type: 'number', minimum: 0, default: 300 },
        maxAgeDays: { type: ['number', 'null'], exclusiveMinimum: 0, default: null },
      },
    },
    downloads: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        parallel: { type: 'integer', minimum: 1, maximum: 64, default: 4 },
        perHost: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
        attempts: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
        backoffSeconds: { type: 'number', minimum: 0, default: 2 },
        maxBackoffSeconds: { type: 'number', minimum: 0, default: 300 },
        stallSeconds: { ...positive, default: 60 },
        minBytesPerSecond: { type: 'number', minimum: 0, default: 16 * 1024 },
        throughputWindowSeconds: { ...positive, default: 60 },
        minFreeBytes: { type: 'number', minimum: 0, default: 256 * 1024 * 1024 },
        caFile: { type: ['string', 'null'], default: null },
      },
    },
    /** Hours a deprecated (superseded, removed, lapsed) image stays in backends before retirement. */
    graceHours: { type: 'number', minimum: 0, default: 24 },
    status: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        listen: { type: 'string', default: '127.0.0.1:9465' },
        tokenFile: { type: ['string', 'null'], default: null },
      },
    },
    backends: { type: 'array', items: backendSchema, default: [] },
  },
} as const;

/** The file as Ajv leaves it: every key with a default is present. */
type ConfigFile = FromSchema<typeof configSchema>;

export type TrustConfig = ConfigFile['trust'];

/** The resolved configuration: the file plus the defaults that depend on the environment. */
export type CatcherConfig = Omit<ConfigFile, 'home' | 'caDir' | 'vomsDir' | 'cache' | 'backends'> & {
  home: string;
  caDir: string;
  vomsDir: string;
  cache: Required<ConfigFile['cache']>;
  backends: BackendConfig[];
};

const validateConfig = validatorFor<ConfigFile>(configSchema);

/** The file (schema defaults filled in), then vmcatcher environment variables where it is silent. */
export function resolveConfig(
  raw: unknown,
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): CatcherConfig {
  // Ajv writes the defaults into what it checks: the caller's object stays as it was given.
  const file = structuredClone(raw);
  if (!validateConfig(file)) {
    const e = validateConfig.errors?.[0];
    throw new VmiError(
      'CONFIG_INVALID',
      `configuration ${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`.trim(),
    );
  }
  const root = file.home ?? home;
  const backends: BackendConfig[] = [...file.backends];
  const hook = env['VMCATCHER_CACHE_EVENT'];
  if (hook !== undefined && hook !== '' && !backends.some((b) => b.type === 'exec')) {
    backends.push({
      type: 'exec',
      name: 'vmcatcher-event',
      command: hook,
      timeoutSeconds: EXEC_TIMEOUT_SECONDS,
    });
  }
  const names = new Set<string>();
  for (const b of backends) {
    if (names.has(b.name)) throw new VmiError('CONFIG_INVALID', `two backends are named ${b.name}`);
    names.add(b.name);
  }
  const { cache } = file;
  const config: CatcherConfig = {
    ...file,
    home: root,
    // Defaults that depend on the environment, and so cannot be in the schema.
    caDir: file.caDir ?? defaultCaDir(env),
    vomsDir: file.vomsDir ?? defaultVomsDir(env),
    cache: {
      ...cache,
      dir: cache.dir ?? env['VMCATCHER_CACHE_DIR_CACHE'] ?? join(root, 'cache'),
      partialDir: cache.partialDir ?? env['VMCATCHER_CACHE_DIR_DOWNLOAD'] ?? join(root, 'partial'),
      expiredDir: cache.expiredDir ?? env['VMCATCHER_CACHE_DIR_EXPIRE'] ?? join(root, 'expired'),
    },
    backends,
  };
  return deepFreeze(config);
}

export async function loadConfig(path: string | undefined, home: string): Promise<CatcherConfig> {
  if (path === undefined) return resolveConfig({}, home);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new VmiError('CONFIG_INVALID', `cannot read configuration ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new VmiError('CONFIG_INVALID', `${path} is not valid YAML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return resolveConfig(raw, home);
}
