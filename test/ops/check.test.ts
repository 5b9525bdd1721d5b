import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../../src/catcher/config.js';
import { DEFAULT_THRESHOLDS, evaluateHealth, parseThresholds } from '../../src/catcher/ops/health.js';
import { openReadOnlySource } from '../../src/catcher/ops/source.js';
import { buildStatus } from '../../src/catcher/ops/status.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { VmiError } from '../../src/shared/errors.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runVmicatcher, subscribeTo } from '../helpers/ops.js';
import { makeGrid } from '../helpers/grid.js';
import { subjectHash } from '../helpers/pki.js';
import { Repo } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCrl } from '../helpers/x509.js';

/** `vmicatcher check`: the Nagios/ARGO probe through its states, at times chosen with --at or a clock. */

const H = 3600_000;
const PROBE_LINE =
  /^VMICATCHER (OK|WARNING|CRITICAL|UNKNOWN) - [^\n|]+( \| ([a-z_]+=-?\d+(\.\d+)?s?(;[\d:.-]*){0,4} ?)+)?\n$/;

async function check(home: TestCatcher, ...args: string[]) {
  const result = await runVmicatcher(home, ['check', ...args]);
  assert.match(result.stdout, PROBE_LINE, `${result.stdout}${result.stderr}`);
  return { status: result.status, line: result.stdout.trim() };
}

