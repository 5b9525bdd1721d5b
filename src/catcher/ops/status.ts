import { voAccounts } from '../store/accounting.js';
import { routingOf } from '../backends/routing.js';
import { heldBackImages } from '../deliver/routes.js';
import { listSummaries } from '../store/lists.js';
import { asVmiError } from '../../shared/errors.js';
import { summarizeTrustStore } from '../../shared/pki/truststore.js';
import { VERSION } from '../../shared/version.js';
import { applianceAvailability } from '../store/deliveries.js';
import { outboxSummary } from '../store/outbox.js';
import { appliancesOf } from '../store/appliances.js';
import { listSubscriptions } from '../store/subscriptions.js';
import { imageViews, subscriptionViews, type ImageState } from '../views.js';
import type { CycleRecord } from './daemonstate.js';
import { explained, type ExplainedError } from './explain.js';
import { DEFAULT_THRESHOLDS, evaluateHealth } from './health.js';
import { deliveryCounts, downloadQueue, failingDeliveries } from '../store/stats.js';
import type {
  ApplianceStatus,
  BackendStatus,
  DaemonInfo,
  ImageStatus,
  SiteStatus,
  SubscriptionStatus,
  TrustStatus,
} from './sitestatus.js';
import type { StatusSource } from './source.js';

/**
 * The site status (`GET /api/v1/status`, `vmicatcher status --json`, the status page, the
 * probe and the metrics all read this one document): subscriptions with their lists, images
 * by state with successors and appliances, backends with deliveries and event outboxes, the
 * trust store with CRL freshness, and the daemon's last cycle. Errors carry their code, the
 * message, and an explanation in plain words.
 */

export type {
  ApplianceStatus,
  BackendStatus,
  DaemonInfo,
  ImageStatus,
  SiteStatus,
  SubscriptionStatus,
  TrustStatus,
} from './sitestatus.js';

export const IMAGE_STATES: readonly ImageState[] = [
  'known',
  'selected',
  'downloading',
  'cached',
  'delivered',
  'deprecated',
  'retired',
];

export function countByState(images: readonly { state: ImageState }[]): Record<ImageState, number> {
  const counts = Object.fromEntries(IMAGE_STATES.map((s) => [s, 0])) as Record<ImageState, number>;
  for (const image of images) counts[image.state] += 1;
  return counts;
}

const seconds = (from: Date, to: string) => Math.round((new Date(to).getTime() - from.getTime()) / 1000);

function appliances(source: StatusSource, subscription: string): ApplianceStatus[] {
  return appliancesOf(source.db, subscription).map((a) => ({
    id: a.identifier,
    title: a.title,
    version: a.version,
    listed: a.listed,
    supersedes: a.supersedes,
    members: a.members.map((m) => ({ role: m.role, image: m.identifier })),
    availableOn: applianceAvailability(source.db, subscription, a.identifier).filter(
      (v) => v.version === a.version,
    ),
  }));
}

function backends(source: StatusSource): BackendStatus[] {
  const { db, config } = source;
  const execNames = config.backends.filter((b) => b.type === 'exec').map((b) => b.name);
  const outboxes = new Map(outboxSummary(db, execNames).map((o) => [o.backend, o]));
  const lists = listSummaries(db);
  const routed = config.backends.flatMap((b) =>
    b.type === 'exec' ? [] : [{ name: b.name, routing: routingOf(b) }],
  );
  const held = heldBackImages(db, routed, (id) => lists.get(id)?.vo ?? undefined);
  return config.backends.map((b) => {
    const outbox = outboxes.get(b.name);
    if (outbox !== undefined) {
      return {
        name: b.name,
        type: b.type,
        deliveries: null,
        failing: outbox.failed,
        lastError: null,
        heldBack: [],
        outbox: { ...outbox, lastError: explained(outbox.lastError) },
      };
    }
    const failing = failingDeliveries(db, b.name);
    const last = failing[0];
    return {
      name: b.name,
      type: b.type,
      deliveries: deliveryCounts(db, b.name),
      failing: failing.length,
      lastError:
        last === undefined
          ? null
          : { ...(explained(last) as ExplainedError), at: last.at, image: last.image },
      heldBack: held.filter((h) => h.backend === b.name).map(({ backend: _, ...rest }) => rest),
      outbox: null,
    };
  });
}

