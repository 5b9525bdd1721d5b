/** Disk formats a backend can ask for; conversion uses `qemu-img convert -f <detected>`. */
export type DiskFormat = 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi';

export const DISK_FORMATS: readonly DiskFormat[] = ['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi'];

/** One disk ready for a backend: decompressed, taken out of an OVA, converted if asked. */
export interface PreparedDisk {
  path: string;
  format: DiskFormat;
  size: number;
  /** 0-based position in the OVF order (0 for a single-disk image). */
  index: number;
  /** Disk file name inside an OVA, or the image identifier. */
  name: string;
}

/** What content sniffing can recognise (SPEC.md section 6). */
export type DetectedFormat =
  | DiskFormat
  /** A VMDK text descriptor: its data lives in other files (extents), so it is never accepted. */
  | 'vmdk-descriptor'
  | 'iso'
  | 'gzip'
  | 'bzip2'
  | 'xz'
  /** A tar archive whose visible entries include an `.ovf` descriptor. */
  | 'ova'
  /** A tar archive without a visible `.ovf` descriptor in its first bytes. */
  | 'tar';

export type Compression = 'gzip' | 'bzip2' | 'xz';

/** Bounds that keep a hostile or broken image from exhausting disk, memory or time. */
export interface FormatLimits {
  /** Most bytes one decompression may produce. */
  maxDecompressedBytes: number;
  /** Largest virtual disk size accepted (a tiny qcow2 can claim exabytes). */
  maxVirtualSize: number;
  /** Most entries (files, directories) an OVA may hold. */
  maxOvaEntries: number;
  /** Largest OVF descriptor read into memory. */
  maxOvfBytes: number;
  /** Deadline for one `qemu-img convert`. */
  conversionTimeoutMs: number;
  /** Deadline for one `qemu-img info`. */
  infoTimeoutMs: number;
}

const GiB = 1024 ** 3;

export const DEFAULT_FORMAT_LIMITS: Readonly<FormatLimits> = Object.freeze({
  maxDecompressedBytes: 128 * GiB,
  maxVirtualSize: 2048 * GiB,
  maxOvaEntries: 64,
  maxOvfBytes: 1024 * 1024,
  conversionTimeoutMs: 4 * 60 * 60 * 1000,
  infoTimeoutMs: 60 * 1000,
});
