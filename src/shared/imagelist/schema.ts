import { validatorFor, type Validator } from '../schema.js';

/**
 * JSON Schemas of the image list (SPEC.md section 2), checked by the one Ajv of
 * src/shared/schema.ts like the configuration and the push API bodies. The parser reads the
 * checked document into its own model (model.ts), so no type is derived from these. Each
 * validator is compiled once, at its first use: the list is checked at every poll.
 */

export { describeSchemaError } from '../schema.js';

export const DATE_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$';

const text = { type: 'string' } as const;
const date = { type: 'string', pattern: DATE_PATTERN } as const;

export const endorserSchema = {
  type: 'object',
  required: ['hv:x509'],
  properties: {
    'hv:x509': {
      type: 'object',
      required: ['hv:dn', 'hv:ca', 'hv:email', 'dc:creator'],
      properties: { 'hv:dn': text, 'hv:ca': text, 'hv:email': text, 'dc:creator': text },
    },
  },
} as const;

export const listSchema = {
  type: 'object',
  required: [
    'dc:identifier',
    'dc:title',
    'dc:description',
    'dc:source',
    'dc:date:created',
    'dc:date:expires',
    'hv:version',
    'hv:uri',
    'hv:endorser',
    'hv:images',
  ],
  properties: {
    'dc:identifier': { type: 'string', minLength: 1 },
    'dc:title': text,
    'dc:description': text,
    'dc:source': text,
    'dc:date:created': date,
    'dc:date:expires': date,
    'hv:version': { type: 'string', minLength: 1 },
    'hv:uri': text,
    'ad:vo': text,
    'hv:endorser': endorserSchema,
    'hv:images': { type: 'array', items: { type: 'object' } },
    'vmi:appliances': { type: 'array', items: { type: 'object' } },
  },
} as const;

export const imageSchema = {
  type: 'object',
  required: [
    'dc:identifier',
    'dc:title',
    'dc:description',
    'hv:uri',
    'hv:size',
    'sl:checksum:sha512',
    'sl:arch',
    'sl:os',
    'sl:osversion',
    'sl:comments',
    'hv:hypervisor',
    'hv:version',
  ],
  properties: {
    'dc:identifier': { type: 'string', minLength: 1 },
    'dc:title': text,
    'dc:description': text,
    'hv:uri': { type: 'string', pattern: '^[hH][tT][tT][pP][sS]?://' },
    // AppDB writes the size as a decimal string: tolerated on read. Sizes stay exact
    // integers (issue 8: 1e300 passed as an "integer" and 16 digits lose precision).
    'hv:size': {
      anyOf: [
        { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
        { type: 'string', pattern: '^[0-9]{1,15}$' },
      ],
    },
    'sl:checksum:sha512': { type: 'string', pattern: '^[0-9a-fA-F]{128}$' },
    'sl:arch': text,
    'sl:os': text,
    'sl:osversion': text,
    'sl:comments': text,
    'hv:hypervisor': text,
    // Some writers emit numbers; the text is kept as written.
    'hv:version': { type: ['string', 'number'] },
    'hv:format': text,
    'dc:date:expires': date,
    'vmi:supersedes': { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1 } },
    'vmi:appliance': { type: 'string', minLength: 1 },
  },
} as const;

export const applianceSchema = {
  type: 'object',
  required: ['dc:identifier', 'dc:title', 'hv:version', 'vmi:images'],
  properties: {
    'dc:identifier': { type: 'string', minLength: 1 },
    'dc:title': text,
    'hv:version': { type: 'string', minLength: 1 },
    'vmi:supersedes': { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1 } },
    'vmi:images': {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['vmi:role', 'dc:identifier'],
        properties: {
          'vmi:role': { type: 'string', minLength: 1 },
          'dc:identifier': { type: 'string', minLength: 1 },
        },
      },
    },
  },
} as const;

export const validateList: Validator<unknown> = validatorFor(listSchema);
export const validateImage: Validator<unknown> = validatorFor(imageSchema);
export const validateAppliance: Validator<unknown> = validatorFor(applianceSchema);
