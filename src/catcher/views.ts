import type { Db } from '../shared/db.js';
import { deliveriesOf } from './store/deliveries.js';
import { currentInstances, type InstanceRow } from './store/instances.js';
import { listSummaries } from './store/lists.js';
import { imageRefusals, type ImageRefusal } from './store/refusals.js';
import { listSubscriptions } from './store/subscriptions.js';
import type { Json, JsonObject } from '../shared/imagelist/model.js';
import { isDigest, parseReference } from '../shared/oci/reference.js';
import { OCI_ENTRY_KEYS } from './registry/entry.js';
import type { RegistrySource } from './registry/source.js';

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
  /** `list`: a signed image list; `registry`: a registry followed without a signature (issue 15). */
  source: 'list' | 'registry';
  signed: boolean;
  /** What a registry subscription follows; null for a list. Credentials are never shown. */
  registry: RegistryView | null;
}

export interface RegistryView {
  host: string;
  scope: 'project' | 'repository';
  /** The project, or the repository's full name. */
  name: string;
  tagPattern: string;
}

/** How status shows a registry subscription's source (never its credentials). */
export function registryView(r: RegistrySource | null): RegistryView | null {
  if (r === null) return null;
  return {
    host: r.registry,
    scope: r.scope.kind,
    name: r.scope.kind === 'project' ? r.scope.project : r.scope.repository,
    tagPattern: r.tagPattern,
  };
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
      // A registry subscription's stored entries never expire: no list expiry to watch.
      expires: s.registry === null ? (current?.expires ?? null) : null,
      lastSuccess: s.lastSuccessAt,
      lastError: s.lastError === null ? null : { code: s.lastError.code, message: s.lastError.message },
      endorsers: s.endorsers,
      newImages: s.newImages,
      lapsedSince: s.lapsedSince,
      state: s.state,
      refusedImages: imageRefusals(db, s.id),
      source: s.registry === null ? 'list' : 'registry',
      signed: s.registry === null,
      registry: registryView(s.registry),
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
  /** Artefacts attached to a registry image (an SBOM), when its entry lists them (`vmi:oci:referrers`). */
  referrers?: ReferrerView[];
}

export interface ReferrerView {
  /** `<registry>/<repository>@sha256:<hex>`: where the attached artefact is. */
  reference: string;
  artifactType: string | null;
}

/** `<registry>/<repository>` of a `vmi:oci:manifest` reference, when it is one (never other text). */
function repositoryOf(manifest: Json | undefined): string | undefined {
  if (typeof manifest !== 'string') return undefined;
  try {
    const ref = parseReference(manifest);
    return `${ref.registry}/${ref.repository}`;
  } catch {
    return undefined;
  }
}

/**
 * The referrers a registry image's entry records, each named where it can be pulled. The entry
 * came from a registry: elements that are not a digest-bearing object are left out.
 */
function referrersOf(entry: JsonObject): ReferrerView[] | undefined {
  const list = entry[OCI_ENTRY_KEYS.referrers];
  if (!Array.isArray(list)) return undefined;
  const repository = repositoryOf(entry[OCI_ENTRY_KEYS.manifest]);
  return list.flatMap((r) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return [];
    const { digest, artifactType } = r;
    if (typeof digest !== 'string' || !isDigest(digest)) return [];
    return [
      {
        reference: repository === undefined ? digest : `${repository}@${digest}`,
        artifactType: typeof artifactType === 'string' ? artifactType : null,
      },
    ];
  });
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
    const referrers = referrersOf(inst.entry);
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
      ...(referrers === undefined ? {} : { referrers }),
    };
  });
}
