import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VmiError } from '../errors.js';
import { buildTrustStore, type TrustFile, type TrustStore } from './truststore.js';
import { mapLimited } from '../limited.js';

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

/** Files read at once: an IGTF directory has hundreds of small files, a few large CRLs. */
const READ_AHEAD = 16;

type Read = ({ files: TrustFile[] } | { unreadable: string }) & { stamp: string };

const stampOf = (name: string, info: { size: number; mtimeMs: number } | undefined): string =>
  `${name}:${info?.size ?? -1}:${info?.mtimeMs ?? -1}`;

async function readListed({ path, name, bundle }: Listed): Promise<Read> {
  let info: Stats | undefined;
  try {
    info = await stat(path);
    if (!info.isFile() || info.size > MAX_TRUST_FILE) return { files: [], stamp: stampOf(name, info) };
    const bytes = new Uint8Array(await readFile(path));
    // A single PEM bundle may hold certificates and CRLs.
    const files = bundle
      ? [
          { name: `${name}.pem`, bytes },
          { name: `${name}.r0`, bytes },
        ]
      : [{ name, bytes }];
    return { files, stamp: stampOf(name, info) };
  } catch (err) {
    return { unreadable: `${name}: ${(err as Error).message}`, stamp: stampOf(name, info) };
  }
}

/** The store, and the stamp of the files as they were read (see directoryStamp). */
async function readStore(location: string): Promise<{ store: TrustStore; stamp: string }> {
  const files: TrustFile[] = [];
  const unreadable: string[] = [];
  // Read several at once: one after the other, the waits for the thread pool add up (about
  // 0.2 s for the 640 files of the IGTF distribution).
  const reads = await mapLimited(await listFiles(location), READ_AHEAD, readListed);
  for (const read of reads) {
    if ('files' in read) files.push(...read.files);
    else unreadable.push(read.unreadable);
  }
  const store = buildTrustStore(location, files);
  store.warnings.push(...unreadable);
  return {
    store,
    stamp: reads
      .map((r) => r.stamp)
      .sort()
      .join('|'),
  };
}

/** Reads an IGTF directory (symlinks followed) or a PEM bundle file into a trust store. */
export async function loadTrustStore(location: string): Promise<TrustStore> {
  return (await readStore(location)).store;
}

/** A cheap fingerprint of a trust directory: names, sizes and modification times. */
async function directoryStamp(location: string): Promise<string> {
  const parts = await mapLimited(await listFiles(location), READ_AHEAD, async ({ path, name }) =>
    stampOf(name, await stat(path).catch(() => undefined)),
  );
  return parts.sort().join('|');
}

/** Keeps a trust store and reloads it when the files change (fetch-crl runs every few hours). */
export class TrustStoreCache {
  private store: TrustStore | undefined;
  private stamp = '';

  constructor(readonly location: string) {}

  async current(): Promise<TrustStore> {
    // The first load stamps the files as it reads them: no separate pass over the directory.
    if (this.store === undefined || (await directoryStamp(this.location)) !== this.stamp) {
      ({ store: this.store, stamp: this.stamp } = await readStore(this.location));
    }
    return this.store;
  }

  /** Forgets the cached store (SIGHUP). */
  invalidate(): void {
    this.store = undefined;
  }
}
