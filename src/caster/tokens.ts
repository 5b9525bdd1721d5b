import { createHash, randomBytes } from 'node:crypto';

/** A push token: 32 random bytes, shown once; only its SHA-256 is stored. */
export function newToken(): { token: string; hash: string } {
  const token = `vmi_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
