import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';

/**
 * The one validator of both programs (STYLE.md rule 7). Every shape that crosses an edge
 * (the configuration of both programs, backend blocks, push API bodies, the image list) is
 * written once, as a JSON Schema `as const`, and its TypeScript type is derived from that
 * schema with json-schema-to-ts's `FromSchema` (types only: nothing of it runs).
 *
 * Defaults live in the schemas. Ajv's `useDefaults` writes them into the validated value
 * before `required` is checked, and `FromSchema` types a key that has a default as present,
 * so code never repeats a default. A validator changes the value it checks: callers that
 * keep their input clone it first.
 */

export type { FromSchema } from 'json-schema-to-ts';

/** A validator compiled on first use; `errors` holds Ajv's errors of the last failed call. */
export interface Validator<T> {
  (value: unknown): value is T;
  readonly errors: ErrorObject[] | null | undefined;
}

let shared: Ajv | undefined;

function ajv(): Ajv {
  if (shared === undefined) {
    // Loaded on first use, not at import: a command that validates nothing (--help, version)
    // never loads Ajv. Ajv is CommonJS, so a synchronous require keeps validation synchronous.
    const load = createRequire(import.meta.url);
    const { Ajv: AjvClass } = load('ajv') as typeof import('ajv');
    shared = new AjvClass({
      allErrors: false,
      strict: true,
      allowUnionTypes: true,
      discriminator: true,
      useDefaults: true,
    });
  }
  return shared;
}

/**
 * A validator for `schema`, compiled once, on its first call. `T` is the type derived from
 * the schema (`FromSchema<typeof schema>`), written beside it.
 */
export function validatorFor<T = unknown>(schema: object): Validator<T> {
  let compiled: ValidateFunction | undefined;
  const validate = (value: unknown): value is T => {
    compiled ??= ajv().compile(schema);
    return compiled(value);
  };
  Object.defineProperty(validate, 'errors', { get: () => compiled?.errors });
  return validate as Validator<T>;
}

/** Freezes a validated value and everything inside it, so no consumer can change it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** One plain sentence for an Ajv error, naming the key: "missing key hv:size". */
export function describeSchemaError(errors: ErrorObject[] | null | undefined): string {
  const first = errors?.[0];
  if (first === undefined) return 'invalid document';
  if (first.keyword === 'required') {
    const missing = (first.params as { missingProperty?: string }).missingProperty ?? '?';
    return `missing key ${pathOf(first.instancePath, missing)}`;
  }
  return `${pathOf(first.instancePath)} ${first.message ?? 'is invalid'}`;
}

function pathOf(instancePath: string, child?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  return parts.length === 0 ? 'document' : parts.join('/');
}
