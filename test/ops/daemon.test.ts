import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { resolveConfig } from '../../src/catcher/config.js';
import { createDaemon, type Daemon } from '../../src/catcher/ops/daemon.js';
import type { DaemonState } from '../../src/catcher/ops/daemonstate.js';
import type { SiteStatus } from '../../src/catcher/ops/status.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { holdSyncLock, syncLockFree } from '../helpers/lock.js';
import { getJson, subscribeTo, waitFor } from '../helpers/ops.js';
import { parsePrometheus, sampleValue, samplesOf } from '../helpers/prom.js';
import { Repo } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

describe('vmicatcher run: daemon, status endpoint and metrics (in process)', () => {
  let repo: Repo;
  let home: TestCatcher;
  let daemon: Daemon;
  let base: string;
  let subscriptionId: string;
  const token = randomBytes(24).toString('hex');
  const logLines: Record<string, unknown>[] = [];
  const images = [randomBytes(96 * 1024), randomBytes(40 * 1024)];

  before(async () => {
    repo = await Repo.create();
    images.forEach((bytes, i) => repo.add(bytes, { extra: { 'dc:title': `Image ${i}` } }));
    repo.publish();
    const secrets = await tempDir('vmicast-token-');
    const tokenFile = join(secrets, 'token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const target = await tempDir('vmicast-target-');
    home = await makeCatcherHome(repo.grid, {
      schedule: '* * * * * *',
      status: { listen: '127.0.0.1:0', tokenFile },
      backends: [{ type: 'directory', name: 'local', path: target }],
    });
    subscriptionId = await subscribeTo(home, repo);
    const sink = { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) };
    daemon = createDaemon({
      loadConfig: () => Promise.resolve(resolveConfig(home.raw, home.home, {})),
      log: pino({ level: 'debug' }, sink),
    });
    await daemon.start();
    assert.ok(daemon.url !== undefined);
    base = daemon.url;
  });
  after(async () => {
    await daemon.stop();
    await repo.stop();
  });

  const status = () => getJson<SiteStatus>(`${base}api/v1/status`);
  const metrics = async () => parsePrometheus(await (await fetch(`${base}metrics`)).text());

  it('runs a cycle at start, then cycles on the cron schedule', async () => {
    const s = await waitFor('a scheduled cycle', async () => {
      const current = await status();
      return current.lastCycle?.trigger === 'schedule' ? current : undefined;
    });
    assert.equal(s.lastCycle?.result, 'ok', JSON.stringify(s.lastCycle));
    const m = await metrics();
    assert.equal(sampleValue(m, 'vmicatcher_cycles_total', { trigger: 'start', result: 'ok' }), 1);
    assert.ok((sampleValue(m, 'vmicatcher_cycles_total', { trigger: 'schedule', result: 'ok' }) ?? 0) >= 1);
    assert.ok(logLines.some((l) => l['component'] === 'cycle' && l['msg'] === 'cycle finished'));
    assert.ok(logLines.some((l) => l['component'] === 'daemon' && l['msg'] === 'vmicatcher daemon started'));
  });

  it('reports subscriptions, images, backends, the trust store and the last cycle in /api/v1/status', async () => {
    const s = await status();
    assert.equal(s.program, 'vmicatcher');
    assert.equal(s.health.status, 'OK', s.health.summary);
    assert.equal(s.daemon?.running, true);
    assert.equal(s.daemon.schedule, '* * * * * *');
    assert.ok(s.daemon.nextCycleAt !== null);
    const sub = s.subscriptions[0];
    assert.ok(sub);
    assert.equal(s.subscriptions.length, 1);
    assert.equal(sub.id, subscriptionId);
    assert.equal(sub.version, '1');
    assert.equal(sub.lastError, null);
    assert.ok(sub.lastSuccess !== null);
    const expires = sub.expiresInSeconds ?? 0;
    assert.ok(expires > 27 * 86400 && expires <= 28 * 86400, String(expires));
    assert.equal(sub.images.delivered, 2);
    assert.deepEqual(s.images.map((i) => [i.title, i.state, i.backends['local']?.state]).sort(), [
      ['Image 0', 'delivered', 'delivered'],
      ['Image 1', 'delivered', 'delivered'],
    ]);
    assert.equal(s.totals.images.delivered, 2);
    assert.equal(s.totals.earliestExpiry?.subscription, subscriptionId);
    const backend = s.backends[0];
    assert.ok(backend);
    assert.equal(backend.name, 'local');
    assert.equal(backend.deliveries?.['delivered'], 2);
    assert.equal(backend.failing, 0);
    assert.equal(s.trust.error, null);
    assert.equal(s.trust.summary?.anchors, 2);
    assert.equal(s.trust.summary.staleCrls, 0);
    assert.ok(s.trust.summary.crls.length >= 1);
    assert.equal(
      s.trust.summary.crls.every((c) => !c.stale),
      true,
    );
  });

  it('exposes Prometheus metrics for cycles, downloads, images, expiry, trust and outbox', async () => {
    const res = await fetch(`${base}metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = parsePrometheus(await res.text());
    const types: Record<string, string> = {
      vmicatcher_cycles_total: 'counter',
      vmicatcher_cycle_duration_seconds: 'histogram',
      vmicatcher_downloaded_bytes_total: 'counter',
      vmicatcher_download_throughput_bytes_per_second: 'histogram',
      vmicatcher_verification_failures_total: 'counter',
      vmicatcher_images: 'gauge',
      vmicatcher_earliest_list_expiry_seconds: 'gauge',
      vmicatcher_oldest_successful_update_age_seconds: 'gauge',
      vmicatcher_outbox_depth: 'gauge',
      vmicatcher_outbox_failed_events: 'gauge',
      vmicatcher_trust_stale_crls: 'gauge',
      vmicatcher_health_state: 'gauge',
      vmicatcher_process_cpu_seconds_total: 'counter',
    };
    for (const [name, type] of Object.entries(types)) assert.equal(m.get(name)?.type, type, name);
    const total = images.reduce((n, b) => n + b.length, 0);
    assert.equal(sampleValue(m, 'vmicatcher_downloaded_bytes_total'), total);
    assert.equal(sampleValue(m, 'vmicatcher_downloads_total', { result: 'ok' }), 2);
    assert.equal(sampleValue(m, 'vmicatcher_download_throughput_bytes_per_second_count'), 2);
    assert.ok((sampleValue(m, 'vmicatcher_download_throughput_bytes_per_second_sum') ?? 0) > 0);
    assert.equal(sampleValue(m, 'vmicatcher_images', { state: 'delivered' }), 2);
    assert.equal(sampleValue(m, 'vmicatcher_images', { state: 'downloading' }), 0);
    const expiry = sampleValue(m, 'vmicatcher_earliest_list_expiry_seconds', {
      subscription: subscriptionId,
    });
    assert.ok(expiry !== undefined && expiry > 27 * 86400 && expiry <= 28 * 86400, String(expiry));
    const age = sampleValue(m, 'vmicatcher_oldest_successful_update_age_seconds', {
      subscription: subscriptionId,
    });
    assert.ok(age !== undefined && age >= 0 && age < 600, String(age));
    const cycles = sampleValue(m, 'vmicatcher_cycle_duration_seconds_count', { result: 'ok' }) ?? 0;
    assert.ok(cycles >= 2, String(cycles));
    const inf = samplesOf(m, 'vmicatcher_cycle_duration_seconds_bucket').find(
      (s) => s.labels['le'] === '+Inf' && s.labels['result'] === 'ok',
    );
    assert.equal(inf?.value, cycles);
    assert.equal(sampleValue(m, 'vmicatcher_trust_stale_crls'), 0);
    assert.equal(sampleValue(m, 'vmicatcher_deliveries', { backend: 'local', state: 'delivered' }), 2);
    assert.equal(sampleValue(m, 'vmicatcher_health_state'), 0);
    assert.deepEqual(samplesOf(m, 'vmicatcher_verification_failures_total'), []);
  });

  it('answers /healthz, and 404/405 for what it does not serve', async () => {
    const health = await fetch(`${base}healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok\n');
    assert.equal((await fetch(`${base}nothing-here`)).status, 404);
    assert.equal((await fetch(`${base}api/v1/status`, { method: 'DELETE' })).status, 405);
    assert.equal((await fetch(`${base}api/v1/sync`)).status, 405);
  });

  it('runs a cycle on POST /api/v1/sync only with the bearer token', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${base}api/v1/sync`, { method: 'POST', headers });
    const none = await post({});
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await post({ authorization: `Bearer ${token}x` })).status, 401);
    assert.equal((await post({ authorization: `Basic ${token}` })).status, 401);
    const ok = await post({ authorization: `Bearer ${token}` });
    assert.equal(ok.status, 202);
    const body = (await ok.json()) as { accepted: boolean; state: string };
    assert.equal(body.accepted, true);
    assert.ok(['started', 'queued'].includes(body.state), body.state);
    await waitFor('a cycle started over HTTP', async () => {
      const m = await metrics();
      return (sampleValue(m, 'vmicatcher_cycles_total', { trigger: 'api', result: 'ok' }) ?? 0) >= 1
        ? true
        : undefined;
    });
    assert.ok(!JSON.stringify(logLines).includes(token), 'the token never reaches the log');
  });

  it('skips a cycle, with a log line and no error, while another process holds the sync lock', async () => {
    const holder = await holdSyncLock(home.home); // another process
    try {
      await waitFor('a skipped cycle', async () => {
        const m = await metrics();
        return (sampleValue(m, 'vmicatcher_cycles_total', { trigger: 'schedule', result: 'skipped' }) ?? 0) >=
          1
          ? true
          : undefined;
      });
      assert.ok(
        logLines.some((l) => l['msg'] === 'another vmicatcher sync holds the lock; this cycle is skipped'),
      );
      assert.ok(!logLines.some((l) => l['level'] === 50 && l['component'] === 'cycle'), 'no error logged');
      assert.equal(await syncLockFree(home.home), false, 'the other holder keeps its lock');
    } finally {
      await holder.kill();
    }
    await waitFor('a normal cycle again', async () =>
      (await status()).lastCycle?.result === 'ok' ? true : undefined,
    );
  });

  it('reloads configuration and trust store, and keeps the old configuration when the new one is unusable', async () => {
    home.raw['schedule'] = 'not a cron expression';
    assert.equal(await daemon.reload(), false);
    assert.equal((await status()).daemon?.schedule, '* * * * * *');
    home.raw['schedule'] = '*/2 * * * * *';
    home.raw['status'] = { listen: '127.0.0.1:0', tokenFile: null };
    assert.equal(await daemon.reload(), true);
    const base2 = daemon.url ?? '';
    const s = await getJson<SiteStatus>(`${base2}api/v1/status`);
    assert.equal(s.daemon?.schedule, '*/2 * * * * *');
    const refused = await fetch(`${base2}api/v1/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(refused.status, 403, 'no token file configured: the trigger is off');
    assert.ok(logLines.some((l) => l['msg'] === 'configuration and trust store reloaded'));
    base = base2;
  });

  it('stops cleanly: the endpoint closes, no lock is left, the stop is recorded', async () => {
    await daemon.stop();
    await daemon.stopped;
    assert.equal(await syncLockFree(home.home), true, 'no lock left held');
    await assert.rejects(fetch(`${base}healthz`));
    const state = JSON.parse(await readFile(join(home.home, 'daemon-state.json'), 'utf8')) as DaemonState;
    assert.ok(state.stoppedAt !== null);
    assert.equal(state.pid, process.pid);
    assert.ok(state.lastCycle !== null);
    assert.equal(daemon.triggerSync('signal'), 'stopped');
  });
});
