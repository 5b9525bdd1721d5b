/** Disks, image records and direct Image API calls for the Glance system tests. */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { digestFile } from '../../src/shared/digest.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { silentLogger } from '../../src/shared/log.js';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import type {
  BackendContext,
  DiskFormat,
  ImageRecord,
  PreparedDisk,
} from '../../src/catcher/backends/types.js';
import type { GlanceTestIdentity } from '../../src/catcher/backends/glance/config.js';
import { GLANCE_ADMIN, identityHeaders } from '../helpers/glance.js';
import { makeImage } from '../helpers/lists.js';

const run = promisify(execFile);

/**
 * A disk made with qemu-img: a sparse raw file with 1 MiB of random data at the start
 * (so every disk has distinct bytes), converted to `format`.
 */
export async function makeDisk(
  dir: string,
  format: DiskFormat,
  index = 0,
  virtualSize = '64M',
): Promise<PreparedDisk> {
  const name = `disk-${randomUUID()}`;
  const raw = join(dir, `${name}.raw`);
  await run('qemu-img', ['create', '-q', '-f', 'raw', raw, virtualSize]);
  const handle = await open(raw, 'r+');
  try {
    await handle.write(randomBytes(1024 * 1024), 0, 1024 * 1024, 0);
  } finally {
    await handle.close();
  }
  let path = raw;
  if (format !== 'raw') {
    path = join(dir, `${name}.${format}`);
    await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', format, raw, path]);
  }
  return { path, format, size: (await stat(path)).size, index, name: `${name}.${format}` };
}

export async function sha512File(path: string): Promise<string> {
  return (await digestFile(path)).sha512;
}

export interface RecordSpec {
  identifier?: string;
  sha512?: string;
  size?: number;
  title?: string;
  vo?: string;
  appliance?: string;
  supersedes?: string[];
  version?: string;
  extra?: JsonObject;
}

/** An image record as the catcher builds it from a verified list entry, with AppDB keys. */
export function makeRecord(spec: RecordSpec = {}): ImageRecord {
  const identifier = spec.identifier ?? randomUUID();
  const sha512 = spec.sha512 ?? createHash('sha512').update(identifier).digest('hex');
  const wrapped = makeImage({
    identifier,
    title: spec.title ?? 'CentOS Stream 9 for tests',
    sha512,
    size: spec.size ?? 1024,
    version: spec.version ?? '2024.01.01',
    extra: {
      'ad:mpuri': `https://appdb.example.org/store/vm/image/${identifier}:42/`,
      'ad:base_mpuri': `https://appdb.example.org/store/vm/image/${identifier}/`,
      'sl:osname': 'CentOS',
      'sl:osversion': '9',
      'sl:arch': 'x86_64',
      'hv:format': 'qcow2',
      ...(spec.appliance === undefined ? {} : { 'vmi:appliance': spec.appliance }),
      ...(spec.supersedes === undefined ? {} : { 'vmi:supersedes': spec.supersedes }),
      ...spec.extra,
    },
  });
  const entry = wrapped['hv:image'] as JsonObject;
  return {
    identifier,
    listIdentifier: 'list-0000-aaaa',
    vo: spec.vo,
    title: entry['dc:title'] as string,
    description: entry['dc:description'] as string,
    version: entry['hv:version'] as string,
    sha512,
    size: Number(entry['hv:size']),
    declaredFormat: entry['hv:format'] as string,
    appliance: spec.appliance,
    supersedes: spec.supersedes ?? [],
    entry,
  };
}

export function context(workDir: string, signal: AbortSignal = new AbortController().signal): BackendContext {
  return { log: silentLogger(), signal, now: new Date('2025-06-01T12:00:00Z'), workDir };
}

/** A direct Image API request (no backend code involved), JSON in and out, as `identity`. */
export async function api<T = unknown>(
  endpoint: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  identity: GlanceTestIdentity = GLANCE_ADMIN,
): Promise<{ status: number; body: T }> {
  const send = () =>
    fetch(`${endpoint}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...identityHeaders(identity),
        ...(body === undefined ? {} : { 'content-type': contentType }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  // Glance may close an idle keep-alive connection just as fetch reuses it ("other side
  // closed"); like the backend's client, repeat what cannot have changed anything twice.
  const response = await send().catch((err: unknown) => {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (method === 'POST' || code !== 'UND_ERR_SOCKET') throw err;
    return send();
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

export async function getImage(endpoint: string, id: string): Promise<GlanceImage | undefined> {
  const reply = await api<GlanceImage>(endpoint, 'GET', `/v2/images/${id}`);
  return reply.status === 404 ? undefined : reply.body;
}

/** Every image carrying this identifier, hidden or not, whoever made it. */
export async function imagesFor(endpoint: string, identifier: string): Promise<GlanceImage[]> {
  const found: GlanceImage[] = [];
  for (const hidden of ['false', 'true']) {
    const query = new URLSearchParams({ vmcatcher_event_dc_identifier: identifier, os_hidden: hidden });
    const reply = await api<{ images: GlanceImage[] }>(endpoint, 'GET', `/v2/images?${query.toString()}`);
    found.push(...reply.body.images);
  }
  return found;
}

export async function patch(endpoint: string, id: string, ops: unknown[]): Promise<number> {
  const reply = await api(
    endpoint,
    'PATCH',
    `/v2/images/${id}`,
    ops,
    'application/openstack-images-v2.1-json-patch',
  );
  return reply.status;
}

/** SHA-512 of the data Glance serves for an image, streamed. */
export async function downloadSha512(endpoint: string, id: string): Promise<string> {
  const response = await fetch(`${endpoint}/v2/images/${id}/file`, {
    headers: identityHeaders(GLANCE_ADMIN),
  });
  if (response.body === null || response.status !== 200)
    throw new Error(`download ${id}: HTTP ${response.status}`);
  const hash = createHash('sha512');
  for await (const chunk of Readable.fromWeb(response.body)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
