import type { HttpClient } from '../../shared/http.js';
import type { Logger } from 'pino';
import { asVmiError, type VmiError } from '../../shared/errors.js';
import type { ImageEntry, ImageList } from '../../shared/imagelist/model.js';
import { sha256 } from './accept.js';
import { reconcileStored, type PollOutcome } from './poll.js';
import type { ReconcilePlan } from './reconcile.js';
import type { RunContext } from './run-context.js';
import type { DiscoveredArtefact, RegistrySource } from '../registry/source.js';
import { applyPlan } from '../store/images.js';
import { measuredDigests } from '../store/instances.js';
import { claimReleased } from '../store/refusals.js';
import {
  currentListInstance,
  insertListInstance,
  recordAttempt,
  recordError,
  recordSuccess,
  setLapsed,
  type Subscription,
} from '../store/subscriptions.js';

/**
 * One poll of a registry subscription (issue 15), in place of SPEC.md section 5 steps 2 to 9
 * for a signed list: the registry's artefacts are discovered (every listing and manifest
 * read, or nothing changes), each becomes an image entry as EGI's sync names it, and the
 * entries are reconciled and stored like a list's, in one transaction. There is no
 * signature, endorser or version order to check: the operator chose to trust the registry
 * and its TLS (`--unsigned`), and the layer's sha256 is checked at the download.
 */

export interface RegistryPollContext extends RunContext {
  http: HttpClient;
}

/** What the store keeps as the subscription's "list": the discovered entries, canonical. */
function discoveredDocument(source: RegistrySource, images: readonly ImageEntry[]): Buffer {
  return Buffer.from(JSON.stringify({ registry: source, images: images.map((i) => i.entry) }));
}

/** The entries as a list for reconcile: images only, no appliances, no signer. */
function asList(sub: Subscription, images: ImageEntry[], now: Date): ImageList {
  return {
    identifier: sub.id,
    title: sub.url,
    description: '',
    source: sub.url,
    created: now,
    expires: new Date('9999-12-31T23:59:59Z'),
    version: now.toISOString(),
    uri: sub.url,
    vo: sub.vo ?? undefined,
    endorser: { dn: '', ca: '', email: '', creator: '' },
    images,
    appliances: [],
    document: {},
    warnings: [],
  };
}

async function discoverEntries(
  ctx: RegistryPollContext,
  sub: Subscription,
  source: RegistrySource,
  log: Logger,
): Promise<ImageEntry[]> {
  const [{ RegistryClient }, { discover }, { artefactEntry }] = await Promise.all([
    import('../../shared/oci/client.js'),
    import('../registry/discover.js'),
    import('../registry/entry.js'),
  ]);
  const credentials =
    sub.username !== null && sub.password !== null
      ? { credentials: { username: sub.username, password: sub.password } }
      : {};
  const client = new RegistryClient({ registry: source.registry, http: ctx.http, ...credentials });
  const found = await discover(client, source, { signal: ctx.signal });
  for (const s of found.skipped) log.info({ reference: s.reference, reason: s.reason }, 'artefact skipped');
  // Bytes already measured keep their SHA-512: the entry is then the stored one again.
  const measured = measuredDigests(ctx.db, sub.id);
  return found.artefacts.map((a: DiscoveredArtefact) => {
    const entry = artefactEntry(a);
    const known = measured.get(entry.uri);
    return known === undefined ? entry : artefactEntry(a, known);
  });
}

/** Stores the entries as the subscription's new "list" and reconciles its images. */
function storeDiscovered(
  ctx: RegistryPollContext,
  sub: Subscription,
  list: ImageList,
  document: Buffer,
): ReconcilePlan {
  const { db, now } = ctx;
  const plan = reconcileStored(db, sub, list, now);
  insertListInstance(db, {
    subscriptionId: sub.id,
    version: list.version,
    created: now.toISOString(),
    expires: list.expires.toISOString(),
    sha256: sha256(document),
    signed: document,
    signerDn: '',
    signerCa: '',
    vo: sub.vo,
    acceptedAt: now.toISOString(),
  });
  setLapsed(db, sub.id, null);
  applyPlan(db, sub.id, plan, list.version, now);
  return plan;
}

export async function pollRegistry(ctx: RegistryPollContext, sub: Subscription): Promise<PollOutcome> {
  const { db, now } = ctx;
  const log = ctx.log.child({ subscription: sub.id });
  const none = { etag: null, lastModified: null };
  try {
    if (sub.registry === null) throw new Error(`subscription ${sub.id} is not a registry subscription`);
    const source = sub.registry;
    const images = await discoverEntries(ctx, sub, source, log);
    const document = discoveredDocument(source, images);
    const current = currentListInstance(db, sub.id);
    const list = asList(sub, images, now);
    if (current?.sha256 === sha256(document)) {
      db.transaction(() => {
        recordAttempt(db, sub.id, now);
        // An identifier another subscription held is free now: the same entries again.
        if (claimReleased(db, sub.id))
          applyPlan(db, sub.id, reconcileStored(db, sub, list, now), current.version, now);
        recordSuccess(db, sub.id, now, none);
      }).immediate();
      return { status: 'unchanged' };
    }
    const plan = db
      .transaction(() => {
        recordAttempt(db, sub.id, now);
        const plan = storeDiscovered(ctx, sub, list, document);
        recordSuccess(db, sub.id, now, none);
        return plan;
      })
      .immediate();
    log.info(
      { images: plan.images.length, registry: source.registry },
      'registry artefacts accepted (unsigned)',
    );
    return { status: 'updated', version: list.version, plan };
  } catch (err) {
    const error: VmiError = asVmiError(err, 'FETCH_FAILED');
    db.transaction(() => {
      recordAttempt(db, sub.id, now);
      recordError(db, sub.id, error, now);
    }).immediate();
    log.warn({ err: error, code: error.code }, 'registry discovery refused');
    return { status: 'refused', error };
  }
}
