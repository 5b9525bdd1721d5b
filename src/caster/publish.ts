import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { VmiError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/fsutil.js';
import { LIST_WRAPPER, type JsonObject } from '../shared/imagelist/model.js';
import { isObject, parseImageList, parseJsonDocument } from '../shared/imagelist/parse.js';
import { serializeImageList } from '../shared/imagelist/serialize.js';
import { bumpVersion, compareVersions } from '../shared/imagelist/version.js';
import { signList } from '../shared/signlist.js';
import { extractPayload, splitEnvelope } from '../shared/smime.js';
import { verifySignedList } from '../shared/verify.js';
import { assembleDocument, stampDocument, type ListState } from './build.js';
import { applianceSuccessorLinks, listedAppliances, markAppliancesPublished } from './store/appliances.js';
import type { Db } from './store/db.js';
import { imageSuccessorLinks, listedImages } from './store/images.js';
import { recordListPublication, requireList } from './store/lists.js';
import { insertPublication, lastPublication, type PublicationKind } from './store/publications.js';
import { certificateEmail } from './readiness.js';
import type { SigningSetup } from './signing.js';

/**
 * A publication (CONTRACT.md `publish`): bump the version above anything ever published,
 * stamp dates and endorser, sign, verify the result with the shared verifier, then write
 * the history copy and the current file atomically. Runs under the write lock, inside the
 * caller's transaction: if anything fails, nothing is recorded and the old file stays.
 */

export { DEFAULT_LIFETIME_DAYS } from './defaults.js';
const DAY_MS = 86_400_000;

export interface PublishRequest {
  listId: string;
  /** Where the current file goes; default: where the list was last published. */
  outPath?: string | undefined;
  kind: Exclude<PublicationKind, 'import'>;
  lifetimeDays: number;
  now: Date;
}

export interface PublishResult {
  listId: string;
  version: string;
  path: string;
  historyPath: string;
  sha256: string;
  size: number;
  created: string;
  expires: string;
  signer: string;
}

export function loadListState(db: Db, listId: string): ListState {
  return {
    list: requireList(db, listId),
    images: listedImages(db, listId),
    imageLinks: imageSuccessorLinks(db, listId),
    appliances: listedAppliances(db, listId),
    applianceLinks: applianceSuccessorLinks(db, listId),
  };
}

/** Identifier and version of the file currently at `path`, if there is one. */
export async function readPublishedFile(path: string): Promise<{ id: string; version: string } | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new VmiError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const doc = parseJsonDocument(extractPayload(splitEnvelope(bytes).signedBytes));
    const body = isObject(doc) ? doc[LIST_WRAPPER] : undefined;
    if (!isObject(body)) throw new Error('no hv:imagelist');
    const id = body['dc:identifier'];
    const version = body['hv:version'];
    if (typeof id !== 'string' || typeof version !== 'string') throw new Error('no identifier or version');
    return { id, version };
  } catch (err) {
    throw new VmiError(
      'CONFIG_INVALID',
      `${path} exists and is not a signed image list; refusing to overwrite it`,
      { cause: err },
    );
  }
}

/** The version a publication gets: above the recorded one and above whatever is on disk. */
export function nextVersion(recorded: string | null, onDisk: string | undefined): string {
  const candidates = [recorded, onDisk].filter((v): v is string => v !== null && v !== undefined);
  if (candidates.length === 0) return '1';
  const highest = candidates.reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
  return bumpVersion(highest);
}

function historyName(version: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(version)
    ? `${version}.smime`
    : `v-${createHash('sha256').update(version).digest('hex').slice(0, 32)}.smime`;
}

/** History copies live next to the current file: `<dir>/history/<list>/<version>.smime`. */
export function historyPath(currentPath: string, listId: string, version: string): string {
  return join(dirname(currentPath), 'history', listId, historyName(version));
}

