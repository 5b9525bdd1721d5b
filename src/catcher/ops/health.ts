import { VmiError } from '../../shared/errors.js';
import type { HealthReport, HealthState, PerfDatum, Problem, SiteStatus } from './sitestatus.js';

/**
 * Health of a site in the Nagios/ARGO convention (OK, WARNING, CRITICAL, UNKNOWN), judged
 * from the site status: how long since each subscription last updated, how soon each list
 * expires, whether CRLs are stale, and how long exec-backend events have been failing.
 * `vmicatcher check` prints it as one line with performance data; the status page shows it.
 */

export const PROBE_EXIT: Readonly<Record<HealthState, number>> = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
};

/** [warning, critical] in hours. Expiry thresholds count down, the others up. */
export interface Thresholds {
  staleHours: readonly [number, number];
  expiryHours: readonly [number, number];
  outboxHours: readonly [number, number];
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  staleHours: [12, 24],
  expiryHours: [72, 24],
  // One default cycle (6 h) of failing hook runs is worth a look; four are an outage.
  outboxHours: [6, 24],
};

const H = 3600;

export function formatDuration(seconds: number): string {
  const abs = Math.abs(seconds);
  if (abs >= 48 * H) return `${(abs / 86400).toFixed(1)} d`;
  if (abs >= H) return `${(abs / H).toFixed(1)} h`;
  return `${Math.round(abs / 60)} min`;
}

/** Parses `WARN,CRIT` hours; `descending` thresholds (expiry) need WARN >= CRIT. */
export function parseThresholds(text: string, option: string, descending: boolean): [number, number] {
  const parts = text.split(',').map((p) => p.trim());
  const [warn, crit] = parts.map(Number);
  if (
    parts.length !== 2 ||
    warn === undefined ||
    crit === undefined ||
    parts.some((p) => p === '') ||
    !Number.isFinite(warn) ||
    !Number.isFinite(crit) ||
    warn < 0 ||
    crit < 0
  ) {
    throw new VmiError('USAGE', `${option} takes WARN,CRIT in hours, e.g. ${descending ? '72,24' : '12,24'}`);
  }
  if (descending ? warn < crit : warn > crit) {
    throw new VmiError(
      'USAGE',
      `${option}: the warning threshold must be ${descending ? 'at least' : 'at most'} the critical one`,
    );
  }
  return [warn, crit];
}

function graded(value: number, [warn, crit]: readonly [number, number], descending: boolean) {
  if (descending ? value <= crit * H : value >= crit * H) return 'CRITICAL' as const;
  if (descending ? value <= warn * H : value >= warn * H) return 'WARNING' as const;
  return undefined;
}

