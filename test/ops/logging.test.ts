import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../helpers/caster-cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The daemon's logger (src/shared/log.ts) in a child process writing to a real pipe on fd 1,
 * as under journald: one JSON object per line, a child per component, secrets redacted; and
 * readable lines when asked for the terminal format.
 */

const SECRETS = {
  password: 'pw-top',
  token: 'tok-top',
  key: 'key-top',
  privateKey: 'pk-top',
  secret: 'sec-top',
  authorization: 'Bearer auth-lower',
  Authorization: 'Bearer auth-upper',
  accessToken: 'access-top',
  subscription: { url: 'https://lists.example.org/vo.smime', user: 'robot', password: 'pw-nested' },
  backend: { applicationCredentialSecret: 'app-secret', token: 'tok-nested', key: 'key-nested' },
  headers: { authorization: 'Bearer h-lower', Authorization: 'Bearer h-upper' },
  req: {
    headers: { authorization: 'Bearer req-lower', Authorization: 'Bearer req-upper', cookie: 'session=c' },
  },
};

async function runLogger(pretty: boolean): Promise<string> {
  const dir = await tempDir('vmicast-log-');
  const script = join(dir, 'log.mts');
  await writeFile(
    script,
    `import { createLogger } from ${JSON.stringify(join(REPO, 'src/shared/log.ts'))};
const root = createLogger('vmicatcher', { fd: 1, pretty: ${pretty} });
const log = root.child({ component: 'sync' });
log.info(${JSON.stringify(SECRETS)}, 'with secrets');
log.warn({ err: new Error('boom') }, 'with an error');
`,
  );
  const result = spawnSync(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', NO_COLOR: '1' },
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

describe('daemon logs', () => {
  it('are JSON lines on stdout with a component, and never carry passwords, tokens, keys or Authorization headers', async () => {
    const out = await runLogger(false);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    const [first, second] = lines;
    assert.equal(first?.['name'], 'vmicatcher');
    assert.equal(first['component'], 'sync');
    assert.equal(first['msg'], 'with secrets');
    for (const value of [
      'pw-top',
      'tok-top',
      'key-top',
      'pk-top',
      'sec-top',
      'auth-lower',
      'auth-upper',
      'access-top',
      'pw-nested',
      'app-secret',
      'tok-nested',
      'key-nested',
      'h-lower',
      'h-upper',
      'req-lower',
      'req-upper',
      'session=c',
    ]) {
      assert.ok(!out.includes(value), `${value} leaked into the log`);
    }
    assert.equal(first['password'], '[redacted]');
    assert.deepEqual(first['subscription'], {
      url: 'https://lists.example.org/vo.smime',
      user: 'robot',
      password: '[redacted]',
    });
    const err = second?.['err'] as { message: string; stack: string };
    assert.equal(err.message, 'boom');
    assert.match(err.stack, /Error: boom/);
  });

  it('are readable lines on a terminal', async () => {
    const out = await runLogger(true);
    assert.throws(() => JSON.parse(out.split('\n')[0] ?? ''));
    assert.match(out, /INFO.*with secrets/);
    assert.match(out, /WARN.*with an error/);
    assert.match(out, /component: "sync"/);
    assert.ok(!out.includes('pw-top') && !out.includes('auth-upper'));
  });
});
