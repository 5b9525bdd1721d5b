import { isErrorCode, type ErrorCode } from '../../shared/errors.js';

/**
 * Error codes in plain words for the status page and `status`: what happened and what an
 * operator can do about it. Typed against every code, so a new code cannot be left out.
 */
export const ERROR_EXPLANATIONS: Readonly<Record<ErrorCode, string>> = {
  LIST_MALFORMED:
    'The file at the list URL is not a signed image list this site can read (wrong file, broken upload, or an HTML error page).',
  LIST_TOO_LARGE: 'The list is larger than the size limit (lists.maxBytes); it was not read.',
  SIGNATURE_INVALID:
    'The list signature does not match its content: the list was changed after signing or damaged in transit.',
  SIGNER_UNTRUSTED:
    'The certificate that signed the list does not lead to a certification authority in the trust store (caDir).',
  CERT_EXPIRED: 'A certificate in the signing chain has expired; the publisher must renew it and sign again.',
  CERT_NOT_YET_VALID:
    'A certificate in the signing chain is not valid yet; check this machine’s clock or wait for the publisher.',
  CERT_REVOKED: 'The signing certificate has been revoked by its certification authority.',
  CRL_MISSING:
    'A certification authority in the chain has no revocation list in the trust store; check that fetch-crl runs.',
  CRL_STALE:
    'A revocation list in the trust store is out of date, so revocation cannot be checked; check that fetch-crl runs.',
  CERT_PURPOSE: 'The signing certificate is not allowed to sign documents (key usage or extended key usage).',
  CERT_CRITICAL_EXTENSION:
    'A certificate in the chain carries a critical extension this site does not understand.',
  WEAK_ALGORITHM:
    'The list, a certificate or a revocation list (CRL) uses a weak algorithm (MD5, SHA-1 or a short RSA key) that this site refuses.',
  PROXY_INVALID: 'The proxy certificate that signed the list is malformed or not valid now.',
  SIGNER_NAMESPACE:
    'The signer’s name is outside what its certification authority may certify (IGTF namespaces policy).',
  ENDORSER_MISMATCH:
    'The endorser written in the list (hv:dn, hv:ca) is not the certificate that actually signed it.',
  ENDORSER_UNAUTHORIZED:
    'The list was signed by someone this subscription does not trust; if the publisher changed its certificate, subscribe again with the new endorser.',
  VO_MISMATCH: 'The list is for a different virtual organisation (VO) than this subscription.',
  VOMS_INVALID:
    'The VOMS attributes of the signer are missing, not valid now, from an unknown VOMS server, meant for another service (AC targets), or naming groups outside their VO.',
  VOMS_VO_MISMATCH: 'The signer’s VOMS attributes are for another virtual organisation (VO).',
  VOMS_FQAN_MISSING: 'The signer lacks the VOMS group or role (FQAN) this subscription requires.',
  LIST_IDENTIFIER_CHANGED:
    'The URL now serves a different list (another dc:identifier) than the one subscribed to.',
  LIST_NOT_YET_VALID:
    'The list says it was created in the future; check this machine’s clock and the publisher’s.',
  LIST_EXPIRED:
    'The list has expired and the publisher has not published a renewed one; its images are withdrawn after the grace period.',
  LIST_ROLLBACK:
    'The publisher served an older version of the list than one already accepted (a replay, or a publisher restored from a backup); the newer list is kept.',
  LIST_CONFLICT:
    'The publisher served different content under a version number already accepted; the publisher must bump the version.',
  FETCH_FAILED: 'The list or image server could not be reached (network, DNS or TLS problem).',
  HTTP_STATUS: 'The server answered with an HTTP error (for example 404 Not Found or 403 Forbidden).',
  TIMEOUT: 'The server did not answer in time.',
  STALLED: 'The download stalled or became too slow and was stopped; it resumes on the next attempt.',
  DISK_FULL: 'There is not enough free disk space for the image cache.',
  IMAGE_SIZE_MISMATCH: 'The downloaded image has a different size than the list declares; it was discarded.',
  IMAGE_DIGEST_MISMATCH:
    'The downloaded image does not match the checksum in the list (damaged or replaced); it was discarded.',
  IMAGE_TOO_LARGE: 'The server sent more bytes than the list declares for the image; it was discarded.',
  ARCHIVE_UNSAFE: 'The image archive (OVA) contains unsafe entries and was refused.',
  FORMAT_UNSUPPORTED: 'The image is in a disk format this site cannot handle.',
  CONVERSION_FAILED: 'Converting the image to the format the cloud needs (qemu-img) failed.',
  IMAGE_IDENTIFIER_UNSAFE:
    'The image identifier cannot be used safely as a file name at this site; that image was skipped, the rest of the list goes on.',
  IMAGE_IDENTIFIER_CLAIMED:
    'Another subscription holds an image with this identifier (its list named it first); this list’s image was skipped.',
  BACKEND_FAILED:
    'The cloud backend (for example Glance or the image directory) refused or failed the operation.',
  HOOK_FAILED: 'The site’s event handler script failed; the event is retried from the outbox.',
  HOOK_TIMEOUT: 'The site’s event handler script ran too long and was stopped; the event is retried.',
  CONFIG_INVALID: 'The configuration is invalid; fix the configuration file and reload.',
  USAGE: 'The operation was refused as given (a wrong argument or a conflicting operation).',
};

/** The sentence for a code; codes from elsewhere (a newer version) get a neutral one. */
export function explain(code: string): string {
  if (isErrorCode(code)) return ERROR_EXPLANATIONS[code];
  if (code === 'INTERNAL') return 'An unexpected internal error; the daemon log has the details.';
  return `Error ${code}.`;
}

export interface ExplainedError {
  code: string;
  message: string;
  explanation: string;
}

export function explained(error: { code: string; message: string } | null): ExplainedError | null {
  return error === null
    ? null
    : { code: error.code, message: error.message, explanation: explain(error.code) };
}
