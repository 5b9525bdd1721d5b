import { Command, Option } from 'commander';
import { DEFAULT_CHAIN_POLICY, type ChainPolicy } from './pki/policy.js';
import type { CrlMode } from './pki/crl.js';

/**
 * Trust options shared by `verify` in both programs and by the catcher's configuration
 * (CONTRACT.md): where the anchors are, and how strict the chain rules are.
 */

export const DEFAULT_CA_DIR = '/etc/grid-security/certificates';
export const DEFAULT_VOMS_DIR = '/etc/grid-security/vomsdir';

export function defaultCaDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['VMCATCHER_DIR_CERT'] ?? env['X509_CERT_DIR'] ?? DEFAULT_CA_DIR;
}

export function defaultVomsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['X509_VOMS_DIR'] ?? DEFAULT_VOMS_DIR;
}

export interface TrustFlags {
  caDir?: string;
  vomsdir?: string;
  crl?: CrlMode;
  allowSha1?: boolean;
  purpose?: 'smime' | 'any';
}

export function addTrustOptions(cmd: Command): Command {
  return cmd
    .option(
      '--ca-dir <dir>',
      'trust anchors: an IGTF directory or a PEM bundle (default $X509_CERT_DIR or /etc/grid-security/certificates)',
    )
    .option('--vomsdir <dir>', 'VOMS server list, <dir>/<vo>/<host>.lsc (default /etc/grid-security/vomsdir)')
    .addOption(new Option('--crl <mode>', 'CRL checking').choices(['require', 'if-present', 'off']))
    .option('--allow-sha1', 'accept SHA-1 signatures (old lists)')
    .addOption(new Option('--purpose <purpose>', 'required certificate purpose').choices(['smime', 'any']));
}

/** Chain policy from flags over configured defaults (flags win). */
export function chainPolicyFrom(flags: TrustFlags, base: Partial<ChainPolicy> = {}): ChainPolicy {
  return {
    ...DEFAULT_CHAIN_POLICY,
    ...base,
    ...(flags.crl === undefined ? {} : { crl: flags.crl }),
    ...(flags.allowSha1 === true ? { allowSha1: true } : {}),
    ...(flags.purpose === undefined ? {} : { purpose: flags.purpose }),
  };
}
