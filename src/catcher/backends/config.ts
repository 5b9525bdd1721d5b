import { glanceConfigSchema, type GlanceConfig } from './glance-config.js';

/**
 * Backend configuration: a tagged union on `type` (STYLE.md rule 8), one JSON Schema per
 * backend, validated together with the rest of the configuration.
 */

const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } as const;

export interface DirectoryConfig {
  type: 'directory';
  name: string;
  path: string;
  /** Hard-link instead of copying where the filesystem allows (default true). */
  link?: boolean;
}

export interface ExecConfig {
  type: 'exec';
  name: string;
  /** Run through `sh -c`, like vmcatcher's VMCATCHER_CACHE_EVENT. */
  command: string;
  timeoutSeconds: number;
  /** Attempts before an event stays failed and visible in status (default 10). */
  maxAttempts?: number;
  /** First retry delay of a failed event, doubled per attempt (default 60). */
  retryBackoffSeconds?: number;
}

export type { GlanceConfig };

export type BackendConfig = DirectoryConfig | ExecConfig | GlanceConfig;

export const directoryConfigSchema = {
  type: 'object',
  required: ['type', 'name', 'path'],
  additionalProperties: false,
  properties: {
    type: { const: 'directory' },
    name,
    path: { type: 'string', minLength: 1 },
    link: { type: 'boolean' },
  },
} as const;

export const execConfigSchema = {
  type: 'object',
  required: ['type', 'name', 'command'],
  additionalProperties: false,
  properties: {
    type: { const: 'exec' },
    name,
    command: { type: 'string', minLength: 1 },
    timeoutSeconds: { type: 'number', exclusiveMinimum: 0, default: 600 },
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
