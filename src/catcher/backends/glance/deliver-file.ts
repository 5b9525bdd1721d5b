import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { digestFile } from '../../../shared/digest.js';
import type { Backend, BackendContext, DiskFormat, ImageRecord, PreparedDisk } from '../types.js';

/**
 * Delivers one disk file as a one-disk image of its own (benchmarks, manual checks). The
 * SHA-512 is computed when not given; it stands in for the list checksum.
 */
export async function deliverDiskFile(
  backend: Backend,
  file: { path: string; format: DiskFormat; sha512?: string },
  ctx: BackendContext,
  identifier: string = randomUUID(),
): Promise<{ refs: string[]; size: number; sha512: string }> {
  const digest = file.sha512 === undefined ? await digestFile(file.path) : undefined;
  const size = digest?.size ?? (await stat(file.path)).size;
  const sha512 = file.sha512 ?? digest?.sha512 ?? '';
  const image: ImageRecord = {
    identifier,
    listIdentifier: 'vmicast-bench',
    vo: undefined,
    title: `vmicast ${identifier}`,
    description: '',
    version: '1',
    sha512,
    size,
    declaredFormat: file.format,
    appliance: undefined,
    supersedes: [],
    entry: {
      'dc:identifier': identifier,
      'sl:checksum:sha512': sha512,
      'hv:size': size,
      'hv:format': file.format,
    },
  };
  const disk: PreparedDisk = { path: file.path, format: file.format, size, index: 0, name: identifier };
  const { refs } = await backend.deliver(image, { file: file.path, disks: [disk] }, ctx);
  return { refs, size, sha512 };
}
