import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
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

/** Ajv's options: the same at run time and when scripts/build-validators.mjs generates code. */
const OPTIONS = {
  allErrors: false,
  strict: true,
  allowUnionTypes: true,
  discriminator: true,
  useDefaults: true,
} as const;

/**
 * Validators generated at build time (scripts/build-validators.mjs, Ajv's standalone code),
 * so that the built program does not load Ajv's compiler nor compile a schema at start-up
 * (40 to 120 ms and 3 to 5 MB for a sync). Absent when the sources run under tsx: then each
 * schema is compiled on first use, as the generated code was, from the same options.
 */
const GENERATED = new URL('./schema-validators.cjs', import.meta.url);

// Ajv and the generated module are CommonJS: a synchronous require keeps validation
// synchronous, and nothing is loaded before the first validation (--help loads neither).
const load = createRequire(import.meta.url);
let shared: Ajv | undefined;
let generated: Readonly<Record<string, ValidateFunction>> | null | undefined;

function ajv(): Ajv {
  if (shared === undefined) {
    const { Ajv: AjvClass } = load('ajv') as typeof import('ajv');
    shared = new AjvClass(OPTIONS);
  }
  return shared;
}

/**
 * The name of a schema's generated validator: a digest of the schema and the options, so a
 * schema changed since the build (or a stale dist/) finds none and is compiled instead.
 */
export function schemaKey(schema: object): string {
  const text = JSON.stringify([OPTIONS, schema]);
  return `v${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
}

function generatedFor(schema: object): ValidateFunction | undefined {
  if (generated === undefined) {
    generated = existsSync(GENERATED)
      ? (load(fileURLToPath(GENERATED)) as Record<string, ValidateFunction>)
      : null;
  }
  return generated?.[schemaKey(schema)];
}

/** Every schema given to validatorFor in this process: what the build generates code for. */
const registered: object[] = [];

export function registeredSchemas(): readonly object[] {
  return registered;
}

/**
 * A validator for `schema`: the generated one when the build made it, else compiled once,
 * on its first call. `T` is the type derived from the schema (`FromSchema<typeof
 * schema>`), written beside it.
 */
export function validatorFor<T = unknown>(schema: object): Validator<T> {
  registered.push(schema);
  let compiled: ValidateFunction | undefined;
  const validate = (value: unknown): value is T => {
    compiled ??= generatedFor(schema) ?? ajv().compile(schema);
    return compiled(value);
  };
  Object.defineProperty(validate, 'errors', { get: () => compiled?.errors });
  return validate as Validator<T>;
}

/**
 * The CommonJS source of a module exporting a validator for each of `schemas` under its
 * `schemaKey` (Ajv standalone code; it requires only Ajv's small runtime helpers).
 */
export function standaloneModule(schemas: readonly object[]): string {
  const { Ajv: AjvClass } = load('ajv') as typeof import('ajv');
  const standalone = load('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js');
  const generator = new AjvClass({ ...OPTIONS, code: { source: true, esm: false } });
  const names: Record<string, string> = {};
  for (const schema of schemas) {
    const key = schemaKey(schema);
    if (names[key] !== undefined) continue;
    generator.addSchema(schema, key);
    names[key] = key;
  }
  return standalone.default(generator, names);
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
