import { Ajv } from 'ajv';
import { VmiError } from '../../shared/errors.js';
import type { DiskFormat } from './types.js';

/**
 * Configuration of the OpenStack Glance backend. Two ways to reach Glance: `auth`
 * (Keystone v3, the image endpoint taken from the catalog unless `endpoint` overrides it)
 * or `endpoint` alone (no token at all: a Glance without Keystone, as the tests run it).
 */

/** Keystone v3 password authentication, scoped to a project. */
export interface GlancePasswordAuth {
  /** Keystone URL, e.g. https://keystone.example.org:5000/v3 ("/v3" is added when missing). */
  url: string;
  username: string;
  password: string;
  /** Domain name of the user (default "Default"). */
  userDomain?: string;
  /** Project name the token is scoped to. */
  project: string;
  /** Domain name of the project (default "Default"). */
  projectDomain?: string;
  region?: string;
  interface?: 'public' | 'internal' | 'admin';
}

/** Keystone v3 application credential (already scoped to its project). */
export interface GlanceApplicationCredentialAuth {
  url: string;
  applicationCredentialId: string;
  applicationCredentialSecret: string;
  region?: string;
  interface?: 'public' | 'internal' | 'admin';
}

export type GlanceAuthConfig = GlancePasswordAuth | GlanceApplicationCredentialAuth;

export type GlanceVisibility = 'private' | 'shared' | 'public';

/**
 * Tests only, with `endpoint` and without `auth`: the identity claimed to a Glance whose
 * paste pipeline takes it from request headers (Glance's ContextMiddleware, no Keystone).
 * Behind keystonemiddleware these headers are replaced by the token's, so they grant nothing.
 */
export interface GlanceTestIdentity {
  projectId: string;
  userId: string;
  roles: string[];
}

export interface GlanceConfig {
  type: 'glance';
  name: string;
  /** Image API root (without /v2). Alone: no-auth mode. With `auth`: overrides the catalog. */
  endpoint?: string;
  auth?: GlanceAuthConfig;
  /** Tests only (no-auth mode): identity sent as X-Project-Id, X-User-Id, X-Roles headers. */
  testIdentity?: GlanceTestIdentity;
  /** VO name -> Keystone project ID that owns (private, public) or is a member of (shared) its images. */
  projects?: Record<string, string>;
  visibility?: GlanceVisibility;
  /** Format to deliver in; the caller converts with qemu-img. Default: keep the detected format. */
  diskFormat?: DiskFormat;
  /** Extra CA certificate file (PEM) trusted for Keystone and Glance besides the system CAs. */
  caFile?: string;
  /** Per-request deadline for API calls; also the idle limit while uploading (default 120). */
  timeoutSeconds?: number;
}

/** The configuration with defaults applied, frozen. */
export type ResolvedGlanceConfig = Readonly<
  Omit<GlanceConfig, 'visibility' | 'timeoutSeconds'> & {
    visibility: GlanceVisibility;
    timeoutSeconds: number;
  }
>;

const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } as const;
const httpUrl = { type: 'string', pattern: '^https?://[^\\s@]+$' } as const;
const text = { type: 'string', minLength: 1 } as const;
const endpointInterface = { enum: ['public', 'internal', 'admin'] } as const;
/** Header-safe identifiers (Keystone IDs are hex; names in tests are plain). */
const headerWord = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } as const;

const testIdentitySchema = {
  type: 'object',
  required: ['projectId', 'userId', 'roles'],
  additionalProperties: false,
  properties: {
    projectId: headerWord,
    userId: headerWord,
    roles: { type: 'array', minItems: 1, maxItems: 16, items: headerWord },
  },
} as const;

export const DISK_FORMATS: readonly DiskFormat[] = ['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi'];

const passwordAuthSchema = {
  type: 'object',
  required: ['url', 'username', 'password', 'project'],
  additionalProperties: false,
  properties: {
    url: httpUrl,
    username: text,
    password: text,
    userDomain: text,
    project: text,
    projectDomain: text,
    region: text,
    interface: endpointInterface,
  },
} as const;

const applicationCredentialAuthSchema = {
  type: 'object',
  required: ['url', 'applicationCredentialId', 'applicationCredentialSecret'],
  additionalProperties: false,
  properties: {
    url: httpUrl,
    applicationCredentialId: text,
    applicationCredentialSecret: text,
    region: text,
    interface: endpointInterface,
  },
} as const;

/** JSON Schema of one `type: glance` entry of `backends` (ajv, strict mode). */
export const glanceConfigSchema = {
  type: 'object',
  required: ['type', 'name'],
  additionalProperties: false,
  // strictRequired wants required keys declared beside them.
  anyOf: [
    { required: ['endpoint'], properties: { endpoint: httpUrl } },
    { required: ['auth'], properties: { auth: { type: 'object' } } },
  ],
  properties: {
    type: { const: 'glance' },
    name,
    endpoint: httpUrl,
    auth: { oneOf: [passwordAuthSchema, applicationCredentialAuthSchema] },
    testIdentity: testIdentitySchema,
    projects: { type: 'object', additionalProperties: text },
    visibility: { enum: ['private', 'shared', 'public'] },
    diskFormat: { enum: DISK_FORMATS },
    caFile: text,
    timeoutSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const validateGlanceConfig = ajv.compile(glanceConfigSchema);

/** Validates one backend block, applies the defaults and freezes it (CONFIG_INVALID otherwise). */
export function resolveGlanceConfig(raw: unknown): ResolvedGlanceConfig {
  if (!validateGlanceConfig(raw)) {
    const e = validateGlanceConfig.errors?.[0];
    const where = e === undefined || e.instancePath === '' ? '' : ` ${e.instancePath}`;
    throw new VmiError('CONFIG_INVALID', `glance backend${where} ${e?.message ?? 'is invalid'}`);
  }
  const config = raw as GlanceConfig;
  if (config.testIdentity !== undefined && config.auth !== undefined) {
    throw new VmiError(
      'CONFIG_INVALID',
      'glance backend testIdentity is for no-auth test mode, not with auth',
    );
  }
  const auth = config.auth === undefined ? undefined : Object.freeze({ ...config.auth });
  return Object.freeze({
    ...config,
    ...(auth === undefined ? {} : { auth }),
    ...(config.testIdentity === undefined
      ? {}
      : {
          testIdentity: Object.freeze({
            ...config.testIdentity,
            roles: Object.freeze([...config.testIdentity.roles]) as string[],
          }),
        }),
    ...(config.projects === undefined ? {} : { projects: Object.freeze({ ...config.projects }) }),
    visibility: config.visibility ?? 'private',
    timeoutSeconds: config.timeoutSeconds ?? 120,
  });
}

/** True when the auth block uses an application credential rather than a password. */
export function isApplicationCredential(auth: GlanceAuthConfig): auth is GlanceApplicationCredentialAuth {
  return 'applicationCredentialId' in auth;
}
