/**
 * Image format from the first bytes of the content (SPEC.md section 6: the real format
 * comes from the content, not from a name). A small local sniffer for `image add`; the
 * catcher's fuller detection lives in src/shared/format.
 */

/** Bytes needed to recognise every format below (a tar header is 512 bytes). */
export const HEADER_BYTES = 64 * 1024;

export interface SniffedFormat {
  /** The `hv:format` value to write, when the content says it. */
  format: string | undefined;
  /** What was seen, for messages ("gzip-compressed", "tar without an OVF descriptor"). */
  seen: string;
}

function startsWith(bytes: Uint8Array, magic: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + magic.length) return false;
  return magic.every((b, i) => bytes[offset + i] === b);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.subarray(start, Math.min(end, bytes.length))).toString('latin1');
}

function isTar(header: Uint8Array): boolean {
  const magic = ascii(header, 257, 263);
  return magic === 'ustar\0' || magic === 'ustar ';
}

export function sniffFormat(header: Uint8Array): SniffedFormat {
  if (startsWith(header, [0x51, 0x46, 0x49, 0xfb])) return { format: 'qcow2', seen: 'qcow2' };
  if (startsWith(header, [0x4b, 0x44, 0x4d, 0x56])) return { format: 'vmdk', seen: 'sparse vmdk' };
  if (ascii(header, 0, 21) === '# Disk DescriptorFile') return { format: 'vmdk', seen: 'vmdk descriptor' };
  if (ascii(header, 0, 8) === 'conectix') return { format: 'vhd', seen: 'dynamic vhd' };
  if (startsWith(header, [0x7f, 0x10, 0xda, 0xbe], 0x40)) return { format: 'vdi', seen: 'vdi' };
  if (isTar(header)) {
    const first = ascii(header, 0, 100).replace(/\0.*$/s, '');
    return first.toLowerCase().endsWith('.ovf')
      ? { format: 'OVA', seen: 'OVA (tar with an OVF descriptor first)' }
      : { format: undefined, seen: 'tar without an OVF descriptor first' };
  }
  if (startsWith(header, [0x1f, 0x8b])) return { format: undefined, seen: 'gzip-compressed' };
  if (startsWith(header, [0x42, 0x5a, 0x68])) return { format: undefined, seen: 'bzip2-compressed' };
  if (startsWith(header, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) {
    return { format: undefined, seen: 'xz-compressed' };
  }
  if (ascii(header, 0x8001, 0x8006) === 'CD001') return { format: 'iso', seen: 'ISO 9660' };
  return { format: 'raw', seen: 'no known signature (raw)' };
}
