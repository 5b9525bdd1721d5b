import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GLANCE_ADMIN, glanceMissing, identityHeaders, startGlanceApi } from '../../test/helpers/glance.js';
import { SkipError, type DataFile } from './data.js';
import { check, run, type Measured } from './proc.js';
import { REPO } from './site.js';

/**
 * A real OpenStack Glance for the benchmarks (Debian's glance-api on 127.0.0.1 without
 * Keystone, scripts/glance/run-glance.sh), with the identity taken from request headers
 * (`--context headers`), as the system tests run it: the catcher's backend and every
 * reference call act as the admin of the backend's own project (GLANCE_ADMIN).
 */

const SCRIPT = join(REPO, 'scripts/glance/run-glance.sh');

export { GLANCE_ADMIN };

export interface Glance {
  endpoint: string;
  /** A glance backend block for vmicatcher's configuration that reaches this Glance. */
  backend(extra?: Record<string, unknown>): Record<string, unknown>;
  /** CPU time glance-api (one process: workers = 0) has used so far, in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

let clockTicks: number | undefined;

/** User + system time of a process from /proc/PID/stat (fields 14 and 15, after the name). */
function processCpuMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

/** Starts glance-api in `dir`; a watcher stops it when this process goes away, whatever the way. */
export async function startGlance(dir: string): Promise<Glance> {
  const missing = glanceMissing();
  if (missing !== undefined) throw new SkipError(missing);
  const started = await startGlanceApi(dir, ['--context', 'headers'], { timeout: 180_000 });
  const { endpoint, pid } = started;
  const watcher: ChildProcess = spawn(
    '/bin/sh',
    ['-c', 'cat >/dev/null; "$0" stop --dir "$1"', SCRIPT, started.dir],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  return {
    endpoint,
    backend: (extra = {}) => ({
      type: 'glance',
      name: 'bench',
      endpoint,
      testIdentity: GLANCE_ADMIN,
      ...extra,
    }),
    cpuMs: () => processCpuMs(pid),
    stop: async () => {
      const exited = new Promise((resolve) => watcher.once('exit', resolve));
      watcher.stdin?.end();
      await exited;
    },
  };
}

/** One Image API call as GLANCE_ADMIN; throws on an HTTP error. */
export async function api(endpoint: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { ...identityHeaders(GLANCE_ADMIN) };
  if (body !== undefined) {
    headers['content-type'] =
      method === 'PATCH' ? 'application/openstack-images-v2.1-json-patch' : 'application/json';
  }
  const response = await fetch(`${endpoint}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status >= 300)
    throw new Error(`${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return text === '' ? undefined : JSON.parse(text);
}

export interface GlanceImage {
  id: string;
  status: string;
  size: number | null;
  os_hash_value?: string | null;
  os_hidden?: boolean;
  owner?: string;
  visibility?: string;
  [key: string]: unknown;
}

/** Every image of the Glance (all projects, hidden ones too). */
export async function allImages(endpoint: string): Promise<GlanceImage[]> {
  const out: GlanceImage[] = [];
  for (const hidden of ['false', 'true']) {
    let next: string | undefined = `/v2/images?limit=1000&os_hidden=${hidden}`;
    while (next !== undefined) {
      const page = (await api(endpoint, 'GET', next)) as { images: GlanceImage[]; next?: string };
      out.push(...page.images);
      next = page.next;
    }
  }
  return out;
}

/** Deletes every image: each round starts with an empty Glance (not timed). */
export async function emptyGlance(endpoint: string): Promise<void> {
  for (const image of await allImages(endpoint)) await api(endpoint, 'DELETE', `/v2/images/${image.id}`);
}

/** Throws unless exactly the files' data is active in Glance, once each. */
export async function checkActive(endpoint: string, files: readonly DataFile[]): Promise<void> {
  const images = await allImages(endpoint);
  for (const file of files) {
    const held = images.filter((i) => i.os_hash_value === file.sha512);
    const ok = held.length === 1 && held[0]?.status === 'active' && held[0].size === file.size;
    if (!ok) {
      const seen = images.map((i) => `${i.id} ${i.status} ${i.size ?? '?'} B hidden=${String(i.os_hidden)}`);
      throw new Error(
        `${file.name}: ${held.length} active images with its digest; Glance holds ${seen.join('; ')}`,
      );
    }
  }
}

/** A new image record (not timed), ready for `curl -T`. */
export async function createRecord(endpoint: string, name: string): Promise<string> {
  const record = (await api(endpoint, 'POST', '/v2/images', {
    name,
    disk_format: 'raw',
    container_format: 'bare',
  })) as { id: string };
  return record.id;
}

/** `curl -T` arguments uploading `path` into image `id` (Glance's own intake, the limit). */
export function curlUploadArgs(endpoint: string, id: string, path: string): string[] {
  const headers = Object.entries(identityHeaders(GLANCE_ADMIN)).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  return [
    '-sS',
    '--fail',
    '--noproxy',
    '*',
    ...headers,
    '-H',
    'Content-Type: application/octet-stream',
    '-T',
    path,
    `${endpoint}/v2/images/${id}/file`,
  ];
}

/** The same as one shell command line (single quotes: none of the words holds one). */
export function curlUploadLine(endpoint: string, id: string, path: string): string {
  return `curl ${curlUploadArgs(endpoint, id, path)
    .map((w) => `'${w}'`)
    .join(' ')}`;
}

/** `curl -T` of `path` into the record `id`, measured. */
export async function curlUpload(endpoint: string, id: string, path: string): Promise<Measured> {
  return check(await run('curl', curlUploadArgs(endpoint, id, path)), 'curl -T');
}