const at = (ms: number) => new Date(Date.now() + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function perf(line: string): Record<string, string> {
  const data = line.split(' | ')[1] ?? '';
  return Object.fromEntries(data.split(' ').map((p) => p.split('=') as [string, string]));
}

describe('vmicatcher check', () => {
  let repo: Repo;
  let home: TestCatcher;

  before(async () => {
    // CRLs valid for two months, so that only the list ages in the time travel below.
    const crl = { nextUpdate: new Date(Date.now() + 60 * 24 * H) };
    repo = await Repo.create(await makeGrid({ rootEntry: { crl }, intermediateEntry: { crl } }));
    repo.add(randomBytes(4096), { extra: { 'dc:title': 'Probe image' } });
    repo.publish();
    home = await makeCatcherHome(repo.grid);
    await subscribeTo(home, repo);
    const catcher = await home.open();
    try {
      assert.equal((await syncOnce(catcher)).failures, 0);
    } finally {
      await catcher.close();
    }
  });
  after(() => repo.stop());

  it('is OK right after a successful sync, with performance data', async () => {
    const { status, line } = await check(home);
    assert.equal(status, 0, line);
    assert.match(
      line,
      /^VMICATCHER OK - 1 subscription\(s\) up to date, 1 image\(s\) available, earliest list expiry in 2\d\.\d d \|/,
    );
    const p = perf(line);
    assert.equal(p['subscriptions'], '1;;;0');
    assert.equal(p['images_available'], '1;;;0');
    assert.equal(p['stale_crls'], '0;;0;0');
    assert.match(p['oldest_update_age'] ?? '', /^\d+s;43200;86400;0$/);
    assert.match(p['earliest_list_expiry'] ?? '', /^\d+s;259200:;86400:$/);
  });

  it('goes WARNING, then CRITICAL, as the last successful update ages (--at), and follows --stale-hours', async () => {
    const warn = await check(home, '--at', at(13 * H));
    assert.equal(warn.status, 1, warn.line);
    assert.match(warn.line, /^VMICATCHER WARNING - \S+ not updated for 13\.0 h \|/);
    const crit = await check(home, '--at', at(25 * H));
    assert.equal(crit.status, 2, crit.line);
    assert.match(crit.line, /^VMICATCHER CRITICAL - \S+ not updated for 25\.0 h \|/);
    const relaxed = await check(home, '--at', at(25 * H), '--stale-hours', '48,96');
    assert.equal(relaxed.status, 0, relaxed.line);
  });

  it('goes CRITICAL when a list has expired, WARNING and CRITICAL as expiry nears (--expiry-hours)', async () => {
    const expired = await check(home, '--at', at(29 * 24 * H), '--stale-hours', '10000,20000');
    assert.equal(expired.status, 2, expired.line);
    assert.match(expired.line, /^VMICATCHER CRITICAL - list \S+ expired 2\d\.\d h ago \|/);
    const soon = await check(home, '--at', at(26 * 24 * H), '--stale-hours', '10000,20000');
    assert.equal(soon.status, 1, soon.line);
    assert.match(soon.line, /^VMICATCHER WARNING - list \S+ expires in \d+\.\d h/);
    const tight = await check(
      home,
      '--at',
      at(26 * 24 * H),
      '--stale-hours',
      '10000,20000',
      '--expiry-hours',
      '96,72',
    );
    assert.equal(tight.status, 2, tight.line);
  });

  it('judges the same way in process with an injected clock', async () => {
    const config = resolveConfig(home.raw, home.home, {});
    const states = [];
    for (const offset of [0, 13 * H, 25 * H]) {
      const source = openReadOnlySource(config, () => new Date(Date.now() + offset));
      try {
        const status = await buildStatus(source, { info: null, lastCycle: null });
        states.push(evaluateHealth(status, DEFAULT_THRESHOLDS).status);
        assert.equal(status.health.status, states.at(-1));
      } finally {
        source.close();
      }
    }
    assert.deepEqual(states, ['OK', 'WARNING', 'CRITICAL']);
  });

  it('is UNKNOWN (exit 3) when the database cannot be read or the thresholds make no sense', async () => {
    const empty = await makeCatcherHome(repo.grid, { home: await tempDir('vmicast-nodb-') });
    const nodb = await check(empty);
    assert.equal(nodb.status, 3);
    assert.match(nodb.line, /^VMICATCHER UNKNOWN - CONFIG_INVALID: no vmicatcher database at /);
    const backwards = await check(home, '--stale-hours', '24,12');
    assert.equal(backwards.status, 3);
    assert.match(backwards.line, /warning threshold must be at most the critical one/);
    const typo = await check(home, '--stale-hour', '1,2');
    assert.equal(typo.status, 3, typo.line);
    assert.throws(() => parseThresholds('12', '--stale-hours', false), VmiError);
    assert.throws(() => parseThresholds('a,b', '--stale-hours', false), VmiError);
    assert.deepEqual(parseThresholds('72,24', '--expiry-hours', true), [72, 24]);
  });
});

describe('vmicatcher check: trust store and event outbox', () => {
  let repo: Repo;
  let home: TestCatcher;

  before(async () => {
    repo = await Repo.create();
    repo.add(randomBytes(2048), { extra: { 'dc:title': 'Hooked image' } });
    repo.publish();
    home = await makeCatcherHome(repo.grid, {
      backends: [{ type: 'exec', name: 'hook', command: 'exit 3', timeoutSeconds: 10 }],
    });
    await subscribeTo(home, repo);
    const catcher = await home.open();
    try {
      await syncOnce(catcher);
    } finally {
      await catcher.close();
    }
  });
  after(() => repo.stop());

  it('warns, then goes critical, while exec-backend events keep failing', async () => {
    const relaxed = ['--stale-hours', '10000,20000'];
    const now = await check(home, ...relaxed);
    assert.equal(now.status, 0, now.line);
    assert.match(perf(now.line)['outbox_oldest_failing_age'] ?? '', /^\d+s;21600;86400;0$/);
    const warn = await check(home, '--at', at(7 * H), ...relaxed);
    assert.equal(warn.status, 1, warn.line);
    assert.match(warn.line, /events of backend hook failing for 7\.0 h \(HOOK_FAILED\)/);
    const crit = await check(home, '--at', at(25 * H), ...relaxed);
    assert.equal(crit.status, 2, crit.line);
    const custom = await check(home, '--at', at(7 * H), ...relaxed, '--outbox-hours', '8,9');
    assert.equal(custom.status, 0, custom.line);
  });

  it('is CRITICAL when a CRL in the trust store is stale', async () => {
    const crl = makeCrl({
      issuer: repo.grid.intermediate,
      thisUpdate: new Date(Date.now() - 3 * 24 * H),
      nextUpdate: new Date(Date.now() - H),
    });
    await writeFile(join(repo.grid.caDir, `${subjectHash(repo.grid.intermediate)}.r0`), crl.pem);
    const stale = await check(home, '--stale-hours', '10000,20000');
    assert.equal(stale.status, 2, stale.line);
    assert.match(stale.line, /^VMICATCHER CRITICAL - 1 stale CRL\(s\) in \S+ \(is fetch-crl running\?\)/);
    assert.equal(perf(stale.line)['stale_crls'], '1;;0;0');
  });
});
