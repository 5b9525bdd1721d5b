/** Images, faults and checks for the pipeline tests on a real Glance (glance-pipeline.test.ts). */
import { randomBytes } from 'node:crypto';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import type { SyncReport } from '../../src/catcher/sync/sync.js';
import type { Seen } from './glance-watch.js';
import type { Repo, RepoImage } from './repo.js';

/** Distinct raw disk bytes (random, with a readable label at the start). */
export function diskBytes(size: number, label: string): Uint8Array {
  const bytes = randomBytes(size);
  bytes.write(`vmicast pipeline test disk: ${label}\n`, 0);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function pathOf(image: RepoImage): string {
  return new URL(image.entry['hv:uri'] as string).pathname;
}

export function sha512Of(image: RepoImage): string {
  return image.entry['sl:checksum:sha512'] as string;
}

/** The server sends the declared size, every byte right but the last one. */
export function serveWrongLastByte(repo: Repo, image: RepoImage): void {
  const wrong = Uint8Array.from(image.bytes);
  wrong[wrong.length - 1] = (wrong[wrong.length - 1] ?? 0) ^ 0xff;
  repo.server.set(pathOf(image), wrong);
}

export function codesFor(report: SyncReport, identifier: string): (string | undefined)[] {
  return [...report.downloads, ...report.deliveries]
    .filter((d) => d.identifier === identifier)
    .map((d) => d.code);
}

/** Whether the VO may see it: active, with the list's SHA-512 as Glance's own hash. */
export function verifiedAs(image: Seen | GlanceImage, sha512: string): boolean {
  const [algo, hash] =
    'hashAlgo' in image ? [image.hashAlgo, image.hash] : [image.os_hash_algo, image.os_hash_value];
  return image.status === 'active' && algo === 'sha512' && hash === sha512;
}
