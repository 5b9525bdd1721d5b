import { VmiError } from '../errors.js';

/** Parses the list date form `YYYY-MM-DDTHH:MM:SSZ` exactly; anything else is malformed. */
export function parseListDate(value: string, key: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()) || formatListDate(date) !== value) {
    throw new VmiError('LIST_MALFORMED', `${key} is not a valid UTC date: ${JSON.stringify(value)}`);
  }
  return date;
}

export function formatListDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Parses a command-line time (`--at`): ISO 8601 with a zone designator. */
export function parseCliTime(value: string): Date {
  const date = new Date(value);
  if (!/(Z|[+-]\d{2}:?\d{2})$/.test(value) || Number.isNaN(date.getTime())) {
    throw new VmiError('USAGE', `not an ISO 8601 UTC time: ${JSON.stringify(value)}`);
  }
  return date;
}
