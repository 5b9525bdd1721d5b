import type { SigningDigest } from '../shared/cms.js';
import { loadSigningCredential, type SigningCredential } from '../shared/credentials.js';
import { VmiError } from '../shared/errors.js';
import type { ChainPolicy } from '../shared/pki/chain.js';
import { loadTrustStore } from '../shared/pki/trustdir.js';
import type { TrustStore } from '../shared/pki/truststore.js';
import type { VomsDir } from '../shared/pki/voms.js';
import { loadVomsDir } from '../shared/pki/vomsdir.js';
import { defaultCaDir, defaultVomsDir } from '../shared/trustopts.js';
import { checkCredential, type CheckedCredential } from './credentials.js';
import { findCredential } from './store/access.js';
import type { Db } from './store/db.js';

/**
 * Everything a publication needs to sign and to check its own output: the credential
 * (given on the command line, or the one registered for the list's VO), the trust store
 * and vomsdir the result must verify against, and the chain policy.
 */

export interface SigningSetup {
  credential: SigningCredential;
  checked: CheckedCredential;
  store: TrustStore;
  vomsDir: VomsDir;
  policy: ChainPolicy;
  digest: SigningDigest;
}

export interface SigningChoice {
  /** The list's `ad:vo`, which picks the registered credential. */
  vo: string | null;
  cert?: string | undefined;
  key?: string | undefined;
  chain?: string | undefined;
  caDir?: string | undefined;
  vomsdir?: string | undefined;
  policy: ChainPolicy;
  digest: SigningDigest;
  now: Date;
  /** Loads trust stores (the server keeps a cache that reloads when files change). */
  loadStore?: (location: string) => Promise<TrustStore>;
}

export async function prepareSigning(db: Db, choice: SigningChoice): Promise<SigningSetup> {
  const loadStore = choice.loadStore ?? loadTrustStore;
  let credential: SigningCredential;
  let caDir = choice.caDir;
  let vomsdir = choice.vomsdir;
  let registered: { eecDn: string; eecCa: string } | undefined;
  if (choice.cert !== undefined) {
    credential = await loadSigningCredential(choice.cert, choice.key, choice.chain);
  } else {
    if (choice.vo === null) {
      throw new VmiError(
        'USAGE',
        'the list has no ad:vo, so no registered credential fits: give --cert and --key',
      );
    }
    const record = findCredential(db, choice.vo);
    if (record === undefined) {
      throw new VmiError(
        'VO_MISMATCH',
        `no signing credential is registered for VO ${choice.vo} (vmicaster credential add --vo ${choice.vo} ...)`,
      );
    }
    credential = await loadSigningCredential(
      record.certPath,
      record.keyPath ?? undefined,
      record.chainPath ?? undefined,
    );
    caDir ??= record.caDir ?? undefined;
    vomsdir ??= record.vomsdir ?? undefined;
    registered = record;
  }
  const store = await loadStore(caDir ?? defaultCaDir());
  const vomsDir = await loadVomsDir(vomsdir ?? defaultVomsDir());
  const checked = checkCredential(
    credential,
    store,
    vomsDir,
    choice.policy,
    choice.now,
    choice.vo ?? undefined,
  );
  if (
    registered !== undefined &&
    (registered.eecDn !== checked.eecDn || registered.eecCa !== checked.eecCa)
  ) {
    throw new VmiError(
      'ENDORSER_MISMATCH',
      `the credential registered for VO ${choice.vo ?? ''} now holds ${checked.eecDn} (CA ${checked.eecCa}), ` +
        `not ${registered.eecDn} (CA ${registered.eecCa}); register it again with credential add`,
    );
  }
  return { credential, checked, store, vomsDir, policy: choice.policy, digest: choice.digest };
}
