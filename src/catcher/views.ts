import type { Db } from '../shared/db.js';
import { deliveriesOf } from './store/deliveries.js';
import { currentInstances, type InstanceRow } from './store/instances.js';
import { listSummaries } from './store/lists.js';
import { imageRefusals, type ImageRefusal } from './store/refusals.js';
import { listSubscriptions } from './store/subscriptions.js';

/** What `subscriptions --json`, `images --json` and the status endpoint show (CONTRACT.md). */

export interface SubscriptionView {
  id: string;
  url: string;
  vo: string | null;
  version: string | null;
  created: string | null;
  expires: string | null;
  lastSuccess: string | null;
  lastError: { code: string; message: string } | null;
  endorsers: { dn: string; ca: string }[];
  newImages: string;
  lapsedSince: string | null;
  state: 'active' | 'removing';
  /** Images of the accepted list refused one by one (IMAGE_IDENTIFIER_CLAIMED). */
  refusedImages: ImageRefusal[];
}

export function subscriptionViews(db: Db): SubscriptionView[] {
  const lists = listSummaries(db);
  return listSubscriptions(db).map((s) => {
    const current = lists.get(s.id);
    return {
      id: s.id,
      url: s.url,
      vo: current?.vo ?? s.vo,
      version: current?.version ?? null,
      created: current?.created ?? null,
      expires: current?.expires ?? null,
      lastSuccess: s.lastSuccessAt,
      lastError: s.lastError === null ? null : { code: s.lastError.code, message: s.lastError.message },
      endorsers: s.endorsers,
      newImages: s.newImages,
      lapsedSince: s.lapsedSince,
      state: s.state,
      refusedImages: imageRefusals(db, s.id),
    };
  });
}

export type ImageState =
  'known' | 'selected' | 'downloading' | 'cached' | 'delivered' | 'deprecated' | 'retired';

export interface ImageView {
  id: string;
  subscription: string;
  title: string;
  version: string;
  sha512: string;
  size: number;
  state: ImageState;
  supersedes: string[];
  supersededBy: string | null;
  appliance: string | null;
  unwantedReason: string | null;
  lastError: { code: string; message: string } | null;
  backends: Record<
    string,
    { state: string; refs: string[]; lastError: { code: string; message: string } | null }
  >;
}

function imageState(inst: InstanceRow, deliveredEverywhere: boolean, backendsHold: boolean): ImageState {
  if (inst.unwantedReason !== null && inst.unwantedReason !== 'deselected') {
    // Still in a backend or in the cache: deprecated. Gone, or never cached (removed before
    // its download finished; found by the soak of issue 8): retired.
    return backendsHold || inst.state === 'cached' ? 'deprecated' : 'retired';
  }
  if (!inst.selected) return inst.state === 'cached' || backendsHold ? 'deprecated' : 'known';
  switch (inst.state) {
    case 'pending':
      return 'selected';
    case 'downloading':
    case 'verified':
      return 'downloading';
    case 'cached':
      return deliveredEverywhere ? 'delivered' : 'cached';
    case 'expired':
    case 'purged':
      return 'retired';
  }
}

export function imageViews(db: Db, deliveryBackends: readonly string[]): ImageView[] {
  return currentInstances(db).map((inst) => {
    const records = deliveriesOf(db, inst.id);
    const delivered = (b: string) => records.some((r) => r.backend === b && r.state === 'delivered');
    const hold = records.some((r) => r.state === 'delivered' || r.state === 'deprecated');
    const supersedes = inst.entry['vmi:supersedes'];
    const title = inst.entry['dc:title'];
    return {
      id: inst.identifier,
      subscription: inst.subscriptionId,
      title: typeof title === 'string' ? title : '',
      version: inst.version,
      sha512: inst.sha512,
      size: inst.size,
      state: imageState(inst, deliveryBackends.length > 0 && deliveryBackends.every(delivered), hold),
      supersedes: Array.isArray(supersedes)
        ? supersedes.filter((s): s is string => typeof s === 'string')
        : [],
      supersededBy: inst.supersededBy,
      appliance: inst.appliance,
      unwantedReason: inst.unwantedReason,
      lastError: inst.lastError,
      backends: Object.fromEntries(
        records.map((r) => [r.backend, { state: r.state, refs: r.refs, lastError: r.lastError }]),
      ),
    };
  });
}
