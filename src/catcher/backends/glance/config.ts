import { VmiError } from '../../../shared/errors.js';
import { deepFreeze, validatorFor, type FromSchema } from '../../../shared/schema.js';
import type { DiskFormat } from '../types.js';
import { routingProperties } from '../routing.js';

/**
 * Configuration of the OpenStack Glance backend. Two ways to reach Glance: `auth`
 * (Keystone v3, the image endpoint taken from the catalog unless `endpoint` overrides it)
 * or `endpoint` alone (no token at all: a Glance without Keystone, as the tests run it).
 */

const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } as const;
const httpUrl = { type: 'string', pattern: '^https?://[^\\s@]+$' } as const;
const text = { type: 'string', minLength: 1 } as const;
const endpointInterface = { enum: ['public', 'internal', 'admin'] } as const;
/** Header-safe identifiers (Keystone IDs are hex; names in tests are plain). */
const headerWord = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } as const;

/**
 * Tests only, with `endpoint` and without `auth`: the identity claimed to a Glance whose
 * paste pipeline takes it from request headers (Glance's ContextMiddleware, no Keystone).
 * Behind keystonemiddleware these headers are replaced by the token's, so they grant nothing.
 */
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

// The two auth shapes sit under `oneOf`, where Ajv fills no default: their defaults
// (domains "Default", interface "public") are applied where they are used, in glance-auth.ts.
const passwordAuthSchema = {
  type: 'object',
  required: ['url', 'username', 'password', 'project'],
  additionalProperties: false,
  properties: {
    /** Keystone URL, e.g. https://keystone.example.org:5000/v3 ("/v3" is added when missing). */
    url: httpUrl,
    username: text,
    password: text,
    /** Domain name of the user. */
    userDomain: text,
    /** Project name the token is scoped to. */
    project: text,
    /** Domain name of the project. */
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
    /** Image API root (without /v2). Alone: no-auth mode. With `auth`: overrides the catalog. */
    endpoint: httpUrl,
    auth: { oneOf: [passwordAuthSchema, applicationCredentialAuthSchema] },
    /** Tests only (no-auth mode): identity sent as X-Project-Id, X-User-Id, X-Roles headers. */
    testIdentity: testIdentitySchema,
    /** VO name -> Keystone project ID that owns (private, public) or is a member of (shared) its images. */
    projects: { type: 'object', additionalProperties: text },
    /** With `projects`: the project that takes images of VOs it does not map (else they are held back). */
    defaultProject: text,
    ...routingProperties,
    visibility: { enum: ['private', 'shared', 'public'], default: 'private' },
    /** Format to deliver in; the caller converts with qemu-img. Absent: keep the detected format. */
    diskFormat: { enum: DISK_FORMATS },
    /** Extra CA certificate file (PEM) trusted for Keystone and Glance besides the system CAs. */
    caFile: text,
    /** Images sent to this Glance at once (streamed while downloading, or from the cache). */
    parallel: { type: 'integer', minimum: 1, maximum: 32, default: 4 },
    /** Per-request deadline for API calls; also the idle limit while uploading. */
    timeoutSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400, default: 120 },
    /**
     * Taking over from atrope (adopt.ts): images carrying this tag are recognised before an
     * upload; `false` turns recognition off.
     */
    takeover: {
      default: { tag: 'atrope' },
      oneOf: [
        { const: false },
        {
          type: 'object',
          required: ['tag'],
          additionalProperties: false,
          properties: { tag: { type: 'string', minLength: 1, maxLength: 255 } },
        },
      ],
    },
  },
} as const;

/** Keystone v3 password authentication, scoped to a project. */
export type GlancePasswordAuth = FromSchema<typeof passwordAuthSchema>;
/** Keystone v3 application credential (already scoped to its project). */
export type GlanceApplicationCredentialAuth = FromSchema<typeof applicationCredentialAuthSchema>;
export type GlanceAuthConfig = GlancePasswordAuth | GlanceApplicationCredentialAuth;
export type GlanceTestIdentity = FromSchema<typeof testIdentitySchema>;
/** One glance backend block as validated: `visibility`, `parallel` and `timeoutSeconds` defaulted. */
export type GlanceConfig = FromSchema<typeof glanceConfigSchema>;
export type GlanceVisibility = GlanceConfig['visibility'];
/** The configuration with defaults applied, frozen. */
export type ResolvedGlanceConfig = Readonly<GlanceConfig>;

const validateGlanceConfig = validatorFor<GlanceConfig>(glanceConfigSchema);

/** Validates one backend block, applies the defaults and freezes it (CONFIG_INVALID otherwise). */
export function resolveGlanceConfig(raw: unknown): ResolvedGlanceConfig {
  // Ajv writes the defaults into what it checks: the caller's block stays as it was given.
  const config = structuredClone(raw);
  if (!validateGlanceConfig(config)) {
    const e = validateGlanceConfig.errors?.[0];
    const where = e === undefined || e.instancePath === '' ? '' : ` ${e.instancePath}`;
    throw new VmiError('CONFIG_INVALID', `glance backend${where} ${e?.message ?? 'is invalid'}`);
  }
  if (config.testIdentity !== undefined && config.auth !== undefined) {
    throw new VmiError(
      'CONFIG_INVALID',
      'glance backend testIdentity is for no-auth test mode, not with auth',
    );
  }
  return deepFreeze(config);
}

/** True when the auth block uses an application credential rather than a password. */
export function isApplicationCredential(auth: GlanceAuthConfig): auth is GlanceApplicationCredentialAuth {
  return 'applicationCredentialId' in auth;
}
