/**
 * A real squid forward proxy on 127.0.0.1 for a test file (Debian squid, its packaged
 * service unused). In CI a missing squid is a failure; elsewhere the test skips visibly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface Squid {
  url: string;
  accessLog(): string;
  stop(): Promise<void>;
}

export function squidMissing(): string | undefined {
  return spawnSync('squid', ['-v'], { stdio: 'ignore' }).status === 0
    ? undefined
    : 'squid not installed (Debian package squid)';
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startSquid(): Promise<Squid> {
  const dir = await tempDir('vmicast-squid-');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      'http_access allow localhost',
      'http_access deny all',
      'visible_hostname vmicast-test.localhost',
      `pid_filename ${dir}/squid.pid`,
      `cache_log ${dir}/cache.log`,
      `access_log stdio:${dir}/access.log squid`,
      'cache_store_log none',
      `coredump_dir ${dir}`,
      'cache_mem 16 MB',
      'dns_nameservers 127.0.0.1',
      'shutdown_lifetime 0 seconds',
      'pinger_enable off',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'access.log'), '');
  if (process.getuid?.() === 0) {
    // squid drops root privileges to the 'proxy' user (Debian's cache_effective_user).
    const ids = spawnSync('id', ['-u', 'proxy'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'proxy'], { encoding: 'utf8' });
    const uid = Number(ids.stdout.trim());
    for (const path of [dir, join(dir, 'access.log')]) chownSync(path, uid, Number(gid.stdout.trim()));
  }
  const child: ChildProcess = spawn('squid', ['-N', '-f', conf], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`squid did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    accessLog: () => readFileSync(join(dir, 'access.log'), 'utf8'),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) =>
        child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve),
      );
    },
  };
}
