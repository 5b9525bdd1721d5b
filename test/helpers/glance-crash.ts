/**
 * What the Glance kill -9 trials (test/system/glance-crash.test.ts) look at: the images a
 * backend holds in a real Glance as its admin sees them, what a VO's project can see, the
 * catcher's cache directories, and disks made with qemu-img.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import type { GlanceTestIdentity } from '../../src/catcher/backends/glance/config.js';
import { api } from '../system/glance-fixtures.js';
import { GLANCE_ADMIN } from './glance.js';

const run = promisify(execFile);

/** Random bytes of `mib` MiB, as they are (raw) or as a qcow2 file made by qemu-img. */
export async function diskBytes(
  dir: string,
  name: string,
  mib: number,
  format: 'raw' | 'qcow2',
): Promise<Uint8Array> {
  const data = randomBytes(mib * 1024 * 1024);
  if (format === 'raw') return new Uint8Array(data);
  const raw = join(dir, `${name}.raw`);
  const out = join(dir, `${name}.qcow2`);
  await writeFile(raw, data);
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, out]);
  return new Uint8Array(await readFile(out));
}

/** Every image the caller can list (hidden or not), optionally only one backend's. */
export async function listAll(
  endpoint: string,
  identity: GlanceTestIdentity,
  backend?: string,
): Promise<GlanceImage[]> {
  const found: GlanceImage[] = [];
  for (const hidden of ['false', 'true']) {
    const query = new URLSearchParams({ os_hidden: hidden, limit: '1000' });
    if (backend !== undefined) query.set('vmicast_backend', backend);
    const reply = await api<{ images: GlanceImage[] }>(
      endpoint,
      'GET',
      `/v2/images?${query.toString()}`,
      undefined,
      'application/json',
      identity,
    );
    if (reply.status !== 200)
      throw new Error(`listing images as ${identity.projectId}: HTTP ${reply.status}`);
    found.push(...reply.body.images);
  }
  return found;
}

/** The backend's images as its admin sees them. */
export function imagesOf(endpoint: string, backend: string): Promise<GlanceImage[]> {
  return listAll(endpoint, GLANCE_ADMIN, backend);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined ? '-' : JSON.stringify(v));

/** One line per image, comparable between two backends (projects named by their role). */
export function describeImage(image: GlanceImage, roles: Record<string, string>): string {
  const owner = str(image.owner);
  return [
    str(image['vmcatcher_event_dc_identifier']),
    `disk ${str(image['vmicast_disk_index'])}/${str(image['vmicast_disk_count'])}`,
    str(image.status),
    `sha ${str(image.os_hash_value).slice(0, 12)}`,
    `owner ${roles[owner] ?? owner}`,
    `visibility ${str(image.visibility)}`,
    `hidden ${str(image['os_hidden'])}`,
    `format ${str(image.disk_format)}`,
  ].join(' ');
}

/**
 * The safety property at any instant: no image that is active with bytes other than its
 * list entry's, and (for a VO's view) nothing that is not active with the right bytes.
 * `known` maps identifier -> every SHA-512 a list has given it.
 */
export function unsafeImages(
  images: GlanceImage[],
  known: ReadonlyMap<string, ReadonlySet<string>>,
  visibleToVo: boolean,
): string[] {
  const problems: string[] = [];
  for (const image of images) {
    const identifier = str(image['vmcatcher_event_dc_identifier']);
    const claimed = str(image['vmcatcher_event_sl_checksum_sha512']);
    const hash = str(image.os_hash_value);
    const right = hash === claimed && known.get(identifier)?.has(hash) === true;
    const what = `${image.id} (${identifier.slice(0, 8)}, ${str(image.status)}, hidden ${str(image['os_hidden'])}, owner ${str(image.owner)})`;
    if (image.status === 'active' && !right) problems.push(`active with wrong bytes: ${what}`);
    else if (visibleToVo && !(image.status === 'active' && right))
      problems.push(`visible to the VO: ${what}`);
  }
  return problems;
}

/** Files of a directory with their sizes ("name size"), none when it does not exist. */
export async function filesIn(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names.sort()) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile() === true) out.push(`${name} ${info.size}`);
  }
  return out;
}
