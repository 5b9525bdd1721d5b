import { chmod, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { openDatabase, type Db } from '../shared/db.js';
import { VmiError } from '../shared/errors.js';
import { createHttpClient, type HttpClient } from '../shared/http.js';
import { silentLogger } from '../shared/log.js';
import { toPem } from '../shared/pki/pem.js';
import { TrustStoreCache } from '../shared/pki/trustdir.js';
import type { TrustStore } from '../shared/pki/truststore.js';
import type { VomsDir } from '../shared/pki/voms.js';
import { loadVomsDir } from '../shared/pki/vomsdir.js';
import { createBackends, type Backends } from './backends/index.js';
import { CacheLayout } from './cache/layout.js';
import type { CatcherConfig } from './config.js';
import { databasePath, MIGRATIONS } from './store/schema.js';

export { databasePath } from './store/schema.js';

/**
 * The catcher's composition root: configuration, database, HTTP client, trust material,
 * cache layout and backends, created once and passed to the protocol functions.
 */
export interface Catcher {
  config: CatcherConfig;
  db: Db;
  cache: CacheLayout;
  backends: Backends;
  log: Logger;
  clock: () => Date;
  trust(): Promise<TrustStore>;
  vomsDir(): Promise<VomsDir>;
  http(): Promise<HttpClient>;
  close(): Promise<void>;
}

export interface CatcherOptions {
  log?: Logger;
  clock?: () => Date;
}

export async function openCatcher(config: CatcherConfig, options: CatcherOptions = {}): Promise<Catcher> {
  const path = databasePath(config);
  const db = await openDatabase(path, MIGRATIONS);
  // Subscription credentials live in the database: readable by its owner only.
  for (const suffix of ['', '-wal', '-shm']) await chmod(`${path}${suffix}`, 0o600).catch(() => undefined);
  const trustCache = new TrustStoreCache(config.caDir);
  let http: HttpClient | undefined;
  let httpStore: TrustStore | undefined;
  const cache = new CacheLayout(config.cache);
  await cache.ensure();
  const backends = await createBackends(config.backends);
  return {
    config,
    db,
    cache,
    backends,
    log: options.log ?? silentLogger(),
    clock: options.clock ?? (() => new Date()),
    trust: () => trustCache.current(),
    vomsDir: () => loadVomsDir(config.vomsDir),
    async http() {
      const store = await trustCache.current();
      if (http === undefined || store !== httpStore) {
        // TLS to image servers trusts the system CAs plus the grid CAs (and a configured file).
        const extra = store.certificates.map((c) => toPem('CERTIFICATE', c.der));
        if (config.downloads.caFile !== null) {
          extra.push(
            await readFile(config.downloads.caFile, 'latin1').catch((err: unknown) => {
              throw new VmiError('CONFIG_INVALID', `cannot read downloads.caFile: ${(err as Error).message}`);
            }),
          );
        }
        http = createHttpClient({ extraCaPem: extra, userAgent: 'vmicatcher' });
        httpStore = store;
      }
      return http;
    },
    async close() {
      for (const backend of backends.delivery) await backend.close?.();
      db.close();
    },
  };
}
