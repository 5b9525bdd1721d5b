// Line coverage of the test suite, and the thresholds `npm test` enforces (issue 13).
//
// Every process of the run (the test files under tsx, and the CLI processes they start
// from dist/) writes V8 coverage into one directory through NODE_V8_COVERAGE; c8 maps
// dist/ back to src/ through the source maps tsc writes, merges, and writes coverage/.
// A src/ file that no test loads counts with all its lines uncovered.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';

/** Where trust is decided: envelope, CMS, chain, proxies, VOMS, list rules, acceptance, reconcile. */
export const TRUST_PATH = [
  'src/shared/smime.ts',
  'src/shared/cms.ts',
  'src/shared/verify.ts',
  'src/shared/pki/**',
  'src/shared/imagelist/**',
  'src/catcher/**/accept.ts',
  'src/catcher/**/reconcile.ts',
];

/** Not measured, with the reason: code V8 in Node never runs. */
export const NOT_MEASURED = {
  'src/types/**': 'declarations for packages without types',
  'src/catcher/ops/page/script.ts': 'runs in the browser (test/ops/page.test.ts drives it in Chromium)',
};

/** Minimum share of lines covered, in percent. */
export const THRESHOLDS = { trustPath: 95, overall: 85 };

/** `**` matches any depth (including none), `*` any name within one directory. */
function globToRegExp(glob) {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  const pattern = escaped.replace(/\*\*\/|\*\*|\*/g, (star) =>
    star === '**/' ? '(?:.*/)?' : star === '**' ? '.*' : '[^/]*',
  );
  return new RegExp(`^${pattern}$`);
}

const trustPath = TRUST_PATH.map(globToRegExp);
export const isTrustPath = (file) => trustPath.some((re) => re.test(file));

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/**
 * src/ files with types only: tsc compiles them to an empty module that nothing loads, so
 * they have no line to run (counting them would lower the figure by their comments).
 */
function typeOnlyFiles(root) {
  const dist = join(root, 'dist');
  if (!existsSync(dist)) return [];
  return walk(dist)
    .filter((path) => path.endsWith('.js'))
    .filter((path) => {
      const code = readFileSync(path, 'utf8')
        .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
        .trim();
      return code === 'export {};';
    })
    .map((path) => `src/${relative(dist, path).replace(/\.js$/, '.ts')}`)
    .filter((path) => existsSync(join(root, path)));
}

/** Writes coverage/ (HTML, lcov, a summary) from the raw V8 files in `rawDir`. */
export function writeReport(root, rawDir) {
  const c8 = createRequire(import.meta.url).resolve('c8/bin/c8.js');
  const args = [
    c8,
    'report',
    `--temp-directory=${rawDir}`,
    '--reports-dir=coverage',
    '--reporter=html',
    '--reporter=lcov',
    '--reporter=json-summary',
    '--all',
    '--src=src',
    // dist/ is named so that its files are read; after remapping they are src/ files.
    '--include=src/**',
    '--include=dist/**',
    '--exclude-after-remap',
    ...[...Object.keys(NOT_MEASURED), ...typeOnlyFiles(root)].map((glob) => `--exclude=${glob}`),
  ];
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('c8 could not write the coverage report');
}

function sum(entries) {
  const covered = entries.reduce((n, [, s]) => n + s.lines.covered, 0);
  const total = entries.reduce((n, [, s]) => n + s.lines.total, 0);
  return { covered, total, pct: total === 0 ? 100 : (100 * covered) / total };
}

/** Prints the two group figures and the weakest files; true when both thresholds hold. */
export function checkThresholds(root) {
  const summary = JSON.parse(readFileSync(join(root, 'coverage/coverage-summary.json'), 'utf8'));
  const files = Object.entries(summary)
    .filter(([path]) => path !== 'total')
    .map(([path, s]) => [relative(root, path), s])
    .filter(([path]) => path.startsWith('src/'));
  const trust = files.filter(([path]) => isTrustPath(path));
  const groups = [
    ['trust path', sum(trust), THRESHOLDS.trustPath],
    ['overall', sum(files), THRESHOLDS.overall],
  ];
  const weakest = (list, n) =>
    [...list]
      .sort(([, a], [, b]) => a.lines.pct - b.lines.pct)
      .slice(0, n)
      .map(([path, s]) => `    ${s.lines.pct.toFixed(1).padStart(5)}%  ${path}`)
      .join('\n');
  console.log('\ncoverage (lines; report in coverage/index.html):');
  let ok = true;
  for (const [name, { covered, total, pct }, min] of groups) {
    const pass = pct >= min;
    ok &&= pass;
    console.log(
      `  ${name}: ${pct.toFixed(2)}% of ${total} lines (${covered} covered), threshold ${min}%` +
        (pass ? '' : '  FAILED'),
    );
  }
  console.log(
    `  not measured: ${Object.entries(NOT_MEASURED)
      .map(([glob, why]) => `${glob} (${why})`)
      .join('; ')}`,
  );
  console.log(`  weakest trust-path files:\n${weakest(trust, 5)}`);
  console.log(`  weakest files overall:\n${weakest(files, 8)}`);
  return ok;
}