export function evaluateHealth(status: Omit<SiteStatus, 'health'>, t: Thresholds): HealthReport {
  const problems: Problem[] = [];
  const add = (severity: Problem['severity'] | undefined, text: string) => {
    if (severity !== undefined) problems.push({ severity, text });
  };
  const active = status.subscriptions.filter((s) => s.state === 'active');
  if (status.subscriptions.length === 0) add('WARNING', 'no subscriptions');
  for (const s of active) {
    const because = s.lastError === null ? '' : ` (last error ${s.lastError.code})`;
    add(
      graded(s.lastSuccessAgeSeconds, t.staleHours, false),
      `${s.id} not updated for ${formatDuration(s.lastSuccessAgeSeconds)}${because}`,
    );
    if (s.expiresInSeconds !== null) {
      add(
        graded(s.expiresInSeconds, t.expiryHours, true),
        s.expiresInSeconds <= 0
          ? `list ${s.id} expired ${formatDuration(s.expiresInSeconds)} ago`
          : `list ${s.id} expires in ${formatDuration(s.expiresInSeconds)}`,
      );
    }
    if (s.lapsedSince !== null) add('CRITICAL', `images of ${s.id} are being withdrawn: its list lapsed`);
    // A refused claim may be the race of docs/operations.md: the operator decides who keeps it.
    for (const r of s.refusedImages) add('WARNING', `${r.message} (${r.code})`);
  }
  const { trust } = status;
  if (trust.error !== null) add('CRITICAL', `trust store ${trust.location} unusable: ${trust.error.message}`);
  const staleCrls = trust.summary?.staleCrls ?? 0;
  if (staleCrls > 0)
    add('CRITICAL', `${staleCrls} stale CRL(s) in ${trust.location} (is fetch-crl running?)`);
  const now = new Date(status.now).getTime();
  let outboxFailed = 0;
  let outboxAge = 0;
  for (const b of status.backends) {
    if (b.outbox === null) continue;
    outboxFailed += b.outbox.failed;
    if (b.outbox.oldestFailingSince === null) continue;
    const age = Math.round((now - new Date(b.outbox.oldestFailingSince).getTime()) / 1000);
    outboxAge = Math.max(outboxAge, age);
    const code = b.outbox.lastError === null ? '' : ` (${b.outbox.lastError.code})`;
    add(
      graded(age, t.outboxHours, false),
      `events of backend ${b.name} failing for ${formatDuration(age)}${code}`,
    );
  }
  // Each cloud on its own (issue 16): one backend's failing deliveries are that backend's.
  const failingDeliveries: PerfDatum[] = [];
  for (const b of status.backends) {
    if (b.deliveries === null) continue;
    failingDeliveries.push({
      label: `failing_deliveries_${b.name}`,
      value: b.failing,
      uom: '',
      warn: '0',
      crit: '',
      min: '0',
    });
    if (b.failing === 0) continue;
    const code = b.lastError === null ? '' : ` (last error ${b.lastError.code})`;
    add('WARNING', `backend ${b.name}: ${b.failing} deliveries failing${code}`);
  }
  const worst = problems.some((p) => p.severity === 'CRITICAL')
    ? 'CRITICAL'
    : problems.length > 0
      ? 'WARNING'
      : 'OK';
  problems.sort((a, b) => Number(b.severity === 'CRITICAL') - Number(a.severity === 'CRITICAL'));
  const { totals } = status;
  const available = totals.images.delivered + totals.images.cached;
  const summary =
    problems.length > 0
      ? problems.map((p) => p.text).join('; ')
      : (totals.failingSubscriptions === 0
          ? `${active.length} subscription(s) up to date`
          : `${active.length} subscription(s), ${totals.failingSubscriptions} failing on the last poll (not stale yet)`) +
        `, ${available} image(s) available` +
        (totals.earliestExpiry === null
          ? ''
          : `, earliest list expiry in ${formatDuration(totals.earliestExpiry.inSeconds)}`);
  const perfdata: PerfDatum[] = [
    { label: 'subscriptions', value: totals.subscriptions, uom: '', warn: '', crit: '', min: '0' },
    {
      label: 'failing_subscriptions',
      value: totals.failingSubscriptions,
      uom: '',
      warn: '',
      crit: '',
      min: '0',
    },
    { label: 'images_available', value: available, uom: '', warn: '', crit: '', min: '0' },
  ];
  if (totals.oldestUpdate !== null) {
    const [warn, crit] = t.staleHours;
    perfdata.push({
      label: 'oldest_update_age',
      value: totals.oldestUpdate.ageSeconds,
      uom: 's',
      warn: String(warn * H),
      crit: String(crit * H),
      min: '0',
    });
  }
  if (totals.earliestExpiry !== null) {
    const [warn, crit] = t.expiryHours;
    // Nagios range "N:" alerts below N.
    perfdata.push({
      label: 'earliest_list_expiry',
      value: totals.earliestExpiry.inSeconds,
      uom: 's',
      warn: `${warn * H}:`,
      crit: `${crit * H}:`,
      min: '',
    });
  }
  perfdata.push(
    { label: 'stale_crls', value: staleCrls, uom: '', warn: '', crit: '0', min: '0' },
    { label: 'outbox_failed_events', value: outboxFailed, uom: '', warn: '', crit: '', min: '0' },
    {
      label: 'outbox_oldest_failing_age',
      value: outboxAge,
      uom: 's',
      warn: String(t.outboxHours[0] * H),
      crit: String(t.outboxHours[1] * H),
      min: '0',
    },
    ...failingDeliveries,
  );
  return { status: worst, summary, problems, perfdata };
}

function perfText(p: PerfDatum): string {
  return `${p.label}=${p.value}${p.uom};${p.warn};${p.crit};${p.min}`.replace(/;+$/, '');
}

/** `VMICATCHER STATE - summary | perfdata`, on one line. */
export function formatProbeLine(report: Pick<HealthReport, 'status' | 'summary' | 'perfdata'>): string {
  const summary = report.summary.replace(/[\s|]+/g, ' ').trim();
  const perf = report.perfdata.map(perfText).join(' ');
  return `VMICATCHER ${report.status} - ${summary}${perf === '' ? '' : ` | ${perf}`}`;
}
