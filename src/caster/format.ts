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
