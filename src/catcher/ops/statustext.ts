import { formatDuration } from './health.js';
import { IMAGE_STATES, type SiteStatus } from './status.js';

/** `vmicatcher status` for a terminal: the status document in a few readable lines. */

function ago(now: Date, iso: string | null): string {
  if (iso === null) return 'never';
  const s = (new Date(iso).getTime() - now.getTime()) / 1000;
  return s >= 0 ? `in ${formatDuration(s)}` : `${formatDuration(s)} ago`;
}

export function formatStatusText(status: SiteStatus): string {
  const now = new Date(status.now);
  const out: string[] = [`${status.health.status}: ${status.health.summary}`];
  const d = status.daemon;
  out.push(
    d === null
      ? 'daemon: never started here'
      : `daemon: ${d.running ? `running (pid ${d.pid})` : 'not running'}, schedule "${d.schedule}"${d.listen === null ? '' : `, status at ${d.listen}`}`,
  );
  const c = status.lastCycle;
  if (c !== null) {
    out.push(
      `last cycle: ${c.result} ${ago(now, c.finishedAt)} (${c.trigger}, ${formatDuration(c.durationMs / 1000)}, ` +
        `${c.subscriptions.updated} updated, ${c.downloads.ok} downloaded, ${c.failures} failures)`,
    );
  }
  out.push('', 'subscriptions:');
  if (status.subscriptions.length === 0) out.push('  none');
  for (const s of status.subscriptions) {
    // A registry subscription has no list version or expiry; say plainly that it is unsigned.
    const r = s.registry;
    const what =
      r === null
        ? `v${s.version ?? '-'}  expires ${ago(now, s.expires)}`
        : `unsigned registry ${r.scope} ${r.name} on ${r.host}, tags ${r.tagPattern}`;
    out.push(`  ${s.id}  ${what}  updated ${ago(now, s.lastSuccess)}  ${s.url}`);
    if (s.lastError !== null)
      out.push(`    ${s.lastError.code}: ${s.lastError.explanation}`, `    (${s.lastError.message})`);
  }
  const counts = IMAGE_STATES.filter((k) => status.totals.images[k] > 0).map(
    (k) => `${status.totals.images[k]} ${k}`,
  );
  out.push('', `images: ${counts.length === 0 ? 'none' : counts.join(', ')}`);
  for (const i of status.images.filter((x) => x.lastError !== null)) {
    out.push(`  ${i.id} ${i.title}: ${i.lastError?.code ?? ''}: ${i.lastError?.explanation ?? ''}`);
  }
  for (const i of status.images) {
    for (const r of i.referrers ?? [])
      out.push(`  ${i.id} ${i.title}: attached ${r.artifactType ?? 'artefact'} at ${r.reference}`);
  }
  if (status.backends.length > 0) out.push('', 'backends:');
  for (const b of status.backends) {
    const state =
      b.outbox !== null
        ? `${b.outbox.pending} events waiting, ${b.outbox.failed} given up`
        : Object.entries(b.deliveries ?? {})
            .map(([k, n]) => `${n} ${k}`)
            .join(', ') || 'nothing delivered';
    const error = b.outbox?.lastError ?? b.lastError;
    out.push(
      `  ${b.name} (${b.type}): ${state}${error === null ? '' : `; ${error.code}: ${error.explanation}`}`,
    );
    for (const h of b.heldBack) out.push(`    held back: ${h.identifier}: ${h.reason}`);
  }
  if (status.accounting.length > 0) out.push('', 'per VO and cloud:');
  for (const a of status.accounting)
    out.push(
      `  ${a.backend} ${a.vo ?? '(no VO)'}: ${a.images} images, ${a.bytesHeld} bytes held, ` +
        `${a.bytesDelivered} bytes delivered, last change ${ago(now, a.lastUpdate)}`,
    );
  const t = status.trust;
  out.push(
    '',
    t.summary === null
      ? `trust store ${t.location}: ${t.error?.message ?? 'unusable'}`
      : `trust store ${t.location}: ${t.summary.anchors} certificates, ${t.summary.crls.length} CRLs, ${t.summary.staleCrls} stale`,
  );
  return `${out.join('\n')}\n`;
}
