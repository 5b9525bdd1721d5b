import { hostname } from 'node:os';
import type { JsonObject } from '../../shared/imagelist/model.js';
import { VERSION } from '../../shared/version.js';
import { CacheLayout } from '../cache/layout.js';
import { deliveriesOf } from '../store/deliveries.js';
import { voAccounts, type VoAccount } from '../store/accounting.js';
import { listedAppliances } from '../store/appliances.js';
import { wantedInstances } from '../store/instances.js';
import { listSummaries } from '../store/lists.js';
import { imageViews, type ImageState } from '../views.js';
import type { StatusSource } from './source.js';

/**
 * The site image index (`vmicatcher export`): the images this site offers now, with their
 * backend-local identifiers (Glance image IDs, directory paths), VO, appliance and
 * successor information, for federation tools and cloud-info style publishers. An image is
 * offered where a backend holds it delivered (not deprecated); with no delivery backend
 * configured (event hooks only), a cached image is offered with its cache path.
 */

export interface SiteImageLocation {
  backend: string;
  type: string;
  /** Backend-local references, one per disk: Glance image IDs, file paths. */
  refs: string[];
  since: string;
}

export interface SiteImage {
  id: string;
  title: string;
  description: string;
  version: string;
  subscription: string;
  vo: string | null;
  os: string | null;
  osVersion: string | null;
  arch: string | null;
  hypervisor: string | null;
  format: string | null;
  size: number;
  sha512: string;
  /** Marketplace page (ad:mpuri), and the base marketplace entry across versions. */
  marketplaceUri: string | null;
  baseMarketplaceUri: string | null;
  sourceUri: string;
  appliance: { id: string; title: string; version: string; role: string } | null;
  supersedes: string[];
  supersededBy: string | null;
  state: ImageState;
  locations: SiteImageLocation[];
}

export interface SiteIndex {
  format: 'vmicast-site-index';
  formatVersion: 1;
  generator: string;
  generatedAt: string;
  site: string;
  images: SiteImage[];
  /** What each VO has at each cloud (issue 16): images, bytes held and delivered. */
  accounting: VoAccount[];
}

const text = (entry: JsonObject, key: string): string | null => {
  const value = entry[key];
  return typeof value === 'string' && value !== '' ? value : null;
};

export function buildSiteIndex(source: StatusSource, site: string = hostname()): SiteIndex {
  const { db, config } = source;
  const now = source.clock();
  const delivery = config.backends.filter((b) => b.type !== 'exec');
  const typeOf = new Map(delivery.map((b) => [b.name, b.type]));
  const states = new Map(
    imageViews(
      db,
      delivery.map((b) => b.name),
    ).map((v) => [v.id, v.state]),
  );
  const lists = listSummaries(db);
  const members = new Map<string, SiteImage['appliance']>();
  for (const a of listedAppliances(db)) {
    for (const m of a.members)
      members.set(m.identifier, { id: a.identifier, title: a.title, version: a.version, role: m.role });
  }
  const cache = new CacheLayout(config.cache);
  const images: SiteImage[] = [];
  for (const inst of wantedInstances(db)) {
    const locations: SiteImageLocation[] = deliveriesOf(db, inst.id)
      .filter((d) => d.state === 'delivered' && typeOf.has(d.backend))
      .map((d) => ({
        backend: d.backend,
        type: typeOf.get(d.backend) ?? '',
        refs: d.refs,
        since: d.updatedAt,
      }));
    if (delivery.length === 0 && inst.state === 'cached') {
      locations.push({
        backend: 'cache',
        type: 'cache',
        refs: [cache.cached(inst.identifier)],
        since: inst.cachedAt ?? '',
      });
    }
    if (locations.length === 0) continue;
    const { entry } = inst;
    const supersedes = entry['vmi:supersedes'];
    images.push({
      id: inst.identifier,
      title: text(entry, 'dc:title') ?? inst.identifier,
      description: text(entry, 'dc:description') ?? '',
      version: inst.version,
      subscription: inst.subscriptionId,
      vo: lists.get(inst.subscriptionId)?.vo ?? null,
      os: text(entry, 'sl:os'),
      osVersion: text(entry, 'sl:osversion'),
      arch: text(entry, 'sl:arch'),
      hypervisor: text(entry, 'hv:hypervisor'),
      format: text(entry, 'hv:format'),
      size: inst.size,
      sha512: inst.sha512,
      marketplaceUri: text(entry, 'ad:mpuri'),
      baseMarketplaceUri: text(entry, 'ad:base_mpuri'),
      sourceUri: inst.uri,
      appliance: members.get(inst.identifier) ?? null,
      supersedes: Array.isArray(supersedes)
        ? supersedes.filter((s): s is string => typeof s === 'string')
        : [],
      supersededBy: inst.supersededBy,
      state: states.get(inst.identifier) ?? 'cached',
      locations,
    });
  }
  return {
    format: 'vmicast-site-index',
    formatVersion: 1,
    generator: `vmicatcher ${VERSION}`,
    generatedAt: now.toISOString(),
    site,
    images,
    accounting: voAccounts(db).filter((a) => typeOf.has(a.backend)),
  };
}
