#!/usr/bin/env node
/**
 * Resident memory that each module group of the catcher adds at import (issue 14, item 6).
 * Each group is imported alone in a fresh `node --expose-gc` process; the figures are RSS
 * after a full GC minus bare Node's, and the peak (VmHWM), in MB. Then the same groups
 * cumulatively, in the order a sync loads them.
 *
 *   node scripts/measure/imports.mjs [DIST]     (DIST defaults to ./dist; a copy works too)
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.argv[2] ?? 'dist');
const d = (p) => pathToFileURL(resolve(dist, p)).href;

// Bare packages resolve from the dist copy's node_modules (a symlink in a scratch copy).
const GROUPS = [
  ['commander', ['commander']],
  ['yaml', ['yaml']],
  ['proxy agents', ['http-proxy-agent', 'https-proxy-agent', 'proxy-from-env']],
  ['pino', ['pino']],
  ['pino-pretty', ['pino-pretty']],
  ['ajv', ['ajv']],
  ['asn1js', ['asn1js']],
  ['better-sqlite3 (+ open :memory:)', ['better-sqlite3']],
  ['prom-client', ['prom-client']],
  ['shared/http.js', [d('shared/http.js')]],
  ['shared/log.js', [d('shared/log.js')]],
  ['shared/cms.js (CMS verifier)', [d('shared/cms.js')]],
  ['shared/verify.js', [d('shared/verify.js')]],
  ['catcher/config.js (schema)', [d('catcher/config.js')]],
  ['catcher/catcher.js', [d('catcher/catcher.js')]],
  ['catcher/sync/sync.js', [d('catcher/sync/sync.js')]],
  ['glance backend', [d('catcher/backends/glance/create.js')]],
];

const probe = (specs) => `
const mb = (n) => Math.round(n / 1048576 * 10) / 10;
const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1]) / 1024;
globalThis.gc(); const before = process.memoryUsage();
const specs = ${JSON.stringify(specs)};
(async () => {
  const t0 = performance.now();
  for (const s of specs) {
    const m = await import(s);
    if (s === 'better-sqlite3') new m.default(':memory:').close();
  }
  const ms = performance.now() - t0;
  globalThis.gc(); const after = process.memoryUsage();
  console.log(JSON.stringify({ rss: mb(after.rss), heap: mb(after.heapUsed), ext: mb(after.external),
    base: mb(before.rss), hwm: Math.round(hwm() * 10) / 10, ms: Math.round(ms) }));
})();`;

function run(specs) {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', probe(specs)], {
    cwd: resolve(dist, '..'),
    env: { ...process.env, NODE_OPTIONS: '' },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

const bare = run([]);
console.log(`bare node: rss ${bare.rss} MB, heap ${bare.heap} MB, peak ${bare.hwm} MB\n`);
console.log('group alone                          +rss MB  +heap MB  peak MB  import ms');
for (const [name, specs] of GROUPS) {
  const r = run(specs);
  const row = [
    name.padEnd(36),
    String(Math.round((r.rss - bare.rss) * 10) / 10).padStart(7),
    String(Math.round((r.heap - bare.heap) * 10) / 10).padStart(9),
    String(r.hwm).padStart(8),
    String(r.ms).padStart(10),
  ];
  console.log(row.join(' '));
}
console.log('\ncumulative (sync order)              rss MB   heap MB  peak MB');
const acc = [];
for (const [name, specs] of GROUPS.filter(([n]) => !n.startsWith('pino-pretty') && !n.startsWith('prom'))) {
  acc.push(...specs);
  const r = run(acc);
  console.log(
    [name.padEnd(36), String(r.rss).padStart(6), String(r.heap).padStart(9), String(r.hwm).padStart(8)].join(
      ' ',
    ),
  );
}
