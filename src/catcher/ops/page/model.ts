/**
 * The part of the site status document that the status page's script reads. The script is
 * compiled for the browser on its own (no Node types), so it cannot import SiteStatus and the
 * modules behind it; page.ts hands a SiteStatus where a PageStatus is expected, so the
 * compiler checks that the server still sends everything the page reads.
 */

export interface PageError {
  code: string;
  message: string;
  explanation: string;
}

export interface PageImage {
  id: string;
  subscription: string;
  title: string;
  version: string;
  size: number;
  state: string;
  supersedes: string[];
  supersededBy: string | null;
  unwantedReason: string | null;
  lastError: PageError | null;
  backends: Record<string, { state: string; refs: string[]; lastError: PageError | null }>;
}

export interface PageAppliance {
  title: string;
  version: string;
  listed: boolean;
  supersedes: string[];
  members: { role: string; image: string }[];
  availableOn: { backend: string; availableAt: string }[];
}

export interface PageSubscription {
  id: string;
  url: string;
  vo: string | null;
  version: string | null;
  expires: string | null;
  lastSuccess: string | null;
  lastError: PageError | null;
  endorsers: { dn: string }[];
  lapsedSince: string | null;
  state: string;
  images: Record<string, number>;
  appliances: PageAppliance[];
}

export interface PageBackend {
  name: string;
  type: string;
  deliveries: Record<string, number> | null;
  failing: number;
  lastError: PageError | null;
  outbox: {
    pending: number;
    failed: number;
    done: number;
    oldestFailingSince: string | null;
    lastError: PageError | null;
  } | null;
}

export interface PageTrust {
  location: string;
  error: PageError | null;
  summary: {
    location: string;
    anchors: number;
    expiredAnchors: unknown[];
    crls: { issuer: string; nextUpdate: string | null; stale: boolean }[];
    warnings: string[];
  } | null;
}

export interface PageStatus {
  version: string;
  now: string;
  home: string;
  health: {
    status: string;
    summary: string;
    problems: { severity: string; text: string }[];
  };
  daemon: {
    running: boolean;
    pid: number;
    schedule: string;
    nextCycleAt: string | null;
    cycleRunning: boolean;
  } | null;
  lastCycle: { finishedAt: string; result: string; durationMs: number; trigger: string } | null;
  totals: {
    subscriptions: number;
    failingSubscriptions: number;
    images: Record<'delivered' | 'cached' | 'downloading', number>;
    downloads: { failing: number };
    earliestExpiry: { subscription: string; at: string; inSeconds: number } | null;
  };
  subscriptions: PageSubscription[];
  images: PageImage[];
  backends: PageBackend[];
  accounting: {
    backend: string;
    vo: string | null;
    images: number;
    bytesHeld: number;
    bytesDelivered: number;
    lastUpdate: string | null;
  }[];
  trust: PageTrust;
}
