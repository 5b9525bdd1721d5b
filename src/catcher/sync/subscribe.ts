import { VmiError } from '../../shared/errors.js';
import type { Endorsement } from '../../shared/verify.js';
import type { Catcher } from '../catcher.js';
import { fetchList } from './fetch.js';
import { checkMaxAge } from './accept.js';
import { storeAndReconcile, verifyForSubscription } from './poll.js';
import type { NewImagePolicy } from './reconcile.js';
import { selectImage } from './selection.js';
import { storedImages } from '../store/images.js';
import { getSubscription, insertSubscription, type TrustOverrides } from '../store/subscriptions.js';

/**
 * `subscribe`: first contact with a list. It is fetched and verified now; the subscription
 * is pinned to the list identifier and to an endorser named by the operator, or (only when
 * asked for with --auto-endorse) to the signer seen now: trust on first use.
 */
export interface SubscribeRequest {
  url: string;
  endorser: Endorsement | undefined;
  autoEndorse: boolean;
  vo: string | undefined;
  requireVoms: boolean;
  fqan: string | undefined;
  newImages: NewImagePolicy;
  username: string | undefined;
  password: string | undefined;
  trust: TrustOverrides;
  now: Date;
  /** The list identifier the operator expects (migration from vmcatcher pins it already). */
  expectedId?: string | undefined;
  /**
   * Images the site already knew (migration from vmcatcher): identifier -> selected for the
   * cache. Listed images named here keep that selection; the others follow `newImages`, except
   * that `refuse` records them as known (not cached) since the first list is stored whole.
   */
  carried?: ReadonlyMap<string, boolean> | undefined;
  /** Further endorsers trusted besides `endorser` (migration: every one vmcatcher authorised). */
  moreEndorsers?: readonly Endorsement[] | undefined;
}

/**
 * Credentials belong in --user/--password: in a URL they would show wherever the URL does
 * (logs, status, errors), and the client would send them to every host a redirect names.
 */
function checkNoCredentials(parsed: URL): void {
  if (parsed.username !== '' || parsed.password !== '')
    throw new VmiError(
      'USAGE',
      `the list URL ${displayUrl(parsed)} carries credentials; give them with --user and --password instead`,
    );
}

/** A URL for messages: user and password left out. */
export function displayUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(not a URL)';
  }
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

export interface SubscribeResult {
  id: string;
  version: string;
  title: string;
  images: number;
  endorser: Endorsement;
}

export async function subscribe(catcher: Catcher, req: SubscribeRequest): Promise<SubscribeResult> {
  const { db, config } = catcher;
  if (req.endorser === undefined && !req.autoEndorse) {
    throw new VmiError(
      'USAGE',
      'name the trusted endorser (--endorser-dn and --endorser-ca) or ask for --auto-endorse',
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(req.url);
  } catch {
    throw new VmiError('USAGE', 'the list URL is not a URL');
  }
  checkNoCredentials(parsed);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new VmiError('USAGE', `not an http(s) URL: ${req.url}`);
  const existing = getSubscription(db, req.url);
  if (existing !== undefined)
    throw new VmiError('USAGE', `${req.url} is already subscribed as ${existing.id}`);

  const fetched = await fetchList(await catcher.http(), req.url, {
    etag: null,
    lastModified: null,
    username: req.username ?? null,
    password: req.password ?? null,
    maxBytes: config.lists.maxBytes,
    deadlineMs: config.lists.timeoutSeconds * 1000,
  });
  if (fetched.status !== 'ok')
    throw new VmiError('HTTP_STATUS', `${req.url} answered 304 to an unconditional request`);
  const sub = {
    trust: req.trust,
    vo: req.vo ?? null,
    requireVoms: req.requireVoms,
    fqan: req.fqan ?? null,
    endorsers: req.autoEndorse ? undefined : [req.endorser as Endorsement, ...(req.moreEndorsers ?? [])],
  };
  const ctx = { trust: await catcher.trust(), vomsDir: await catcher.vomsDir(), config, now: req.now };
  const verified = verifyForSubscription(ctx, sub, fetched.bytes);
  checkMaxAge(verified.list, req.now, config.lists.maxAgeDays);
  const id = verified.list.identifier;
  if (req.expectedId !== undefined && id !== req.expectedId) {
    throw new VmiError('LIST_IDENTIFIER_CHANGED', `the list identifier is ${id}; expected ${req.expectedId}`);
  }
  const taken = getSubscription(db, id);
  if (taken !== undefined) throw new VmiError('USAGE', `list ${id} is already subscribed from ${taken.url}`);
  const endorser = req.endorser ?? { dn: verified.signer.dn, ca: verified.signer.ca };
  db.transaction(() => {
    insertSubscription(
      db,
      {
        id,
        url: req.url,
        vo: req.vo ?? null,
        requireVoms: req.requireVoms,
        fqan: req.fqan ?? null,
        newImages: req.newImages,
        trust: req.trust,
        username: req.username ?? null,
        password: req.password ?? null,
        endorsers: [endorser, ...(req.autoEndorse ? [] : (req.moreEndorsers ?? []))],
      },
      req.now,
    );
    const stored = getSubscription(db, id);
    if (stored === undefined) throw new Error('subscription vanished inside its transaction');
    const carried = req.carried;
    // Carried selections: store the first list with nothing selected, then select what the site chose.
    const first = carried === undefined ? stored : { ...stored, newImages: 'accept' as const };
    storeAndReconcile(db, req.now, first, verified, fetched.bytes, {
      etag: fetched.etag,
      lastModified: fetched.lastModified,
    });
    if (carried !== undefined) {
      for (const image of storedImages(db, id)) {
        if (carried.get(image.identifier) ?? req.newImages === 'subscribe')
          selectImage(db, image.identifier, true, req.now);
      }
    }
  }).immediate();
  return {
    id,
    version: verified.list.version,
    title: verified.list.title,
    images: verified.list.images.length,
    endorser,
  };
}
