import { stat } from 'node:fs/promises';
import { VmiError } from '../../../shared/errors.js';
import type { DiskFormat, PreparedDisk } from '../types.js';

/** Refuses bad input before anything is created in Glance: disks 0..n-1, taken formats, readable files. */
export async function checkDisks(
  disks: readonly PreparedDisk[],
  formats: readonly DiskFormat[],
  backend: string,
): Promise<PreparedDisk[]> {
  const sorted = [...disks].sort((a, b) => a.index - b.index);
  if (sorted.length === 0) throw new VmiError('BACKEND_FAILED', 'no disk to deliver to Glance');
  for (const [position, disk] of sorted.entries()) {
    if (disk.index !== position) {
      throw new VmiError('BACKEND_FAILED', `disk indexes must be 0..${sorted.length - 1}, got ${disk.index}`);
    }
    if (!formats.includes(disk.format)) {
      throw new VmiError('FORMAT_UNSUPPORTED', `backend ${backend} does not take ${disk.format} disks`);
    }
    const info = await stat(disk.path).catch(() => undefined);
    if (info?.isFile() !== true) {
      throw new VmiError('BACKEND_FAILED', `disk ${disk.name} is not a readable file`);
    }
  }
  return sorted;
}
