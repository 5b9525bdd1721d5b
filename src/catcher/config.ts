import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Ajv } from 'ajv';
import { VmiError } from '../shared/errors.js';
import type { CrlMode } from '../shared/pki/crl.js';
import { defaultCaDir, defaultVomsDir } from '../shared/trustopts.js';
import { backendSchema, type BackendConfig } from './backends/config.js';

/**
 * The catcher configuration (CONTRACT.md): YAML, validated with JSON Schema, defaulted and
 * frozen at the edge. The daemon and the one-shot commands read the same file. vmcatcher's
 * environment variables fill in what the file does not set (migration aid).
 */

export interface TrustConfig {
  crl: CrlMode;
  allowSha1: boolean;
  purpose: 'smime' | 'any';
  /** CRL mode per trust anchor (oneline subject), e.g. a CA that publishes no CRL. */
  crlByAnchor: Record<string, CrlMode>;
  allowEndorserMismatch: boolean;
}

export interface CatcherConfig {
  home: string;
  caDir: string;
  vomsDir: string;
  schedule: string;
  trust: TrustConfig;
  cache: { dir: string; partialDir: string; expiredDir: string; retentionDays: number };
  lists: { maxBytes: number; timeoutSeconds: number; clockSkewSeconds: number; maxAgeDays: number | null };
  downloads: {
    parallel: number;
    perHost: number;
    attempts: number;
    backoffSeconds: number;
    maxBackoffSeconds: number;
    stallSeconds: number;
    minBytesPerSecond: number;
    throughputWindowSeconds: number;
    minFreeBytes: number;
    caFile: string | null;
  };
  /** Hours a deprecated (superseded, removed, lapsed) image stays in backends before retirement. */
  graceHours: number;
  status: { listen: string; tokenFile: string | null };
  backends: BackendConfig[];
}

const crlMode = { enum: ['require', 'if-present', 'off'] } as const;
const positive = { type: 'number', exclusiveMinimum: 0 } as const;

const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    home: { type: 'string', minLength: 1 },
    caDir: { type: 'string', minLength: 1 },
    vomsDir: { type: 'string', minLength: 1 },
    schedule: { type: 'string', minLength: 1 },
    trust: {
      type: 'object',
      additionalProperties: false,
      properties: {
        crl: crlMode,
        allowSha1: { type: 'boolean' },
        purpose: { enum: ['smime', 'any'] },
        crlByAnchor: { type: 'object', additionalProperties: crlMode },
        allowEndorserMismatch: { type: 'boolean' },
      },
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { type: 'string' },
        partialDir: { type: 'string' },
        expiredDir: { type: 'string' },
        retentionDays: { type: 'number', minimum: 0 },
      },
    },
    lists: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxBytes: { type: 'integer', minimum: 1024 },
        timeoutSeconds: positive,
        clockSkewSeconds: { type: 'number', minimum: 0 },
        maxAgeDays: { type: ['number', 'null'], exclusiveMinimum: 0 },
      },
    },
    downloads: {
      type: 'object',
      additionalProperties: false,
      properties: {
        parallel: { type: 'integer', minimum: 1, maximum: 64 },
        perHost: { type: 'integer', minimum: 1, maximum: 64 },
        attempts: { type: 'integer', minimum: 1, maximum: 100 },
        backoffSeconds: { type: 'number', minimum: 0 },
        maxBackoffSeconds: { type: 'number', minimum: 0 },
        stallSeconds: positive,
        minBytesPerSecond: { type: 'number', minimum: 0 },
        throughputWindowSeconds: positive,
        minFreeBytes: { type: 'number', minimum: 0 },
        caFile: { type: ['string', 'null'] },
      },
    },
    graceHours: { type: 'number', minimum: 0 },
    status: {
      type: 'object',
      additionalProperties: false,
      properties: { listen: { type: 'string' }, tokenFile: { type: ['string', 'null'] } },
    },
    backends: { type: 'array', items: backendSchema },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true, discriminator: true });
const validateConfig = ajv.compile(configSchema);

type RawConfig = {
  [K in keyof CatcherConfig]?: K extends 'backends'
    ? BackendConfig[]
    : CatcherConfig[K] extends object
      ? Partial<CatcherConfig[K]>
      : CatcherConfig[K];
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

/** Defaults, then the file, then vmcatcher environment variables where the file is silent. */
export function resolveConfig(
  raw: unknown,
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): CatcherConfig {
  if (!validateConfig(raw)) {
    const e = validateConfig.errors?.[0];
    throw new VmiError(
      'CONFIG_INVALID',
      `configuration ${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`.trim(),
    );
  }
  const file = raw as RawConfig;
  const root = file.home ?? home;
  const backends = [...(file.backends ?? [])];
  const hook = env['VMCATCHER_CACHE_EVENT'];
  if (hook !== undefined && hook !== '' && !backends.some((b) => b.type === 'exec')) {
    backends.push({ type: 'exec', name: 'vmcatcher-event', command: hook, timeoutSeconds: 600 });
  }
  const names = new Set<string>();
  for (const b of backends) {
    if (names.has(b.name)) throw new VmiError('CONFIG_INVALID', `two backends are named ${b.name}`);
    names.add(b.name);
  }
  const config: CatcherConfig = {
    home: root,
    caDir: file.caDir ?? defaultCaDir(env),
    vomsDir: file.vomsDir ?? defaultVomsDir(env),
    schedule: file.schedule ?? '50 */6 * * *',
    trust: {
      crl: 'require',
      allowSha1: false,
      purpose: 'smime',
      crlByAnchor: {},
      allowEndorserMismatch: false,
      ...file.trust,
    },
    cache: {
      dir: file.cache?.dir ?? env['VMCATCHER_CACHE_DIR_CACHE'] ?? join(root, 'cache'),
      partialDir: file.cache?.partialDir ?? env['VMCATCHER_CACHE_DIR_DOWNLOAD'] ?? join(root, 'partial'),
      expiredDir: file.cache?.expiredDir ?? env['VMCATCHER_CACHE_DIR_EXPIRE'] ?? join(root, 'expired'),
      retentionDays: file.cache?.retentionDays ?? 7,
    },
    lists: {
      maxBytes: 16 * 1024 * 1024,
      timeoutSeconds: 60,
      clockSkewSeconds: 300,
      maxAgeDays: null,
      ...file.lists,
    },
    downloads: {
      parallel: 4,
      perHost: 2,
      attempts: 5,
      backoffSeconds: 2,
      maxBackoffSeconds: 300,
      stallSeconds: 60,
      minBytesPerSecond: 16 * 1024,
      throughputWindowSeconds: 60,
      minFreeBytes: 256 * 1024 * 1024,
      caFile: null,
      ...file.downloads,
    },
    graceHours: file.graceHours ?? 24,
    status: { listen: '127.0.0.1:9465', tokenFile: null, ...file.status },
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
