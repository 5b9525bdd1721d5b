/**
 * A small static file server for the benchmarks (node:http), run as a child process so
 * that its CPU is not counted in the measuring process, like nginx:
 *
 *   node --import tsx bench/lib/static-server.ts --root DIR [--host 127.0.0.1] [--port 0]
 *        [--rate BYTES_PER_SECOND_PER_RESPONSE]
 *
 * Serves files under DIR and byte ranges of them as files of their own
 * (`/slice/<offset>/<length>/<name>`), with ETag, Last-Modified, conditional GET (304) and
 * Range (206). Counts the body bytes it sends (`GET /__bench/stats`, reset with
 * `/__bench/reset`) and can cut one response after N bytes
 * (`/__bench/fault?path=/x&after=N`). Prints `{"origin": ...}` once listening; exits when
 * its standard input closes (so it never outlives the benchmark).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const root = arg('--root', process.cwd());
const host = arg('--host', '127.0.0.1');
const port = Number(arg('--port', '0'));
const rate = Number(arg('--rate', '0'));

interface Logged {
  path: string;
  status: number;
  bytes: number;
  rangeStart: number | null;
}

const stats = { requests: 0, bytes: 0, active: 0, maxActive: 0, log: [] as Logged[] };
const faults = new Map<string, number>();

interface Target {
  file: string;
  offset: number;
  length: number;
  mtime: Date;
}

async function target(path: string): Promise<Target | undefined> {
  const slice = /^\/slice\/(\d+)\/(\d+)\/([^/]+)$/.exec(path);
  const name = slice === null ? path : `/${slice[3] ?? ''}`;
  const file = join(root, normalize(decodeURIComponent(name)).replace(/^(\.\.(\/|$))+/, ''));
  const info = await stat(file).catch(() => undefined);
  if (info?.isFile() !== true) return undefined;
  if (slice === null) return { file, offset: 0, length: info.size, mtime: info.mtime };
  const offset = Number(slice[1]);
  const length = Number(slice[2]);
  if (offset + length > info.size) return undefined;
  return { file, offset, length, mtime: info.mtime };
}

function control(req: IncomingMessage, res: ServerResponse, url: URL): void {
  if (url.pathname === '/__bench/reset') {
    stats.requests = 0;
    stats.bytes = 0;
    stats.maxActive = stats.active;
    stats.log = [];
  } else if (url.pathname === '/__bench/fault') {
    faults.set(url.searchParams.get('path') ?? '', Number(url.searchParams.get('after') ?? 0));
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(stats));
  req.resume();
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname.startsWith('/__bench/')) return control(req, res, url);
  stats.requests += 1;
  const entry: Logged = { path: url.pathname, status: 0, bytes: 0, rangeStart: null };
  stats.log.push(entry);
  const t = await target(url.pathname);
  if (t === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
    entry.status = 404;
    res.writeHead(404).end();
    return;
  }
  const etag = `"${t.length.toString(16)}-${t.mtime.getTime().toString(16)}-${t.offset.toString(16)}"`;
  const lastModified = t.mtime.toUTCString();
  const since = req.headers['if-modified-since'];
  if (
    req.headers['if-none-match'] === etag ||
    (req.headers['if-none-match'] === undefined &&
      since !== undefined &&
      Date.parse(since) >= Math.floor(t.mtime.getTime() / 1000) * 1000)
  ) {
    entry.status = 304;
    res.writeHead(304, { etag, 'last-modified': lastModified }).end();
    return;
  }
  let start = 0;
  let end = t.length - 1;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const headers: Record<string, string | number> = {
    etag,
    'last-modified': lastModified,
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
  };
  if (range !== null && Number(range[1]) < t.length) {
    start = Number(range[1]);
    end = range[2] === '' || range[2] === undefined ? end : Math.min(end, Number(range[2]));
    entry.rangeStart = start;
    headers['content-range'] = `bytes ${start}-${end}/${t.length}`;
  }
  entry.status = range === null ? 200 : 206;
  headers['content-length'] = end - start + 1;
  res.writeHead(entry.status, headers);
  if (req.method === 'HEAD' || t.length === 0) {
    res.end();
    return;
  }
  const cutAfter = faults.get(url.pathname);
  if (cutAfter !== undefined) faults.delete(url.pathname);
  const chunk = rate > 0 ? Math.min(256 * 1024, Math.max(16 * 1024, rate / 20)) : 1024 * 1024;
  const stream = createReadStream(t.file, {
    start: t.offset + start,
    end: t.offset + end,
    highWaterMark: chunk,
  });
  const t0 = Date.now();
  const total = end - start + 1;
  // Counted from the first to the last body byte handed to the socket, so that a client's
  // next request after this one does not look like a second request at the same time.
  let active = true;
  const finished = () => {
    if (active) stats.active -= 1;
    active = false;
  };
  stats.active += 1;
  stats.maxActive = Math.max(stats.maxActive, stats.active);
  try {
    for await (const data of stream as AsyncIterable<Buffer>) {
      let piece = data;
      if (cutAfter !== undefined && entry.bytes + piece.length >= cutAfter) {
        piece = piece.subarray(0, Math.max(0, cutAfter - entry.bytes));
        entry.bytes += piece.length;
        stats.bytes += piece.length;
        finished();
        res.write(piece, () => res.destroy());
        return;
      }
      entry.bytes += piece.length;
      stats.bytes += piece.length;
      if (entry.bytes >= total) finished();
      if (!res.write(piece)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      if (res.destroyed) break;
      if (rate > 0 && entry.bytes < total) {
        const ahead = (entry.bytes / rate) * 1000 - (Date.now() - t0);
        if (ahead > 0) await sleep(ahead);
      }
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    finished();
    stream.destroy();
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => res.destroy());
});
server.keepAliveTimeout = 30_000;
server.listen(port, host, () => {
  const address = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ origin: `http://${host}:${address.port}` })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
