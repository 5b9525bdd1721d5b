import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

/**
 * Issue 14, item 6: `--help` loads no HTTP client, certificate code, metrics registry or
 * SQLite. A module resolve hook records what the built program (dist/) imports; this checks
 * the load list only (start-up time and memory are measured in bench/, not asserted here).
 */

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'vmicast-startup-'));
const hook = join(work, 'hook.mjs');
const hooks = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const found = await next(specifier, context);
  appendFileSync(process.env.VMICAST_LOAD_LOG, found.url + '\\n');
  return found;
}`;
writeFileSync(
  hook,
  `import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});\n`,
);

const HEAVY = ['asn1js', 'prom-client', 'better-sqlite3', 'pino', 'shared/http.js'];

function loadedPackages(program: string, args: string[], okStatus: readonly number[] = [0]): Set<string> {
  const log = join(work, `load-${`${program}-${args.join('-')}`.replace(/\W/g, '_')}.log`);
  writeFileSync(log, '');
  const run = spawnSync(process.execPath, ['--import', hook, join(root, 'dist', program), ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', VMICAST_LOAD_LOG: log },
  });
  assert.ok(okStatus.includes(run.status ?? -1), run.stderr);
  const urls = readFileSync(log, 'utf8').split('\n');
  assert.ok(
    urls.some((u) => u.includes('/dist/')),
    'the hook saw the program load',
  );
  const names = urls.flatMap((u) => {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
    if (m?.[1] !== undefined) return [m[1]];
    // Our own HTTP client (node:http, TLS contexts) counts as a heavy module too.
    return u.endsWith('/dist/shared/http.js') ? ['shared/http.js'] : [];
  });
  return new Set(names);
}

describe('start-up loads only what the command needs', () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const [program, args] of [
    ['catcher/main.js', ['--help']],
    ['caster/main.js', ['--help']],
    ['catcher/main.js', ['sync', '--help']],
    ['caster/main.js', ['publish', '--help']],
  ] as const) {
    it(`${program} ${args.join(' ')} loads none of ${HEAVY.join(', ')}`, () => {
      const loaded = loadedPackages(program, [...args]);
      assert.ok(loaded.has('commander'));
      assert.deepEqual(
        HEAVY.filter((name) => loaded.has(name)),
        [],
      );
    });
  }

  // status and check read the database and the trust store (SQLite and the certificate
  // code are needed) but no HTTP client, logger or metrics registry.
  for (const command of ['status', 'check']) {
    it(`catcher/main.js ${command} loads neither the HTTP client, pino nor prom-client`, () => {
      const home = join(work, `home-${command}`);
      mkdirSync(join(home, 'ca'), { recursive: true });
      writeFileSync(join(home, 'vmicatcher.yaml'), `caDir: ${JSON.stringify(join(home, 'ca'))}\n`);
      // check exits with a Nagios status (an empty site is not OK): any of 0-3 is a run.
      const loaded = loadedPackages('catcher/main.js', ['--home', home, command], [0, 1, 2, 3]);
      assert.ok(loaded.has('better-sqlite3'), 'the command ran');
      assert.deepEqual(
        ['shared/http.js', 'pino', 'prom-client'].filter((name) => loaded.has(name)),
        [],
      );
    });
  }
});
