import { collectDefaultMetrics, Counter, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';
import { areaOf, isErrorCode } from '../../shared/errors.js';
import { VERSION } from '../../shared/version.js';
import type { SyncReport } from '../sync/sync.js';
import type { CycleRecord } from './daemonstate.js';
import { PROBE_EXIT } from './health.js';
import { IMAGE_STATES, type SiteStatus } from './status.js';

/**
 * Prometheus metrics of the daemon, with prom-client on a registry of its own. Counters and
 * histograms grow with each cycle; gauges are set from the site status at each scrape, so
 * they say what the database says even about cycles a manual `sync` ran.
 */

const VERIFICATION_AREAS = new Set(['envelope', 'signature', 'authorization', 'list', 'images']);

function isVerification(code: string): boolean {
  return isErrorCode(code) && VERIFICATION_AREAS.has(areaOf(code));
}

const seconds = (iso: string) => new Date(iso).getTime() / 1000;

export class CatcherMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];

  private readonly cycles = new Counter({
    name: 'vmicatcher_cycles_total',
    help: 'Sync cycles run by the daemon, by what started them and how they ended',
    labelNames: ['trigger', 'result'] as const,
    registers: this.r,
  });
  private readonly cycleDuration = new Histogram({
    name: 'vmicatcher_cycle_duration_seconds',
    help: 'Duration of sync cycles (skipped cycles excluded)',
    labelNames: ['result'] as const,
    buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 28800],
    registers: this.r,
  });
  private readonly lastCycle = new Gauge({
    name: 'vmicatcher_last_cycle_timestamp_seconds',
    help: 'When the last cycle finished (Unix time)',
    registers: this.r,
  });
  private readonly lastOkCycle = new Gauge({
    name: 'vmicatcher_last_ok_cycle_timestamp_seconds',
    help: 'When the last cycle without any failure finished (Unix time)',
    registers: this.r,
  });
  private readonly cycleRunning = new Gauge({
    name: 'vmicatcher_cycle_running',
    help: '1 while a sync cycle runs',
    registers: this.r,
  });
  private readonly bytes = new Counter({
    name: 'vmicatcher_downloaded_bytes_total',
    help: 'Image bytes fetched over the network (resumed bytes counted once)',
    registers: this.r,
  });
  private readonly downloads = new Counter({
    name: 'vmicatcher_downloads_total',
    help: 'Image downloads by result',
    labelNames: ['result'] as const,
    registers: this.r,
  });
  private readonly throughput = new Histogram({
    name: 'vmicatcher_download_throughput_bytes_per_second',
    help: 'Throughput of successful image downloads',
    buckets: exponentialBuckets(64 * 1024, 4, 9),
    registers: this.r,
  });
  private readonly verificationFailures = new Counter({
    name: 'vmicatcher_verification_failures_total',
    help: 'Lists and images refused by verification, by error code (SPEC.md section 9)',
    labelNames: ['code', 'kind'] as const,
    registers: this.r,
  });
  private readonly transferFailures = new Counter({
    name: 'vmicatcher_transfer_failures_total',
    help: 'List and image fetches that failed for other reasons (network, HTTP, disk), by error code',
    labelNames: ['code', 'kind'] as const,
    registers: this.r,
  });
  private readonly deliveryFailures = new Counter({
    name: 'vmicatcher_delivery_failures_total',
    help: 'Backend operations that failed, by backend and error code',
    labelNames: ['backend', 'code'] as const,
    registers: this.r,
  });

  private readonly images = this.gauge('vmicatcher_images', 'Current images by state', ['state']);
  private readonly subscriptions = this.gauge('vmicatcher_subscriptions', 'Subscriptions by state', [
    'state',
  ]);
  private readonly failingSubscriptions = this.gauge(
    'vmicatcher_subscriptions_failing',
    'Subscriptions whose last poll failed',
    [],
  );
  private readonly listExpiry = this.gauge(
    'vmicatcher_list_expiry_seconds',
    'Seconds until the accepted list of each subscription expires (negative: expired)',
    ['subscription'],
  );
  private readonly earliestExpiry = this.gauge(
    'vmicatcher_earliest_list_expiry_seconds',
    'Seconds until the first list expires, labelled with its subscription',
    ['subscription'],
  );
  private readonly lastSuccess = this.gauge(
    'vmicatcher_last_success_timestamp_seconds',
    'When each subscription last updated successfully (Unix time)',
    ['subscription'],
  );
  private readonly oldestUpdate = this.gauge(
    'vmicatcher_oldest_successful_update_age_seconds',
    'Age of the least recent successful update among subscriptions, labelled with that subscription',
    ['subscription'],
  );
  private readonly deliveries = this.gauge(
    'vmicatcher_deliveries',
    'Delivery records of current images by backend and state',
    ['backend', 'state'],
  );
  private readonly deliveriesFailing = this.gauge(
    'vmicatcher_deliveries_failing',
    'Deliveries whose last attempt failed, by backend',
    ['backend'],
  );
  private readonly outboxDepth = this.gauge(
    'vmicatcher_outbox_depth',
    'Events waiting in the outbox of each exec backend',
    ['backend'],
  );
  private readonly outboxFailed = this.gauge(
    'vmicatcher_outbox_failed_events',
    'Events the outbox gave up on (operator action needed)',
    ['backend'],
  );
  private readonly outboxAge = this.gauge(
    'vmicatcher_outbox_oldest_failing_age_seconds',
    'Age of the oldest failing event of each exec backend (0: none failing)',
    ['backend'],
  );
  private readonly voImages = this.gauge(
    'vmicatcher_vo_images',
    'Current images usable at each backend (cloud), by VO ("" for lists without a VO)',
    ['backend', 'vo'],
  );
  private readonly voBytesHeld = this.gauge(
    'vmicatcher_vo_bytes_held',
    'Bytes of the images each backend holds for each VO (usable, hidden or staged)',
    ['backend', 'vo'],
  );
  private readonly voBytesDelivered = this.gauge(
    'vmicatcher_vo_delivered_bytes',
    'Bytes of every image delivered to each backend for each VO, retired ones included',
    ['backend', 'vo'],
  );
  private readonly downloadQueue = this.gauge(
    'vmicatcher_download_queue',
    'Wanted images not cached yet: waiting, and among them failing',
    ['state'],
  );
  private readonly trustAnchors = this.gauge(
    'vmicatcher_trust_anchors',
    'CA certificates in the trust store',
    [],
  );
  private readonly trustCrls = this.gauge('vmicatcher_trust_crls', 'CRLs in the trust store', []);
  private readonly staleCrls = this.gauge('vmicatcher_trust_stale_crls', 'CRLs past their nextUpdate', []);
  private readonly crlNextUpdate = this.gauge(
    'vmicatcher_trust_crl_next_update_seconds',
    'Seconds until the first CRL of the trust store goes stale (negative: already stale), labelled with its issuer',
    ['issuer'],
  );
  private readonly trustUsable = this.gauge(
    'vmicatcher_trust_store_usable',
    '1 when the trust store can be read',
    [],
  );
  private readonly health = this.gauge(
    'vmicatcher_health_state',
    'Health as the probe judges it with default thresholds: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
    [],
  );

  constructor() {
    new Gauge({
      name: 'vmicatcher_build_info',
      help: 'The running vmicatcher version',
      labelNames: ['version'] as const,
      registers: this.r,
    }).set({ version: VERSION }, 1);
    collectDefaultMetrics({ register: this.registry, prefix: 'vmicatcher_' });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: this.r });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  cycleStarted(): void {
    this.cycleRunning.set(1);
  }

  observeCycle(record: CycleRecord, report: SyncReport | undefined): void {
    this.cycleRunning.set(0);
    this.cycles.inc({ trigger: record.trigger, result: record.result });
    if (record.result !== 'skipped')
      this.cycleDuration.observe({ result: record.result }, record.durationMs / 1000);
    this.lastCycle.set(seconds(record.finishedAt));
    if (record.result === 'ok') this.lastOkCycle.set(seconds(record.finishedAt));
    if (report === undefined) return;
    const failure = (code: string, kind: string) =>
      (isVerification(code) ? this.verificationFailures : this.transferFailures).inc({ code, kind });
    for (const s of report.subscriptions) if (s.code !== undefined) failure(s.code, 'list');
    for (const d of report.downloads) {
      this.downloads.inc({ result: d.ok ? 'ok' : 'failed' });
      this.bytes.inc(d.bytes);
      if (d.ok && d.bytes > 0 && d.transferMs > 0) this.throughput.observe(d.bytes / (d.transferMs / 1000));
      if (d.code !== undefined) failure(d.code, 'image');
    }
    for (const d of report.deliveries) {
      if (!d.ok) this.deliveryFailures.inc({ backend: d.backend, code: d.code ?? 'BACKEND_FAILED' });
    }
  }

  /** Sets the gauges from a fresh status document (called at each scrape). */
  refresh(status: SiteStatus): void {
    const now = new Date(status.now).getTime() / 1000;
    for (const state of IMAGE_STATES) this.images.set({ state }, status.totals.images[state]);
    for (const g of [
      this.subscriptions,
      this.listExpiry,
      this.earliestExpiry,
      this.lastSuccess,
      this.oldestUpdate,
    ])
      g.reset();
    for (const state of ['active', 'removing'] as const) {
      this.subscriptions.set({ state }, status.subscriptions.filter((s) => s.state === state).length);
    }
    this.failingSubscriptions.set(status.totals.failingSubscriptions);
    for (const s of status.subscriptions) {
      if (s.expiresInSeconds !== null) this.listExpiry.set({ subscription: s.id }, s.expiresInSeconds);
      if (s.lastSuccess !== null) this.lastSuccess.set({ subscription: s.id }, seconds(s.lastSuccess));
    }
    const { earliestExpiry, oldestUpdate } = status.totals;
    if (earliestExpiry !== null)
      this.earliestExpiry.set({ subscription: earliestExpiry.subscription }, earliestExpiry.inSeconds);
    if (oldestUpdate !== null)
      this.oldestUpdate.set({ subscription: oldestUpdate.subscription }, oldestUpdate.ageSeconds);
    for (const g of [
      this.deliveries,
      this.deliveriesFailing,
      this.outboxDepth,
      this.outboxFailed,
      this.outboxAge,
    ])
      g.reset();
    for (const b of status.backends) {
      if (b.deliveries !== null) {
        for (const state of ['pending', 'delivered', 'deprecated', 'retired']) {
          this.deliveries.set({ backend: b.name, state }, b.deliveries[state] ?? 0);
        }
        this.deliveriesFailing.set({ backend: b.name }, b.failing);
      }
      if (b.outbox !== null) {
        this.outboxDepth.set({ backend: b.name }, b.outbox.pending);
        this.outboxFailed.set({ backend: b.name }, b.outbox.failed);
        const since = b.outbox.oldestFailingSince;
        this.outboxAge.set({ backend: b.name }, since === null ? 0 : Math.max(0, now - seconds(since)));
      }
    }
    for (const g of [this.voImages, this.voBytesHeld, this.voBytesDelivered]) g.reset();
    for (const a of status.accounting) {
      const labels = { backend: a.backend, vo: a.vo ?? '' };
      this.voImages.set(labels, a.images);
      this.voBytesHeld.set(labels, a.bytesHeld);
      this.voBytesDelivered.set(labels, a.bytesDelivered);
    }
    this.downloadQueue.set({ state: 'waiting' }, status.totals.downloads.waiting);
    this.downloadQueue.set({ state: 'failing' }, status.totals.downloads.failing);
    const trust = status.trust.summary;
    this.trustUsable.set(trust === null ? 0 : 1);
    this.trustAnchors.set(trust?.anchors ?? 0);
    this.trustCrls.set(trust?.crls.length ?? 0);
    this.staleCrls.set(trust?.staleCrls ?? 0);
    const next = (trust?.crls ?? [])
      .filter((c): c is typeof c & { nextUpdate: string } => c.nextUpdate !== null)
      .map((c) => ({ issuer: c.issuer, in: seconds(c.nextUpdate) - now }))
      .sort((a, b) => a.in - b.in)[0];
    this.crlNextUpdate.reset();
    if (next !== undefined) this.crlNextUpdate.set({ issuer: next.issuer }, next.in);
    this.health.set(PROBE_EXIT[status.health.status]);
    this.cycleRunning.set(status.daemon?.cycleRunning === true ? 1 : 0);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
