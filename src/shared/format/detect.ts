import { open } from 'node:fs/promises';
import type { DetectedFormat } from './types.js';

/**
 * Content sniffing (SPEC.md section 6). The list's `hv:format` is informational only: the
 * bytes decide. Everything here is pure except `detectFileFormat`, which reads the head and
 * the tail of a file (a fixed VHD carries its only signature in its last 512 bytes).
 */

/** Bytes of the head that detection looks at: enough for an ISO 9660 descriptor at 32 KiB. */
export const HEAD_BYTES = 64 * 1024;
/** Bytes of the tail that detection looks at: one VHD footer. */
export const TAIL_BYTES = 512;

const ISO_MAGIC_OFFSET = 0x8001;
const TAR_MAGIC_OFFSET = 257;
const TAR_BLOCK = 512;

function hasAscii(bytes: Uint8Array, offset: number, text: string): boolean {
  if (bytes.length < offset + text.length) return false;
  for (let i = 0; i < text.length; i++) {
    if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  }
  return true;
}

function hasBytes(bytes: Uint8Array, offset: number, expected: readonly number[]): boolean {
  if (bytes.length < offset + expected.length) return false;
  return expected.every((value, i) => bytes[offset + i] === value);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A VHD footer is trusted only when its checksum (one's complement of the byte sum) holds. */
function isVhdFooter(bytes: Uint8Array | undefined, offset: number): boolean {
  if (bytes === undefined || !hasAscii(bytes, offset, 'conectix') || bytes.length < offset + 512)
    return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) {
    if (i < 64 || i >= 68) sum += bytes[offset + i] ?? 0;
  }
  return ~sum >>> 0 === view(bytes).getUint32(offset + 64);
}

function isTarHeader(bytes: Uint8Array, offset: number): boolean {
  if (!hasAscii(bytes, offset + TAR_MAGIC_OFFSET, 'ustar')) return false;
  const stored = parseOctal(bytes, offset + 148, 8);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (bytes[offset + i] ?? 0);
  return stored === sum;
}

function parseOctal(bytes: Uint8Array, offset: number, length: number): number | undefined {
  const text = Buffer.from(bytes.subarray(offset, offset + length))
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  return /^[0-7]{1,12}$/.test(text) ? parseInt(text, 8) : undefined;
}

/**
 * Walks the tar headers that fit in `head` and reports whether one names an `.ovf` file.
 * A conforming OVA puts its descriptor first, so the head is enough for real OVAs.
 */
function tarShowsOvf(head: Uint8Array): boolean {
  let offset = 0;
  while (offset + TAR_BLOCK <= head.length && isTarHeader(head, offset)) {
    const name = Buffer.from(head.subarray(offset, offset + 100))
      .toString('utf8')
      .replace(/\0.*$/s, '');
    if (/\.ovf$/i.test(name)) return true;
    const size = parseOctal(head, offset + 124, 12) ?? 0;
    offset += TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
  }
  return false;
}

function isVmdkDescriptor(head: Uint8Array): boolean {
  const text = Buffer.from(head.subarray(0, 1024)).toString('latin1');
  return /^\uFEFF?\s*# Disk DescriptorFile/.test(text);
}

/**
 * Detects a format from a buffered head (at least the first 512 bytes; `HEAD_BYTES` to see
 * an ISO) and, optionally, the last 512 bytes of the file. Without `tail`, a fixed VHD is
 * indistinguishable from raw and is reported as `raw`.
 */
export function detectFormatFromHeader(head: Uint8Array, tail?: Uint8Array): DetectedFormat {
  if (hasBytes(head, 0, [0x51, 0x46, 0x49, 0xfb])) return 'qcow2';
  if (hasAscii(head, 0, 'KDMV') || hasAscii(head, 0, 'COWD')) return 'vmdk';
  if (hasAscii(head, 0, 'vhdxfile')) return 'vhdx';
  // A dynamic VHD starts with a copy of its footer.
  if (isVhdFooter(head, 0)) return 'vhd';
  if (hasBytes(head, 0x40, [0x7f, 0x10, 0xda, 0xbe])) return 'vdi';
  if (hasBytes(head, 0, [0x1f, 0x8b, 0x08])) return 'gzip';
  if (isBzip2(head)) return 'bzip2';
  if (hasBytes(head, 0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  // A fixed VHD is raw data plus a footer: the footer wins over whatever the data looks like.
  if (tail !== undefined && tail.length >= 512 && isVhdFooter(tail, tail.length - 512)) return 'vhd';
  if (isTarHeader(head, 0)) return tarShowsOvf(head) ? 'ova' : 'tar';
  if (isVmdkDescriptor(head)) return 'vmdk-descriptor';
  if (hasAscii(head, ISO_MAGIC_OFFSET, 'CD001')) return 'iso';
  return 'raw';
}

function isBzip2(head: Uint8Array): boolean {
  if (!hasAscii(head, 0, 'BZh') || (head[3] ?? 0) < 0x31 || (head[3] ?? 0) > 0x39) return false;
  // Block magic (pi) or end-of-stream magic (sqrt(pi)) for an empty stream.
  return (
    hasBytes(head, 4, [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]) ||
    hasBytes(head, 4, [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
  );
}

/** The head and tail of a file and its size, for detection and header checks. */
export interface FileSample {
  head: Buffer;
  tail: Buffer;
  size: number;
}

export async function sampleFile(path: string): Promise<FileSample> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    const tail = Buffer.alloc(Math.min(TAIL_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    await handle.read(tail, 0, tail.length, size - tail.length);
    return { head, tail, size };
  } finally {
    await handle.close();
  }
}

export async function detectFileFormat(path: string): Promise<DetectedFormat> {
  const { head, tail } = await sampleFile(path);
  return detectFormatFromHeader(head, tail);
}

/**
 * Why an image that detection recognised cannot stand on its own, judged from its headers
 * before any tool opens it: a backing file, an external data file, extents or a parent
 * would make `qemu-img` read other files of this host into the delivered image.
 */
export function headerRefusal(format: DetectedFormat, sample: FileSample): string | undefined {
  const { head, tail } = sample;
  switch (format) {
    case 'qcow2': {
      if (head.length < 104) return 'qcow2 header is truncated';
      const data = view(head);
      if (data.getBigUint64(8) !== 0n) return 'qcow2 image names a backing file';
      const externalDataFile = 1n << 2n;
      if (data.getUint32(4) >= 3 && (data.getBigUint64(72) & externalDataFile) !== 0n) {
        return 'qcow2 image keeps its data in an external file';
      }
      return undefined;
    }
    case 'vmdk':
      // A sparse header with no capacity is a descriptor in disguise: its extents are elsewhere.
      if (hasAscii(head, 0, 'KDMV') && head.length >= 20 && view(head).getBigUint64(12, true) === 0n) {
        return 'VMDK header holds no data of its own (its descriptor lists other files)';
      }
      return undefined;
    case 'vmdk-descriptor':
      return 'VMDK descriptor file refers to extents in other files';
    case 'vhd': {
      const footer = isVhdFooter(head, 0) ? head.subarray(0, 512) : tail.subarray(tail.length - 512);
      return view(footer).getUint32(60) === 4 ? 'differencing VHD needs a parent disk' : undefined;
    }
    case 'vdi': {
      const imageType = head.length >= 0x50 ? view(head).getUint32(0x4c, true) : 0;
      return imageType === 3 || imageType === 4 ? 'differencing VDI needs a parent disk' : undefined;
    }
    default:
      return undefined;
  }
}
