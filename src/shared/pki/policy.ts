import type { CrlMode } from './crl.js';

/**
 * The chain policy and its defaults, in a module of their own that loads no ASN.1 code:
 * the command-line option parsers need the defaults before any certificate is read.
 */

export interface ChainPolicy {
  /**
   * Where extended key usage is present, `smime` requires emailProtection and `client`
   * (TLS client certificates of the push API) clientAuth, either or anyExtendedKeyUsage.
   */
  purpose: 'smime' | 'client' | 'any';
  allowSha1: boolean;
  minRsaBits: number;
  crl: CrlMode;
  /** Per-anchor CRL mode, keyed by the anchor's oneline subject (e.g. a CA without CRLs). */
  crlByAnchor: Readonly<Record<string, CrlMode>>;
}

export const DEFAULT_CHAIN_POLICY: Readonly<ChainPolicy> = Object.freeze({
  purpose: 'smime',
  allowSha1: false,
  minRsaBits: 2048,
  crl: 'require',
  crlByAnchor: {},
});
