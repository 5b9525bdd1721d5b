import { Gauge, type Registry } from 'prom-client';
import { PROBE_EXIT } from './health.js';
import { IMAGE_STATES, type SiteStatus } from './status.js';

/** An ISO time as Unix seconds. */
export const seconds = (iso: string) => new Date(iso).getTime() / 1000;

/**
 * The gauges of the metrics that say what the database says (metrics.ts): registered on
 * `registry` now, and set afresh from a status document by the function returned, at each
 * scrape.
 */
export function statusGauges(registry: Registry): (status: SiteStatus) => void {
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const images = gauge('vmicatcher_images', 'Current images by state', ['state']);
  const subscriptions = gauge('vmicatcher_subscriptions', 'Subscriptions by state', ['state']);
  const failingSubscriptions = gauge(
    'vmicatcher_subscriptions_failing',
    'Subscriptions whose last poll failed',
    [],
  );
  const listExpiry = gauge(
    'vmicatcher_list_expiry_seconds',
    'Seconds until the accepted list of each subscription expires (negative: expired)',
    ['subscription'],
  );
  const earliestExpiry = gauge(
    'vmicatcher_earliest_list_expiry_seconds',
    'Seconds until the first list expires, labelled with its subscription',
    ['subscription'],
  );
  const lastSuccess = gauge(
    'vmicatcher_last_success_timestamp_seconds',
    'When each subscription last updated successfully (Unix time)',
    ['subscription'],
  );
  const oldestUpdate = gauge(
    'vmicatcher_oldest_successful_update_age_seconds',
    'Age of the least recent successful update among subscriptions, labelled with that subscription',
    ['subscription'],
  );
  const deliveries = gauge(
    'vmicatcher_deliveries',
    'Delivery records of current images by backend and state',
    ['backend', 'state'],
  );
  const deliveriesFailing = gauge(
    'vmicatcher_deliveries_failing',
    'Deliveries whose last attempt failed, by backend',
    ['backend'],
  );
  const outboxDepth = gauge('vmicatcher_outbox_depth', 'Events waiting in the outbox of each exec backend', [
    'backend',
  ]);
  const outboxFailed = gauge(
    'vmicatcher_outbox_failed_events',
    'Events the outbox gave up on (operator action needed)',
    ['backend'],
  );
  const outboxAge = gauge(
    'vmicatcher_outbox_oldest_failing_age_seconds',
    'Age of the oldest failing event of each exec backend (0: none failing)',
    ['backend'],
  );
  const voImages = gauge(
    'vmicatcher_vo_images',
    'Current images usable at each backend (cloud), by VO ("" for lists without a VO)',
    ['backend', 'vo'],
  );
  const voBytesHeld = gauge(
    'vmicatcher_vo_bytes_held',
    'Bytes of the images each backend holds for each VO (usable, hidden or staged)',
    ['backend', 'vo'],
  );
  const voBytesDelivered = gauge(
    'vmicatcher_vo_delivered_bytes',
    'Bytes of every image delivered to each backend for each VO, retired ones included',
    ['backend', 'vo'],
  );
  const downloadQueue = gauge(
    'vmicatcher_download_queue',
    'Wanted images not cached yet: waiting, and among them failing',
    ['state'],
  );
  const trustAnchors = gauge('vmicatcher_trust_anchors', 'CA certificates in the trust store', []);
  const trustCrls = gauge('vmicatcher_trust_crls', 'CRLs in the trust store', []);
  const staleCrls = gauge('vmicatcher_trust_stale_crls', 'CRLs past their nextUpdate', []);
  const crlNextUpdate = gauge(
    'vmicatcher_trust_crl_next_update_seconds',
    'Seconds until the first CRL of the trust store goes stale (negative: already stale), labelled with its issuer',
    ['issuer'],
  );
  const trustUsable = gauge('vmicatcher_trust_store_usable', '1 when the trust store can be read', []);
  const health = gauge(
    'vmicatcher_health_state',
    'Health as the probe judges it with default thresholds: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
    [],
  );

  return (status) => {
    const now = new Date(status.now).getTime() / 1000;
    for (const state of IMAGE_STATES) images.set({ state }, status.totals.images[state]);
    for (const g of [subscriptions, listExpiry, earliestExpiry, lastSuccess, oldestUpdate]) g.reset();
    for (const state of ['active', 'removing'] as const) {
      subscriptions.set({ state }, status.subscriptions.filter((s) => s.state === state).length);
    }
    failingSubscriptions.set(status.totals.failingSubscriptions);
    for (const s of status.subscriptions) {
      if (s.expiresInSeconds !== null) listExpiry.set({ subscription: s.id }, s.expiresInSeconds);
      if (s.lastSuccess !== null) lastSuccess.set({ subscription: s.id }, seconds(s.lastSuccess));
    }
    const { earliestExpiry: first, oldestUpdate: oldest } = status.totals;
    if (first !== null) earliestExpiry.set({ subscription: first.subscription }, first.inSeconds);
    if (oldest !== null) oldestUpdate.set({ subscription: oldest.subscription }, oldest.ageSeconds);
    for (const g of [deliveries, deliveriesFailing, outboxDepth, outboxFailed, outboxAge]) g.reset();
    for (const b of status.backends) {
      if (b.deliveries !== null) {
        for (const state of ['pending', 'delivered', 'deprecated', 'retired']) {
          deliveries.set({ backend: b.name, state }, b.deliveries[state] ?? 0);
        }
        deliveriesFailing.set({ backend: b.name }, b.failing);
      }
      if (b.outbox !== null) {
        outboxDepth.set({ backend: b.name }, b.outbox.pending);
        outboxFailed.set({ backend: b.name }, b.outbox.failed);
        const since = b.outbox.oldestFailingSince;
        outboxAge.set({ backend: b.name }, since === null ? 0 : Math.max(0, now - seconds(since)));
      }
    }
    for (const g of [voImages, voBytesHeld, voBytesDelivered]) g.reset();
    for (const a of status.accounting) {
      const labels = { backend: a.backend, vo: a.vo ?? '' };
      voImages.set(labels, a.images);
      voBytesHeld.set(labels, a.bytesHeld);
      voBytesDelivered.set(labels, a.bytesDelivered);
    }
    downloadQueue.set({ state: 'waiting' }, status.totals.downloads.waiting);
    downloadQueue.set({ state: 'failing' }, status.totals.downloads.failing);
    const trust = status.trust.summary;
    trustUsable.set(trust === null ? 0 : 1);
    trustAnchors.set(trust?.anchors ?? 0);
    trustCrls.set(trust?.crls.length ?? 0);
    staleCrls.set(trust?.staleCrls ?? 0);
    const next = (trust?.crls ?? [])
      .filter((c): c is typeof c & { nextUpdate: string } => c.nextUpdate !== null)
      .map((c) => ({ issuer: c.issuer, in: seconds(c.nextUpdate) - now }))
      .sort((a, b) => a.in - b.in)[0];
    crlNextUpdate.reset();
    if (next !== undefined) crlNextUpdate.set({ issuer: next.issuer }, next.in);
    health.set(PROBE_EXIT[status.health.status]);
  };
}
