// Runs the test suite with node:test through tsx. Arguments narrow the files:
//   node scripts/run-tests.mjs test/shared        (a directory)
//   node scripts/run-tests.mjs smime              (file names containing "smime")
// The whole suite (no arguments) measures line coverage and fails below the thresholds of
// scripts/coverage.mjs; VMICAST_COVERAGE=0 turns that off, VMICAST_COVERAGE=1 measures a
// subset too (a report only: a subset cannot meet thresholds set for the whole suite).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { checkThresholds, writeReport } from './coverage.mjs';

const root = new URL('..', import.meta.url).pathname;

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'fixtures' ? [] : findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = findTests(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.startsWith(x) || f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files match', filters.join(' '));
  process.exit(1);
}
const wholeSuite = filters.length === 0;
const coverage = process.env.VMICAST_COVERAGE ?? (wholeSuite ? '1' : '0');
// Every process below (test files, and the CLI processes they start) writes here.
const rawDir = coverage === '1' ? mkdtempSync(join(tmpdir(), 'vmicast-coverage-')) : undefined;
const concurrency = process.env.VMICAST_TEST_CONCURRENCY ?? '3';
const started = Date.now();
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: '', ...(rawDir === undefined ? {} : { NODE_V8_COVERAGE: rawDir }) },
  },
);
let status = result.status ?? 1;
console.log(`tests took ${Math.round((Date.now() - started) / 1000)} s`);
if (rawDir !== undefined) {
  try {
    writeReport(root, rawDir);
    const met = checkThresholds(root);
    if (wholeSuite && !met) {
      console.error('coverage is below the thresholds of scripts/coverage.mjs');
      if (status === 0) status = 1;
    }
  } finally {
    rmSync(rawDir, { recursive: true, force: true });
  }
}
process.exit(status);
