import { signDetached, verifyDetached, type SigningDigest } from './cms.js';
import type { SigningCredential } from './credentials.js';
import { VmiError } from './errors.js';
import { canonicalize, composeEnvelope, splitEnvelope } from './smime.js';

/**
 * Signs an image list document into the S/MIME envelope (SPEC.md section 3): canonical
 * CRLF content, detached CMS with the signer certificate and its chain, and a check of
 * the output with the project's own verifier before anyone sees it.
 */
export function signList(
  content: Uint8Array,
  credential: SigningCredential,
  digest: SigningDigest,
  signingTime: Date,
): Uint8Array {
  const canonical = canonicalize(content);
  const signature = signDetached({
    content: canonical,
    certificate: credential.certificate.der,
    chain: credential.chain.map((c) => c.der),
    key: credential.key,
    digest,
    signingTime,
  });
  const envelope = composeEnvelope(canonical, signature, digest);
  const check = splitEnvelope(envelope);
  const verified = verifyDetached(check.signedBytes, check.signature, false);
  if (verified.canonicalized || Buffer.compare(check.signedBytes, canonical) !== 0) {
    throw new VmiError('SIGNATURE_INVALID', 'internal error: the signed envelope does not round-trip');
  }
  return envelope;
}