async function trustStatus(source: StatusSource, now: Date): Promise<TrustStatus> {
  try {
    return {
      location: source.config.caDir,
      error: null,
      summary: summarizeTrustStore(await source.trust(), now),
    };
  } catch (err) {
    const error = asVmiError(err, 'CONFIG_INVALID');
    return { location: source.config.caDir, error: explained(error), summary: null };
  }
}

export interface DaemonView {
  info: DaemonInfo | null;
  lastCycle: CycleRecord | null;
}

export async function buildStatus(source: StatusSource, daemon: DaemonView): Promise<SiteStatus> {
  const now = source.clock();
  const { db, config } = source;
  const deliveryNames = config.backends.filter((b) => b.type !== 'exec').map((b) => b.name);
  const images: ImageStatus[] = imageViews(db, deliveryNames).map((v) => ({
    ...v,
    lastError: explained(v.lastError),
    backends: Object.fromEntries(
      Object.entries(v.backends).map(([name, d]) => [name, { ...d, lastError: explained(d.lastError) }]),
    ),
  }));
  const stored = new Map(listSubscriptions(db).map((s) => [s.id, s]));
  const subscriptions: SubscriptionStatus[] = subscriptionViews(db).map((v) => {
    const sub = stored.get(v.id);
    const subscribedAt = sub?.createdAt ?? now.toISOString();
    return {
      ...v,
      subscribedAt,
      lastAttemptAt: sub?.lastAttemptAt ?? null,
      lastError:
        sub?.lastError === null || sub?.lastError === undefined
          ? null
          : { ...(explained(sub.lastError) as ExplainedError), at: sub.lastError.at },
      expiresInSeconds: v.expires === null ? null : seconds(now, v.expires),
      lastSuccessAgeSeconds: -seconds(now, v.lastSuccess ?? subscribedAt),
      images: countByState(images.filter((i) => i.subscription === v.id)),
      appliances: appliances(source, v.id),
    };
  });
  const active = subscriptions.filter((s) => s.state === 'active');
  const expiring = active
    .filter(
      (s): s is SubscriptionStatus & { expires: string; expiresInSeconds: number } => s.expires !== null,
    )
    .sort((a, b) => a.expiresInSeconds - b.expiresInSeconds)[0];
  const oldest = [...active].sort((a, b) => b.lastSuccessAgeSeconds - a.lastSuccessAgeSeconds)[0];
  const partial: Omit<SiteStatus, 'health'> = {
    program: 'vmicatcher',
    version: VERSION,
    now: now.toISOString(),
    home: config.home,
    daemon: daemon.info,
    lastCycle: daemon.lastCycle,
    totals: {
      subscriptions: subscriptions.length,
      failingSubscriptions: subscriptions.filter((s) => s.lastError !== null).length,
      images: countByState(images),
      downloads: downloadQueue(db),
      earliestExpiry:
        expiring === undefined
          ? null
          : { subscription: expiring.id, at: expiring.expires, inSeconds: expiring.expiresInSeconds },
      oldestUpdate:
        oldest === undefined
          ? null
          : { subscription: oldest.id, at: oldest.lastSuccess, ageSeconds: oldest.lastSuccessAgeSeconds },
    },
    subscriptions,
    images,
    backends: backends(source),
    accounting: voAccounts(db).filter((a) => deliveryNames.includes(a.backend)),
    trust: await trustStatus(source, now),
  };
  return { ...partial, health: evaluateHealth(partial, DEFAULT_THRESHOLDS) };
}
