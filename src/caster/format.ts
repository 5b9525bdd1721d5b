import { detectFormatFromHeader, HEAD_BYTES, TAIL_BYTES } from '../shared/format/detect.js';
import type { DetectedFormat } from '../shared/format/types.js';

/**
 * `hv:format` from the content (SPEC.md section 6: the bytes decide, not a name), using the
 * shared detector on the head and tail `image add` keeps while it streams the image.
 */

export { HEAD_BYTES as HEADER_BYTES, TAIL_BYTES };

export interface SniffedFormat {
  /** The `hv:format` value to write, when the content says it. */
  format: string | undefined;
  /** What the content is, for messages. */
  seen: DetectedFormat;
}

/** The spelling the ecosystem uses in `hv:format` (AppDB writes OVA in capitals). */
const HV_FORMAT: Record<DetectedFormat, string | undefined> = {
  raw: 'raw',
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vhd: 'vhd',
  vhdx: 'vhdx',
  vdi: 'vdi',
  iso: 'iso',
  ova: 'OVA',
  // Compressed or packed content: the operator says what is inside.
  gzip: undefined,
  bzip2: undefined,
  xz: undefined,
  tar: undefined,
  'vmdk-descriptor': undefined,
};

export function sniffFormat(head: Uint8Array, tail?: Uint8Array): SniffedFormat {
  const seen = detectFormatFromHeader(head, tail);
  return { format: HV_FORMAT[seen], seen };
}

/** Distribution names recognised in an ISO 9660 volume label, first match wins. */
const OS_NAMES: [RegExp, string][] = [
  [/almalinux/i, 'AlmaLinux'],
  [/rocky/i, 'Rocky Linux'],
  [/centos/i, 'CentOS'],
  [/fedora/i, 'Fedora'],
  [/rhel|red ?hat/i, 'Red Hat Enterprise Linux'],
  [/ubuntu/i, 'Ubuntu'],
  [/debian/i, 'Debian'],
  [/opensuse/i, 'openSUSE'],
  [/sles|suse/i, 'SUSE Linux Enterprise'],
  [/scientific|^SL-/i, 'Scientific Linux'],
  [/alpine/i, 'Alpine Linux'],
];

const ISO_DESCRIPTOR = 32768;

/**
 * `sl:osname` where the content says it: the volume label of an ISO 9660 image (in the head
 * `image add` keeps). Disk images carry no such label: undefined.
 */
export function sniffOsName(head: Uint8Array): string | undefined {
  if (head.length < ISO_DESCRIPTOR + 72) return undefined;
  const magic = Buffer.from(head.subarray(ISO_DESCRIPTOR + 1, ISO_DESCRIPTOR + 6)).toString('latin1');
  if (head[ISO_DESCRIPTOR] !== 1 || magic !== 'CD001') return undefined;
  const label = Buffer.from(head.subarray(ISO_DESCRIPTOR + 40, ISO_DESCRIPTOR + 72))
    .toString('latin1')
    .trim();
  return OS_NAMES.find(([pattern]) => pattern.test(label))?.[1];
}
