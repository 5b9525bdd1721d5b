import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { ensureBuilt, REPO } from './helpers/caster-cli.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The demo's closing hint is a command that works as printed: run in a shell, it reports the
 * demo subscription healthy against the demo's own trust store (found through
 * `<home>/vmicatcher.yaml`), not the system's.
 */
it('npm run demo: the printed status hint works as printed', async () => {
  ensureBuilt();
  // A directory name a shell would split: the hint must quote it.
  const dir = join(await tempDir('vmicast-demo-'), "demo dir's");
  const env = { ...process.env, NODE_OPTIONS: '', VMICAST_DEMO_DIR: dir };
  const demo = spawnSync(process.execPath, [join(REPO, 'scripts/demo.mjs')], { env, encoding: 'utf8' });
  assert.equal(demo.status, 0, demo.stderr);

  const hint = /^Status: (.+)$/m.exec(demo.stdout)?.[1];
  assert.ok(hint !== undefined, demo.stdout);
  const status = spawnSync('/bin/sh', ['-c', hint], { cwd: '/', env, encoding: 'utf8' });
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /^OK: 1 subscription\(s\) up to date, 1 image\(s\) available/);
  assert.ok(
    status.stdout.includes(`trust store ${join(dir, 'certificates')}: 1 certificates, 1 CRLs, 0 stale`),
    status.stdout,
  );

  const json = spawnSync('/bin/sh', ['-c', `${hint} --json`], { cwd: '/', env, encoding: 'utf8' });
  const doc = JSON.parse(json.stdout) as {
    health: { status: string };
    trust: { location: string; error: unknown };
    subscriptions: { lastError: unknown }[];
  };
  assert.equal(doc.health.status, 'OK');
  assert.equal(doc.trust.location, join(dir, 'certificates'));
  assert.equal(doc.trust.error, null);
  assert.deepEqual(
    doc.subscriptions.map((s) => s.lastError),
    [null],
  );
});
