import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { which } from './proc.js';

/**
 * HTTP servers for the benchmarks, each in a process of its own on a loopback address:
 * the node:http static server of bench/lib/static-server.ts, and Debian's nginx with a
 * configuration written to a temporary directory. Both die with the benchmark (their
 * standard input is a pipe from it; when it closes, they stop).
 */

export interface Served {
  origin: string;
  url(path: string): string;
  stop(): Promise<void>;
}

export interface ServedStats {
  requests: number;
  bytes: number;
  /** Most responses sending a body at the same time since the last reset. */
  maxActive: number;
  log: { path: string; status: number; bytes: number; rangeStart: number | null }[];
}

export interface NodeServer extends Served {
  stats(): Promise<ServedStats>;
  reset(): Promise<void>;
  /** The next response for `path` is cut after `after` body bytes. */
  fault(path: string, after: number): Promise<void>;
}

const SERVER = new URL('./static-server.ts', import.meta.url).pathname;

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
    child.stdin?.end();
    if (!(await Promise.race([exited, sleep(3000).then(() => false)]))) {
      child.kill('SIGKILL');
      await exited;
    }
  };
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  return response.json();
}

/** The node:http static server on `host` (127.0.0.1 unless given), serving `root`. */
export async function startNodeServer(
  root: string,
  options: { host?: string; rate?: number } = {},
): Promise<NodeServer> {
  const args = ['--import', 'tsx', SERVER, '--root', root, '--host', options.host ?? '127.0.0.1'];
  if (options.rate !== undefined) args.push('--rate', String(options.rate));
  const child = spawn(process.execPath, args, {
    cwd: new URL('../..', import.meta.url).pathname,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const origin = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n')[0] ?? '';
      if (out.includes('\n')) resolve((JSON.parse(line) as { origin: string }).origin);
    });
    child.once('exit', (code) => reject(new Error(`static server exited with ${code ?? '?'}`)));
    child.once('error', reject);
  });
  const stop = stopper(child);
  return {
    origin,
    url: (path) => `${origin}${path}`,
    stop,
    stats: async () => (await getJson(`${origin}/__bench/stats`)) as ServedStats,
    reset: async () => {
      await getJson(`${origin}/__bench/reset`);
    },
    fault: async (path, after) => {
      await getJson(`${origin}/__bench/fault?path=${encodeURIComponent(path)}&after=${after}`);
    },
  };
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Why nginx cannot run here, or undefined. */
export function nginxMissing(): string | undefined {
  return which('nginx') === undefined
    ? 'nginx not installed (Debian package nginx-light, scripts/ci/install-debian.sh)'
    : undefined;
}

function nginxConfig(dir: string, root: string, port: number): string {
  const temp = (name: string) => `${name}_temp_path ${join(dir, 'tmp', name)};`;
  return `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }
}
`;
}

/**
 * Debian's nginx serving `root` on 127.0.0.1, configured in `dir`, in the foreground
 * (`daemon off`). As root, its worker runs as nobody: `root` must be world-readable.
 */
export async function startNginx(root: string, dir: string): Promise<Served> {
  const nginx = which('nginx');
  if (nginx === undefined) throw new Error(nginxMissing());
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await chmod(root, 0o755);
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    await writeFile(conf, nginxConfig(dir, root, port));
    // sh waits on its standard input and stops nginx when the benchmark goes away.
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        `"$0" -p "$1" -c "$2" -e "$3" -g 'daemon off;' & pid=$!; cat >/dev/null; kill $pid; wait $pid`,
        nginx,
        `${dir}/`,
        conf,
        join(dir, 'error.log'),
      ],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    const origin = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${origin}/`, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => {
          await r.arrayBuffer();
          return true;
        })
        .catch(() => false);
      if (ok) {
        return { origin, url: (path) => `${origin}${path}`, stop: stopper(child) };
      }
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    lastError = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    await stopper(child)();
  }
  throw new Error(`nginx did not start: ${lastError}`);
}

/** Why `python3 -m http.server` cannot run here, or undefined. */
export function pythonMissing(): string | undefined {
  return which('python3') === undefined ? 'python3 not installed' : undefined;
}

/**
 * `python3 -m http.server` serving `root` on 127.0.0.1: the slow, single-threaded server
 * that many small sites publish their images with (issue 14). Its request log is dropped.
 */
export async function startPython(root: string): Promise<Served> {
  const python = which('python3');
  if (python === undefined) throw new Error(pythonMissing());
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        `"$0" -m http.server --bind 127.0.0.1 --directory "$1" "$2" & pid=$!; cat >/dev/null; kill $pid; wait $pid`,
        python,
        root,
        String(port),
      ],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    const origin = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${origin}/`, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => {
          await r.arrayBuffer();
          return true;
        })
        .catch(() => false);
      if (ok) return { origin, url: (path) => `${origin}${path}`, stop: stopper(child) };
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    await stopper(child)();
  }
  throw new Error('python3 -m http.server did not start');
}
