import { createHash } from 'node:crypto';

/**
 * Name-based UUIDs (RFC 9562 version 5, SHA-1): the same name always gives the same UUID,
 * so a registry tag or subscription keeps its identifier from run to run and site to site.
 */

/** vmicast's namespace for names of registry artefacts and subscriptions (a random v4, fixed here). */
export const VMICAST_NAMESPACE = '6f0c2a8e-4c3b-4e51-9d0e-2b7f5a1c9e44';

export function uuid5(name: string, namespace: string = VMICAST_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
