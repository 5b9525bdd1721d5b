import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VmiError } from '../errors.js';
import { buildTrustStore, type TrustFile, type TrustStore } from './truststore.js';

/** Files bigger than this are not trust material (a CRL of 100k entries is ~4 MiB). */
const MAX_TRUST_FILE = 64 * 1024 * 1024;
const RELEVANT = /\.(\d+|pem|crt|cer|r\d+|namespaces|signing_policy)$/i;

interface Listed {
  path: string;
  name: string;
  bundle: boolean;
}

async function listFiles(location: string): Promise<Listed[]> {
  const info = await stat(location).catch((err: unknown) => {
    throw new VmiError('CONFIG_INVALID', `trust store ${location} cannot be read`, { cause: err });
  });
  if (info.isFile()) return [{ path: location, name: basename(location), bundle: true }];
  const names = await readdir(location);
  return names
    .filter((n) => RELEVANT.test(n))
    .map((name) => ({ path: join(location, name), name, bundle: false }));
}

/** Reads an IGTF directory (symlinks followed) or a PEM bundle file into a trust store. */
export async function loadTrustStore(location: string): Promise<TrustStore> {
  const files: TrustFile[] = [];
  const unreadable: string[] = [];
  for (const { path, name, bundle } of await listFiles(location)) {
    try {
      const info = await stat(path);
      if (!info.isFile() || info.size > MAX_TRUST_FILE) continue;
      const bytes = new Uint8Array(await readFile(path));
      if (bundle) {
        // A single PEM bundle may hold certificates and CRLs.
        files.push({ name: `${name}.pem`, bytes }, { name: `${name}.r0`, bytes });
      } else {
        files.push({ name, bytes });
      }
    } catch (err) {
      unreadable.push(`${name}: ${(err as Error).message}`);
    }
  }
  const store = buildTrustStore(location, files);
  store.warnings.push(...unreadable);
  return store;
}

/** A cheap fingerprint of a trust directory: names, sizes and modification times. */
async function directoryStamp(location: string): Promise<string> {
  const parts: string[] = [];
  for (const { path, name } of await listFiles(location)) {
    const info = await stat(path).catch(() => undefined);
    parts.push(`${name}:${info?.size ?? -1}:${info?.mtimeMs ?? -1}`);
  }
  return parts.sort().join('|');
}

/** Keeps a trust store and reloads it when the files change (fetch-crl runs every few hours). */
export class TrustStoreCache {
  private store: TrustStore | undefined;
  private stamp = '';

  constructor(readonly location: string) {}

  async current(): Promise<TrustStore> {
    const stamp = await directoryStamp(this.location);
    if (this.store === undefined || stamp !== this.stamp) {
      this.store = await loadTrustStore(this.location);
      this.stamp = stamp;
    }
    return this.store;
  }

  /** Forgets the cached store (SIGHUP). */
  invalidate(): void {
    this.store = undefined;
  }
}