/** Temporary files left by a publication that was killed halfway (never served: dot files). */
async function removeStaleTemporaries(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`;
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => n.startsWith(prefix) && /\.[0-9a-f]{12}\.tmp$/.test(n))
      .map((n) => rm(join(dirname(path), n), { force: true })),
  );
}

function floorToSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** Publishes a list; the caller holds the write lock (WriteLock.run). */
export async function publishLocked(
  db: Db,
  setup: SigningSetup,
  request: PublishRequest,
): Promise<PublishResult> {
  const list = requireList(db, request.listId);
  const path = request.outPath === undefined ? list.publishPath : resolve(request.outPath);
  if (path === null) throw new VmiError('USAGE', `list ${list.id} has never been published: give --out PATH`);
  const onDisk = await readPublishedFile(path);
  if (onDisk !== undefined && onDisk.id !== list.id) {
    throw new VmiError(
      'CONFIG_INVALID',
      `${path} holds list ${onDisk.id}, not ${list.id}; refusing to overwrite it`,
    );
  }
  await removeStaleTemporaries(path);
  const version = nextVersion(list.version, onDisk?.version);

  // A renewal re-signs what was last published; after an import, the imported content as
  // this publisher writes it (sizes as integers), which is what the state holds.
  const last = request.kind === 'renew' ? lastPublication(db, list.id) : undefined;
  if (request.kind === 'renew' && last === undefined) {
    throw new VmiError('USAGE', `list ${list.id} has nothing published to renew`);
  }
  const document: JsonObject =
    last !== undefined && last.record.kind !== 'import'
      ? last.document
      : assembleDocument(loadListState(db, list.id));

  const checked = setup.checked;
  const now = request.now;
  const created = floorToSecond(now.getTime());
  const expires = floorToSecond(
    Math.min(now.getTime() + request.lifetimeDays * DAY_MS, checked.notAfter.getTime()),
  );
  if (expires.getTime() <= created.getTime()) {
    throw new VmiError('CERT_EXPIRED', `the signing credential expires at ${checked.notAfter.toISOString()}`);
  }
  const stamped = stampDocument(document, {
    version,
    created,
    expires,
    endorserDn: checked.eecDn,
    endorserCa: checked.eecCa,
    // Images outlive the list by one more lifetime: a renewal the publisher forgot does not
    // delete them at sites, and an image left out of the list is gone at the next fetch.
    imageExpires: new Date(expires.getTime() + request.lifetimeDays * DAY_MS),
    endorserEmail: certificateEmail(checked.chain.eec),
  });
  const content = serializeImageList(stamped);
  // Never write what readers would cut down: every image and appliance must survive parsing.
  const parsed = parseImageList(content);
  const dropped = parsed.warnings.filter((w) => w.includes('dropped'));
  if (dropped.length > 0) {
    throw new VmiError(
      'LIST_MALFORMED',
      `the built list would not be read as written: ${dropped.join('; ')}`,
    );
  }

  const signed = signList(content, setup.credential, setup.digest, now);
  // Never publish what we could not verify ourselves, with the rules subscribers use.
  const verified = verifySignedList(signed, setup.store, {
    now,
    policy: setup.policy,
    vomsDir: setup.vomsDir,
    authorization: { vo: list.vo ?? undefined, requireVoms: checked.vomsVo !== null },
  });
  if (verified.list.version !== version || verified.list.identifier !== list.id) {
    throw new VmiError(
      'SIGNATURE_INVALID',
      'internal error: the verified list is not the one that was signed',
    );
  }

  const history = historyPath(path, list.id, version);
  await writeFileAtomic(history, signed);
  await writeFileAtomic(path, signed);

  const sha256 = createHash('sha256').update(signed).digest('hex');
  const publishedAt = new Date().toISOString();
  insertPublication(
    db,
    {
      listId: list.id,
      kind: request.kind,
      version,
      path,
      sha256,
      size: signed.length,
      signerDn: checked.eecDn,
      publishedAt,
    },
    // Unstamped: a renewal stamps it again, image expiries included (compat.ts).
    document,
  );
  recordListPublication(db, list.id, {
    version,
    endorserDn: checked.eecDn,
    endorserCa: checked.eecCa,
    publishPath: path,
  });
  if (request.kind !== 'renew') markAppliancesPublished(db, list.id);
  return {
    listId: list.id,
    version,
    path,
    historyPath: history,
    sha256,
    size: signed.length,
    created: created.toISOString().replace('.000Z', 'Z'),
    expires: expires.toISOString().replace('.000Z', 'Z'),
    signer: checked.eecDn,
  };
}
