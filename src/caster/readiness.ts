import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { VmiError, type ErrorCode } from '../shared/errors.js';
import { decodeCertificate } from '../shared/pki/asn1/cert.js';
import { pemBlocks } from '../shared/pki/pem.js';
import type { Certificate } from '../shared/pki/types.js';
import type { CheckedCredential } from './credentials.js';

/**
 * Will every reader take what this publisher signs? Problems that no list content can fix:
 * who signs, and how the list is served (urlcheck.ts). `credential add` and `publish` print them
 * as warnings; with `--strict-compat` (or `strictCompat: true`) the first one is a refusal, for
 * VOs that must reach every site.
 */

export interface CompatProblem {
  code: ErrorCode;
  message: string;
}

const EMAIL_OID = '1.2.840.113549.1.9.1';

/** The e-mail address a certificate names (subject `emailAddress`, else subjectAltName). */
export function certificateEmail(cert: Certificate): string | undefined {
  for (const rdn of cert.subject.rdns) {
    const attr = rdn.find((a) => a.oid === EMAIL_OID);
    if (attr !== undefined) return Buffer.from(attr.value).toString('utf8');
  }
  let alt: string | undefined;
  try {
    alt = new X509Certificate(cert.der).subjectAltName;
  } catch {
    return undefined;
  }
  const match = /(?:^|,\s*)email:([^,\s]+)/.exec(alt ?? '');
  return match?.[1];
}

/** Problems with the signer: a proxy, or DNs that readers write in different forms. */
export function signerProblems(checked: CheckedCredential): CompatProblem[] {
  const problems: CompatProblem[] = [];
  if (checked.kind === 'proxy') {
    problems.push({
      code: 'CERT_PURPOSE',
      message:
        'the signing credential is an RFC 3820 proxy: atrope 2.1 and plain `openssl smime -verify` refuse ' +
        'lists signed by a proxy (and atrope would take the proxy as the signer); sign with the ' +
        'end-entity certificate or a robot certificate instead',
    });
  }
  for (const [what, dn] of [
    ['signer', checked.eecDn],
    ['CA', checked.eecCa],
  ] as const) {
    // OpenSSL's oneline form escapes non-ASCII, control characters, "/" and "+"; readers that
    // compare the UTF-8 text (atrope) then never match what readers comparing the oneline form
    // (vmcatcher) need in hv:dn/hv:ca.
    if (dn.includes('\\')) {
      problems.push({
        code: 'ENDORSER_MISMATCH',
        message:
          `the ${what} DN ${dn} has characters that readers write differently (non-ASCII, "/" or "+" ` +
          'in a value): atrope compares the UTF-8 text, vmcatcher the OpenSSL oneline form, so one of ' +
          'them never trusts the list; sign with a certificate whose DN is plain ASCII',
      });
    }
  }
  return problems;
}

/** Prints problems as warnings, or refuses on the first one when `strict`. */
export function settleProblems(
  problems: readonly CompatProblem[],
  strict: boolean,
  warn: (line: string) => void,
): string[] {
  const first = problems[0];
  if (strict && first !== undefined) {
    throw new VmiError(first.code, `${first.message} (refused: --strict-compat)`);
  }
  for (const p of problems) warn(`warning: ${p.message}`);
  return problems.map((p) => p.message);
}

/**
 * The e-mail of a registered credential's end-entity certificate, read from its files without
 * the key (for `show`, which must print what `publish` will sign); undefined when unreadable.
 */
export async function registeredEmail(paths: {
  certPath: string;
  chainPath: string | null;
}): Promise<string | undefined> {
  const texts = await Promise.all(
    [paths.certPath, paths.chainPath]
      .filter((p): p is string => p !== null)
      .map((p) => readFile(p, 'latin1').catch(() => '')),
  );
  try {
    const certs = texts.flatMap((t) => pemBlocks(t, ['CERTIFICATE'])).map((b) => decodeCertificate(b.der));
    const eec = certs.find((c) => c.proxyCertInfo === undefined);
    return eec === undefined ? undefined : certificateEmail(eec);
  } catch {
    return undefined;
  }
}
