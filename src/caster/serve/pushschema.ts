import { VmiError } from '../../shared/errors.js';
import type { Json } from '../../shared/imagelist/model.js';
import { checkDepth } from '../../shared/imagelist/parse.js';
import { DATE_PATTERN } from '../../shared/imagelist/schema.js';
import { deepFreeze, describeSchemaError, validatorFor, type FromSchema } from '../../shared/schema.js';

/**
 * The push API body (CONTRACT.md): `{title, version, supersedes?, verify?, images: [...]}`.
 * An image is either new (role, title, uri, size, sha512, os, osversion, arch, hypervisor,
 * format, and optional keys) or a reference `{role, identifier}` to an image already in the
 * list, which a partial update keeps unchanged.
 */

const IDENTIFIER = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const identifier = { type: 'string', pattern: IDENTIFIER } as const;
const short = { type: 'string', minLength: 1, maxLength: 256 } as const;
const text = { type: 'string', maxLength: 4096 } as const;
const role = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const;

const newImageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['role', 'title', 'uri', 'size', 'sha512', 'os', 'osversion', 'arch', 'hypervisor', 'format'],
  properties: {
    role,
    identifier,
    title: short,
    description: text,
    uri: { type: 'string', maxLength: 2048, pattern: '^[hH][tT][tT][pP][sS]?://[^\\s]+$' },
    size: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    sha512: { type: 'string', pattern: '^[0-9a-fA-F]{128}$' },
    os: short,
    osname: short,
    osversion: { type: 'string', maxLength: 256 },
    arch: short,
    hypervisor: short,
    format: short,
    version: { type: 'string', minLength: 1, maxLength: 64 },
    comments: text,
    expires: { type: 'string', pattern: DATE_PATTERN },
    attributes: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { pattern: '^(ad|sl|hv|dc):[A-Za-z0-9_:.-]{1,64}$' },
      additionalProperties: { type: ['string', 'number', 'boolean'] },
    },
  },
} as const;

const referenceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['role', 'identifier'],
  properties: { role, identifier },
} as const;

export const pushBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['title', 'version', 'images'],
  properties: {
    title: short,
    version: { type: 'string', minLength: 1, maxLength: 64 },
    supersedes: identifier,
    verify: { type: 'boolean' },
    images: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      items: {
        type: 'object',
        required: ['role'],
        if: { properties: { uri: true }, required: ['uri'] },
        then: newImageSchema,
        else: referenceSchema,
      },
    },
  },
} as const;

export type PushReference = FromSchema<typeof referenceSchema>;
export type PushNewImage = FromSchema<typeof newImageSchema>;
export type PushImage = PushReference | PushNewImage;
/** `FromSchema` does not read if/then/else: an image is one of the two schemas it selects. */
export type PushBody = Omit<FromSchema<typeof pushBodySchema>, 'images'> & { images: PushImage[] };

const validatePushBody = validatorFor<PushBody>(pushBodySchema);

export function isNewImage(image: PushImage): image is PushNewImage {
  return 'uri' in image;
}

/** Parses and validates a push body; LIST_MALFORMED (400) with the first problem otherwise. */
export function parsePushBody(bytes: Uint8Array): PushBody {
  let value: Json;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Json;
  } catch (err) {
    throw new VmiError('LIST_MALFORMED', `the body is not JSON: ${(err as Error).message}`, { cause: err });
  }
  checkDepth(value);
  if (!validatePushBody(value)) {
    throw new VmiError(
      'LIST_MALFORMED',
      `the body is invalid: ${describeSchemaError(validatePushBody.errors)}`,
    );
  }
  const body = value;
  const roles = new Set<string>();
  for (const image of body.images) {
    if (roles.has(image.role))
      throw new VmiError('LIST_MALFORMED', `role ${image.role} appears more than once`);
    roles.add(image.role);
    if (isNewImage(image)) image.sha512 = image.sha512.toLowerCase();
  }
  return deepFreeze(body);
}
