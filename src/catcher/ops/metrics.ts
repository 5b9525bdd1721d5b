import { collectDefaultMetrics, Counter, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';
import { areaOf, isErrorCode } from '../../shared/errors.js';
import { VERSION } from '../../shared/version.js';
import type { SyncReport } from '../sync/sync.js';
import type { CycleRecord } from './daemonstate.js';
import type { SiteStatus } from './status.js';
import { seconds, statusGauges } from './status-gauges.js';

/**
 * Prometheus metrics of the daemon, with prom-client on a registry of its own. Counters and
 * histograms grow with each cycle; gauges are set from the site status at each scrape, so
 * they say what the database says even about cycles a manual `sync` ran.
 */

const VERIFICATION_AREAS = new Set(['envelope', 'signature', 'authorization', 'list', 'images']);

function isVerification(code: string): boolean {
  return isErrorCode(code) && VERIFICATION_AREAS.has(areaOf(code));
}

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

  /** Gauges set from the site status at each scrape (status-gauges.ts). */
  private readonly statusGauges = statusGauges(this.registry);

  constructor() {
    new Gauge({
      name: 'vmicatcher_build_info',
      help: 'The running vmicatcher version',
      labelNames: ['version'] as const,
      registers: this.r,
    }).set({ version: VERSION }, 1);
    collectDefaultMetrics({ register: this.registry, prefix: 'vmicatcher_' });
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
    this.statusGauges(status);
    this.cycleRunning.set(status.daemon?.cycleRunning === true ? 1 : 0);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
