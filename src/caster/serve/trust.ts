import { readFile, stat } from 'node:fs/promises';
import { VmiError } from '../../shared/errors.js';
import type { ChainPolicy } from '../../shared/pki/chain.js';
import { TrustStoreCache } from '../../shared/pki/trustdir.js';
import type { TrustStore } from '../../shared/pki/truststore.js';
import { loadVomsDir } from '../../shared/pki/vomsdir.js';
import { defaultCaDir, defaultVomsDir } from '../../shared/trustopts.js';
import { verifySignedList, type VerifiedList } from '../../shared/verify.js';

const VIEW_TTL_MS = 60_000;

/**
 * What `vmicaster serve` trusts, cached between requests: a trust store per location (the
 * list CAs, the client CAs), re-read when its files change, and the verified published file
 * of each list for the list pages.
 */
export class ServerTrust {
  private readonly stores = new Map<string, TrustStoreCache>();
  private readonly views = new Map<string, { key: string; at: number; view: VerifiedList | VmiError }>();

  constructor(
    private readonly options: {
      caDir?: string | undefined;
      vomsdir?: string | undefined;
      policy: ChainPolicy;
    },
  ) {}

  /** The trust store at `location` (a PEM file or a CA directory), re-read when its files change. */
  async store(location: string): Promise<TrustStore> {
    let cache = this.stores.get(location);
    if (cache === undefined) {
      cache = new TrustStoreCache(location);
      this.stores.set(location, cache);
    }
    return cache.current();
  }

  /** The verified published file of a list (cached while the file and the minute stay the same). */
  async verifiedView(path: string): Promise<VerifiedList | VmiError> {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) return new VmiError('USAGE', 'the list has not been published yet');
    const key = `${info.ino}:${info.size}:${info.mtimeMs}`;
    const cached = this.views.get(path);
    if (cached?.key === key && Date.now() - cached.at < VIEW_TTL_MS) return cached.view;
    let view: VerifiedList | VmiError;
    try {
      const store = await this.store(this.options.caDir ?? defaultCaDir());
      const vomsDir = await loadVomsDir(this.options.vomsdir ?? defaultVomsDir());
      const bytes = new Uint8Array(await readFile(path));
      view = verifySignedList(bytes, store, { now: new Date(), policy: this.options.policy, vomsDir });
    } catch (err) {
      view =
        err instanceof VmiError
          ? err
          : new VmiError('LIST_MALFORMED', (err as Error).message, { cause: err });
    }
    this.views.set(path, { key, at: Date.now(), view });
    return view;
  }
}
