import type { FromSchema } from '../../shared/schema.js';
import { glanceConfigSchema, type GlanceConfig } from './glance/config.js';
import { routingProperties } from './routing.js';

/**
 * Backend configuration: a tagged union on `type` (STYLE.md rule 8), one JSON Schema per
 * backend, validated together with the rest of the configuration (src/catcher/config.ts).
 * The types are derived from the schemas, as validated: defaults filled in.
 */

const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } as const;

export const directoryConfigSchema = {
  type: 'object',
  required: ['type', 'name', 'path'],
  additionalProperties: false,
  properties: {
    type: { const: 'directory' },
    name,
    path: { type: 'string', minLength: 1 },
    /** Hard-link instead of copying where the filesystem allows. */
    link: { type: 'boolean', default: true },
    ...routingProperties,
  },
} as const;

/** Seconds an exec command may run; vmcatcher's hook variable gets the same. */
export const EXEC_TIMEOUT_SECONDS = 600;

export const execConfigSchema = {
  type: 'object',
  required: ['type', 'name', 'command'],
  additionalProperties: false,
  properties: {
    type: { const: 'exec' },
    name,
    /** Run through `sh -c`, like vmcatcher's VMCATCHER_CACHE_EVENT. */
    command: { type: 'string', minLength: 1 },
    timeoutSeconds: { type: 'number', exclusiveMinimum: 0, default: EXEC_TIMEOUT_SECONDS },
    /**
     * Attempts before an event stays failed and visible in status, and the first retry
     * delay of a failed event, doubled per attempt. Their defaults (10 and 60 seconds) are
     * still applied in src/catcher/outbox.ts.
     */
    maxAttempts: { type: 'integer', minimum: 1 },
    retryBackoffSeconds: { type: 'number', minimum: 0 },
  },
} as const;

export const backendSchema = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['directory', 'exec', 'glance'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [directoryConfigSchema, execConfigSchema, glanceConfigSchema],
} as const;

export type DirectoryConfig = FromSchema<typeof directoryConfigSchema>;
export type ExecConfig = FromSchema<typeof execConfigSchema>;
export type { GlanceConfig };
export type BackendConfig = DirectoryConfig | ExecConfig | GlanceConfig;
