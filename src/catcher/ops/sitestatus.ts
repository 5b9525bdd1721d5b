import type { VoAccount } from '../store/accounting.js';
import type { TrustSummary } from '../../shared/pki/truststore.js';
import type { OutboxSummary } from '../store/outbox.js';
import type { ImageState, ImageView, SubscriptionView } from '../views.js';
import type { CycleRecord } from './daemonstate.js';
import type { ExplainedError } from './explain.js';

/**
 * The shape of the site status document (`GET /api/v1/status`, `vmicatcher status --json`).
 * status.ts builds it and health.ts judges it; the shape lives here, apart from both, so
 * neither has to import the other for its types.
 */

export type HealthState = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

export interface Problem {
  severity: 'WARNING' | 'CRITICAL';
  text: string;
}

export interface PerfDatum {
  label: string;
  value: number;
  uom: '' | 's';
  warn: string;
  crit: string;
  min: string;
}

export interface HealthReport {
  status: HealthState;
  summary: string;
  problems: Problem[];
  perfdata: PerfDatum[];
}

export interface DaemonInfo {
  running: boolean;
  pid: number;
  startedAt: string;
  stoppedAt: string | null;
  schedule: string;
  listen: string | null;
  nextCycleAt: string | null;
  cycleRunning: boolean;
}

export interface ApplianceStatus {
  id: string;
  title: string;
  version: string;
  listed: boolean;
  supersedes: string[];
  members: { role: string; image: string }[];
  availableOn: { backend: string; version: string; availableAt: string }[];
}

export interface SubscriptionStatus extends Omit<SubscriptionView, 'lastError'> {
  subscribedAt: string;
  lastAttemptAt: string | null;
  lastError: (ExplainedError & { at: string }) | null;
  expiresInSeconds: number | null;
  /** Seconds since the last successful update (since subscribing when none yet). */
  lastSuccessAgeSeconds: number;
  images: Record<ImageState, number>;
  appliances: ApplianceStatus[];
}

export interface ImageStatus extends Omit<ImageView, 'lastError' | 'backends'> {
  lastError: ExplainedError | null;
  backends: Record<string, { state: string; refs: string[]; lastError: ExplainedError | null }>;
}

export interface BackendStatus {
  name: string;
  type: string;
  /** Delivery records of current images by state (delivery backends). */
  deliveries: Record<string, number> | null;
  failing: number;
  lastError: (ExplainedError & { at: string; image: string }) | null;
  /** Wanted images this delivery backend does not take (its routing), and why. */
  heldBack: { identifier: string; subscription: string; reason: string }[];
  /** The vmcatcher event outbox (exec backends). */
  outbox: (Omit<OutboxSummary, 'lastError'> & { lastError: ExplainedError | null }) | null;
}

export interface TrustStatus {
  location: string;
  error: ExplainedError | null;
  summary: TrustSummary | null;
}

export interface SiteStatus {
  program: 'vmicatcher';
  version: string;
  now: string;
  home: string;
  health: HealthReport;
  daemon: DaemonInfo | null;
  lastCycle: CycleRecord | null;
  totals: {
    subscriptions: number;
    failingSubscriptions: number;
    images: Record<ImageState, number>;
    downloads: { waiting: number; failing: number };
    earliestExpiry: { subscription: string; at: string; inSeconds: number } | null;
    oldestUpdate: { subscription: string; at: string | null; ageSeconds: number } | null;
  };
  subscriptions: SubscriptionStatus[];
  images: ImageStatus[];
  backends: BackendStatus[];
  /** What each VO has at each cloud (delivery backend): images, bytes, last change. */
  accounting: VoAccount[];
  trust: TrustStatus;
}
