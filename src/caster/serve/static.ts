import { open, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';

/**
 * The static web root: published lists (and images, if the operator keeps them there)
 * with validators for conditional GET (ETag, Last-Modified, 304), single byte ranges (206)
 * for resumed downloads, and paths confined to the root (no `..`, no dot files such as
 * the temporary files of an atomic write, no symlinks out of the root).
 */

const TYPES: Record<string, string> = {
  '.smime': 'text/plain; charset=utf-8',
  '.signed': 'text/plain; charset=utf-8',
  '.list': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.pem': 'application/x-pem-file',
  '.gz': 'application/gzip',
  '.xz': 'application/x-xz',
  '.bz2': 'application/x-bzip2',
  '.ova': 'application/x-tar',
  '.tar': 'application/x-tar',
};

export function contentTypeOf(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** The file a URL path names inside `root`, or undefined when it may not be served. */
export async function resolveInRoot(root: string, urlPath: string): Promise<string | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s.startsWith('.'))) return undefined;
  const realRoot = await realpath(root);
  const candidate = join(realRoot, ...segments);
  const real = await realpath(candidate).catch(() => undefined);
  if (real === undefined || (real !== realRoot && !real.startsWith(realRoot + sep))) return undefined;
  return real;
}

function etagOf(info: { ino: number; size: number; mtimeMs: number }): string {
  return `"${info.ino.toString(16)}-${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
}

function notModified(req: IncomingMessage, etag: string, mtime: Date): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    return inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
  }
  const ims = req.headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return !Number.isNaN(since) && Math.floor(mtime.getTime() / 1000) * 1000 <= since;
}

type RangeResult = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range; several ranges or a stale If-Range give the whole file. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

function rangeStillValid(req: IncomingMessage, etag: string, mtime: Date): boolean {
  const ifRange = req.headers['if-range'];
  if (typeof ifRange !== 'string') return true;
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === etag;
  const date = Date.parse(ifRange);
  return !Number.isNaN(date) && Math.floor(mtime.getTime() / 1000) * 1000 <= date;
}

/** Serves `urlPath` from `root`; false when there is no such file (the caller answers 404). */
export async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  urlPath: string,
): Promise<boolean> {
  const path = await resolveInRoot(root, urlPath);
  if (path === undefined) return false;
  // One open file for the headers and the body: a publication renames a new file over the
  // path at any moment, and stat-then-open would pair the old size with the new bytes (a
  // torn list). An open file keeps the version it was opened on.
  const handle = await open(path, 'r').catch(() => undefined);
  if (handle === undefined) return false;
  try {
    return await serveOpen(req, res, path, handle);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function serveOpen(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  handle: FileHandle,
): Promise<boolean> {
  const info = await handle.stat();
  if (!info.isFile()) return false;
  const etag = etagOf(info);
  res.setHeader('ETag', etag);
  res.setHeader('Last-Modified', info.mtime.toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (notModified(req, etag, info.mtime)) {
    res.writeHead(304).end();
    return true;
  }
  res.setHeader('Content-Type', contentTypeOf(path));
  const range = rangeStillValid(req, etag, info.mtime) ? parseRange(req.headers.range, info.size) : undefined;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${info.size}` }).end();
    return true;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? info.size - 1;
  const length = info.size === 0 ? 0 : end - start + 1;
  if (range !== undefined) res.setHeader('Content-Range', `bytes ${start}-${end}/${info.size}`);
  res.writeHead(range === undefined ? 200 : 206, { 'Content-Length': length });
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return true;
  }
  await new Promise<void>((resolvePromise) => {
    // The caller closes the handle once the response is done.
    const stream = handle.createReadStream({ start, end, highWaterMark: 1024 * 1024, autoClose: false });
    stream.on('error', () => {
      res.destroy();
      resolvePromise();
    });
    res.on('close', () => {
      stream.destroy();
      resolvePromise();
    });
    stream.pipe(res);
  });
  return true;
}
