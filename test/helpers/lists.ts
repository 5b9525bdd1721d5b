/** Image list documents for tests, valid by default; tests change one thing at a time. */
import { createHash, randomUUID } from 'node:crypto';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { formatListDate } from '../../src/shared/imagelist/dates.js';

export interface ImageSpec {
  identifier?: string;
  title?: string;
  uri?: string;
  bytes?: Uint8Array;
  size?: number;
  sha512?: string;
  version?: string;
  extra?: JsonObject;
}

export function sha512(bytes: Uint8Array): string {
  return createHash('sha512').update(bytes).digest('hex');
}

export function makeImage(spec: ImageSpec = {}): JsonObject {
  const bytes = spec.bytes ?? new TextEncoder().encode(`image ${spec.identifier ?? 'x'}`);
  return {
    'hv:image': {
      'dc:identifier': spec.identifier ?? randomUUID(),
      'dc:title': spec.title ?? 'Test image',
      'dc:description': 'An image for tests',
      'hv:uri': spec.uri ?? 'https://images.example.org/test.img',
      'hv:size': spec.size ?? bytes.length,
      'sl:checksum:sha512': spec.sha512 ?? sha512(bytes),
      'sl:arch': 'x86_64',
      'sl:os': 'Linux',
      'sl:osversion': '9',
      'sl:comments': '',
      'hv:hypervisor': 'KVM',
      'hv:version': spec.version ?? '1',
      'hv:format': 'raw',
      ...spec.extra,
    },
  };
}

export interface ListSpec {
  identifier?: string;
  version?: string;
  dn: string;
  ca: string;
  vo?: string;
  created?: Date;
  expires?: Date;
  images?: JsonObject[];
  extra?: JsonObject;
}

export function makeList(spec: ListSpec): JsonObject {
  const now = Date.now();
  return {
    'hv:imagelist': {
      'dc:identifier': spec.identifier ?? randomUUID(),
      'dc:title': 'Test list',
      'dc:description': 'A list for tests',
      'dc:source': 'https://example.org/',
      'dc:date:created': formatListDate(spec.created ?? new Date(now - 60_000)),
      'dc:date:expires': formatListDate(spec.expires ?? new Date(now + 28 * 86400_000)),
      'hv:version': spec.version ?? '1',
      'hv:uri': 'https://example.org/list.smime',
      ...(spec.vo === undefined ? {} : { 'ad:vo': spec.vo }),
      'hv:endorser': {
        'hv:x509': {
          'hv:dn': spec.dn,
          'hv:ca': spec.ca,
          'hv:email': 'manager@example.org',
          'dc:creator': 'Test',
        },
      },
      'hv:images': spec.images ?? [makeImage()],
      ...spec.extra,
    },
  };
}
