import { existsSync } from 'node:fs';
import { openSqlite, type Db } from '../../shared/db.js';
import { VmiError } from '../../shared/errors.js';
import { TrustStoreCache } from '../../shared/pki/trustdir.js';
import type { TrustStore } from '../../shared/pki/truststore.js';
import type { CatcherConfig } from '../config.js';
import { databasePath, MIGRATIONS, probeStore } from '../store/schema.js';

/**
 * What status, metrics, the probe and the export read: the database, the configuration,
 * the trust store and a clock. The daemon's open Catcher is one; `openReadOnlySource` makes
 * another for the one-shot commands, which must work while the daemon runs and must never
 * create, migrate or lock a database (a monitoring user may only read it).
 */
export interface StatusSource {
  db: Db;
  config: CatcherConfig;
  clock: () => Date;
  trust(): Promise<TrustStore>;
}

export interface ReadOnlySource extends StatusSource {
  close(): void;
}

const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

export function openReadOnlySource(
  config: CatcherConfig,
  clock: () => Date = () => new Date(),
): ReadOnlySource {
  const path = databasePath(config);
  if (!existsSync(path)) {
    throw new VmiError(
      'CONFIG_INVALID',
      `no vmicatcher database at ${path} (wrong --home, or nothing subscribed yet)`,
    );
  }
  let db: Db;
  try {
    db = openSqlite(path, { readonly: true, fileMustExist: true, timeout: 10_000 });
  } catch (err) {
    throw new VmiError('CONFIG_INVALID', `cannot read the database ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      throw new VmiError(
        'CONFIG_INVALID',
        version < SCHEMA_VERSION
          ? `the database ${path} has schema v${version}; this vmicatcher needs v${SCHEMA_VERSION} (start the daemon or run a sync to upgrade it)`
          : `the database ${path} has schema v${version}, newer than this vmicatcher (v${SCHEMA_VERSION}) knows`,
      );
    }
    probeStore(db);
  } catch (err) {
    db.close();
    if (err instanceof VmiError) throw err;
    throw new VmiError('CONFIG_INVALID', `cannot read the database ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const trust = new TrustStoreCache(config.caDir);
  return { db, config, clock, trust: () => trust.current(), close: () => db.close() };
}
