// Replaces the block between <!-- bench:start --> and <!-- bench:end --> in README.md with
// the table the benchmarks wrote (bench/results/README-table.md by default).
//   node bench/update-readme.mjs [--table FILE] [--readme FILE]
// Without the markers in README.md nothing is changed (exit 0, with a notice).
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const option = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
};
const tablePath = option('--table', `${root}bench/results/README-table.md`);
const readmePath = option('--readme', `${root}README.md`);
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

const table = readFileSync(tablePath, 'utf8').trim();
const readme = readFileSync(readmePath, 'utf8');
const start = readme.indexOf(START);
const end = readme.indexOf(END, start + START.length);
if (start < 0 || end < 0) {
  console.error(`update-readme: ${readmePath} has no ${START} ... ${END} block; nothing changed`);
  process.exit(0);
}
const next = `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
if (next === readme) {
  console.error('update-readme: README.md already has this table');
} else {
  writeFileSync(readmePath, next);
  console.error(`update-readme: table written into ${readmePath}`);
}
