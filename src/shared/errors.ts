/**
 * Stable error codes (SPEC.md section 9), grouped by area. The area decides the
 * exit status of the command-line programs, so scripts can tell a trust failure
 * from a network failure without parsing messages.
 */
export const ERROR_AREAS = {
  envelope: ['LIST_MALFORMED', 'LIST_TOO_LARGE'],
  signature: [
    'SIGNATURE_INVALID',
    'SIGNER_UNTRUSTED',
    'CERT_EXPIRED',
    'CERT_NOT_YET_VALID',
    'CERT_REVOKED',
    'CRL_MISSING',
    'CRL_STALE',
    'CERT_PURPOSE',
    'CERT_CRITICAL_EXTENSION',
    'WEAK_ALGORITHM',
    'PROXY_INVALID',
    'SIGNER_NAMESPACE',
  ],
  authorization: [
    'ENDORSER_MISMATCH',
    'ENDORSER_UNAUTHORIZED',
    'VO_MISMATCH',
    'VOMS_INVALID',
    'VOMS_VO_MISMATCH',
    'VOMS_FQAN_MISSING',
  ],
  list: ['LIST_IDENTIFIER_CHANGED', 'LIST_NOT_YET_VALID', 'LIST_EXPIRED', 'LIST_ROLLBACK', 'LIST_CONFLICT'],
  transfer: ['FETCH_FAILED', 'HTTP_STATUS', 'TIMEOUT', 'STALLED', 'DISK_FULL'],
  images: [
    'IMAGE_SIZE_MISMATCH',
    'IMAGE_DIGEST_MISMATCH',
    'IMAGE_TOO_LARGE',
    'ARCHIVE_UNSAFE',
    'FORMAT_UNSUPPORTED',
    'CONVERSION_FAILED',
    'IMAGE_IDENTIFIER_UNSAFE',
    'IMAGE_IDENTIFIER_CLAIMED',
  ],
  delivery: ['BACKEND_FAILED', 'HOOK_FAILED', 'HOOK_TIMEOUT'],
  configuration: ['CONFIG_INVALID', 'USAGE'],
} as const;

export type ErrorArea = keyof typeof ERROR_AREAS;
export type ErrorCode = (typeof ERROR_AREAS)[ErrorArea][number];

/** Exit status per area; 1 is kept for "ran, but something failed" summaries (sync). */
export const EXIT_STATUS: Record<ErrorArea, number> = {
  envelope: 10,
  signature: 11,
  authorization: 12,
  list: 13,
  transfer: 14,
  images: 15,
  delivery: 16,
  configuration: 2,
};

/** Exit status for a failure that carries no code (a bug): distinct from every area. */
export const EXIT_INTERNAL = 70;

const AREA_OF = new Map<string, ErrorArea>(
  (Object.keys(ERROR_AREAS) as ErrorArea[]).flatMap((area) =>
    ERROR_AREAS[area].map((code) => [code, area] as const),
  ),
);

export const ALL_ERROR_CODES: readonly ErrorCode[] = [...AREA_OF.keys()] as ErrorCode[];

export function areaOf(code: ErrorCode): ErrorArea {
  const area = AREA_OF.get(code);
  if (area === undefined) throw new TypeError(`unknown error code ${code}`);
  return area;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && AREA_OF.has(value);
}

/** The one error class of vmicast: a stable code, a message for people, and a cause. */
export class VmiError extends Error {
  override readonly name = 'VmiError';
  readonly code: ErrorCode;
  /** Extra machine-readable facts (never secrets): the key that was missing, the limit hit. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function exitStatusFor(err: unknown): number {
  return err instanceof VmiError ? EXIT_STATUS[areaOf(err.code)] : EXIT_INTERNAL;
}

/** Wraps any thrown value: keeps a VmiError, turns anything else into the given code. */
export function asVmiError(err: unknown, code: ErrorCode, message?: string): VmiError {
  if (err instanceof VmiError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new VmiError(code, message === undefined ? text : `${message}: ${text}`, { cause: err });
}
