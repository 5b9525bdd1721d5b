/**
 * The conformance scenarios as data (issue 8). Each row names the attack it represents
 * (SPEC.md section 5 steps, and the attack classes of The Update Framework), the guarantee
 * vmicast gives, and how the repository simulator stages it. README.md in this directory
 * lists every row; readme.test.ts keeps the two in step.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorCode } from '../../src/shared/errors.js';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import { signDocument } from '../helpers/grid.js';
import type { Fault } from '../helpers/server.js';
import { issue } from '../helpers/x509.js';
import type { Signed, Simulator } from './simulator.js';

const HOUR = 3600_000;

export interface Scenario {
  id: string;
  attack: string;
  guarantee: string;
}

/** The state every list-level row starts from: version 5, created an hour ago, accepted. */
export interface Baseline {
  accepted: Signed;
  older: Signed;
  created: Date;
}

export interface RefusalRow extends Scenario {
  code: ErrorCode;
  stage: (sim: Simulator, base: Baseline) => void;
}

const UNCHANGED = 'refused with the code; subscriptions, images, cache and backend byte for byte as before';

/** One byte of the signed JSON changed (an image URL), signature left as it was. */
function tampered(signed: Signed): Uint8Array {
  const bytes = Buffer.from(signed.bytes);
  const at = bytes.indexOf('"hv:uri": "http') + 'hv:uri": "http'.length + 8;
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  return new Uint8Array(bytes);
}

export const REFUSALS: RefusalRow[] = [
  {
    id: 'L01',
    attack: 'rollback: an older, validly signed version is served again (TUF rollback)',
    guarantee: UNCHANGED,
    code: 'LIST_ROLLBACK',
    stage: (sim, base) => sim.serve(base.older),
  },
  {
    id: 'L02',
    attack: 'replay of the accepted version re-issued with an older creation date',
    guarantee: UNCHANGED,
    code: 'LIST_ROLLBACK',
    stage: (sim, base) => sim.publish({ version: '5', created: new Date(base.created.getTime() - HOUR) }),
  },
  {
    id: 'L03',
    attack: 'equivocation: the same version and date with other content',
    guarantee: UNCHANGED,
    code: 'LIST_CONFLICT',
    stage: (sim, base) => {
      const extra = sim.repo.image('an extra image');
      sim.publish({ version: '5', created: base.created, images: [...sim.repo.images, extra] });
    },
  },
  {
    id: 'L04',
    attack:
      'mix-and-match: the content of a newer version under the signature of the accepted one (TUF mix-and-match)',
    guarantee: UNCHANGED,
    code: 'SIGNATURE_INVALID',
    stage: (sim, base) => sim.serve(sim.swapSignature(sim.sign({ version: '6' }), base.accepted)),
  },
  {
    id: 'L05',
    attack: 'arbitrary installation: one byte of a newer signed list changed in transit (an image URL)',
    guarantee: UNCHANGED,
    code: 'SIGNATURE_INVALID',
    stage: (sim) => sim.serve(tampered(sim.sign({ version: '6' }))),
  },
  {
    id: 'L06',
    attack:
      'arbitrary installation by an unauthorized endorser: signed by another certificate of a trusted CA',
    guarantee: UNCHANGED,
    code: 'ENDORSER_UNAUTHORIZED',
    stage: (sim) => sim.publish({ version: '6', signer: sim.stranger() }),
  },
  {
    id: 'L07',
    attack: "arbitrary installation by an impostor: a self-signed certificate with the publisher's DN",
    guarantee: UNCHANGED,
    code: 'SIGNER_UNTRUSTED',
    stage: (sim) => {
      const impostor = issue({
        subject: sim.grid.publisher.subject,
        ca: false,
        extKeyUsage: ['emailProtection'],
      });
      sim.serve(signDocument(sim.repo.document({ version: '6' }), impostor));
    },
  },
  {
    id: 'L08',
    attack: 'a list whose hv:dn names another endorser than its signer',
    guarantee: UNCHANGED,
    code: 'ENDORSER_MISMATCH',
    stage: (sim) =>
      sim.publish({
        version: '6',
        endorser: { dn: '/DC=org/CN=someone else', ca: sim.grid.intermediate.subject },
      }),
  },
  {
    id: 'L09',
    attack: 'another list (other dc:identifier) served at the subscribed URL',
    guarantee: UNCHANGED,
    code: 'LIST_IDENTIFIER_CHANGED',
    stage: (sim) => sim.publish({ version: '6', identifier: randomUUID() }),
  },
  {
    id: 'L10',
    attack: "a list for another VO (ad:vo) than the subscription's",
    guarantee: UNCHANGED,
    code: 'VO_MISMATCH',
    stage: (sim) => sim.publish({ version: '6', vo: 'other.vo' }),
  },
  {
    id: 'L11',
    attack: 'a list created in the future (beyond the clock skew)',
    guarantee: UNCHANGED,
    code: 'LIST_NOT_YET_VALID',
    stage: (sim) => sim.publish({ version: '6', created: new Date(Date.now() + 2 * HOUR) }),
  },
  {
    id: 'L12',
    attack: 'a newer version that has already expired (a stale list replayed)',
    guarantee: UNCHANGED,
    code: 'LIST_EXPIRED',
    stage: (sim) =>
      sim.publish({
        version: '6',
        created: new Date(Date.now() - 3 * HOUR),
        expires: new Date(Date.now() - HOUR),
      }),
  },
  {
    id: 'L13',
    attack: 'an unsigned list (the JSON document without its S/MIME envelope)',
    guarantee: UNCHANGED,
    code: 'LIST_MALFORMED',
    stage: (sim) => sim.serve(serializeImageList(sim.repo.document({ version: '6' }))),
  },
  {
    id: 'L14',
    attack: 'endless data: the list URL sends bytes without end (TUF endless data)',
    guarantee: `${UNCHANGED}; the fetch stops at the size cap`,
    code: 'LIST_TOO_LARGE',
    stage: (sim) => sim.fault('list', { kind: 'endless' }),
  },
  {
    id: 'L15',
    attack: 'slow retrieval: the list is dripped a few bytes at a time (TUF slow retrieval)',
    guarantee: `${UNCHANGED}; the fetch stops at its total deadline`,
    code: 'TIMEOUT',
    stage: (sim) => {
      sim.publish({ version: '6' });
      sim.fault('list', { kind: 'drip', bytesPerSecond: 100 });
    },
  },
  {
    id: 'L16',
    attack: 'the server answers 500 (or is taken down)',
    guarantee: UNCHANGED,
    code: 'HTTP_STATUS',
    stage: (sim) => sim.fault('list', { kind: 'status', status: 500 }),
  },
];

/** Rows of the list table that are not a refusal of a served list. */
export const LIST_EXTRAS: Scenario[] = [
  {
    id: 'L00',
    attack: 'subscribing to a list whose signer is not the endorser the operator named',
    guarantee:
      'subscribe fails with ENDORSER_UNAUTHORIZED and its exit status; nothing is stored or downloaded',
  },
  {
    id: 'L17',
    attack: 'none: the publisher re-signs the accepted version with a newer creation date',
    guarantee: 'accepted (a re-signing is not a rollback), and the last error is cleared',
  },
];

/** Image attacks, all staged in one new list version: each row is one image of it. */
export interface ImageRow extends Scenario {
  code: ErrorCode;
  /** Applied to the new image's URL: its bytes are `content`; `faults` are queued for every attempt. */
  bytes?: (content: string) => string;
  faults?: Fault[];
}

export const IMAGE_ATTACKS: ImageRow[] = [
  {
    id: 'I01',
    attack: 'wrong software under a right name: other bytes of the same size at a listed URL',
    guarantee: 'never cached or delivered; the partial file is deleted; the error is on the image',
    code: 'IMAGE_DIGEST_MISMATCH',
    bytes: (c) => c.replace(/.$/, (x) => (x === 'x' ? 'y' : 'x')),
  },
  {
    id: 'I02',
    attack: 'wrong software under a right name: a longer file at a listed URL',
    guarantee: 'refused from the Content-Length before reading; nothing kept',
    code: 'IMAGE_TOO_LARGE',
    bytes: (c) => `${c} and a payload`,
  },
  {
    id: 'I03',
    attack: 'a truncated file at a listed URL',
    guarantee: 'never cached or delivered; nothing kept',
    code: 'IMAGE_SIZE_MISMATCH',
    bytes: (c) => c.slice(0, -3),
  },
  {
    id: 'I04',
    attack: 'endless data: the image URL sends bytes without end (TUF endless data)',
    guarantee: 'the download stops after the listed size; nothing kept',
    code: 'IMAGE_TOO_LARGE',
    faults: [{ kind: 'endless' }],
  },
  {
    id: 'I05',
    attack: 'slow retrieval: the image is dripped below the throughput floor (TUF slow retrieval)',
    guarantee: 'the download is abandoned by the watchdog; retried later, never delivered partly',
    code: 'STALLED',
    faults: [{ kind: 'drip', bytesPerSecond: 20 }],
  },
  {
    id: 'I06',
    attack: 'a stalled transfer: half the image, then silence',
    guarantee: 'abandoned after the stall timeout; the partial file is kept for a resume',
    code: 'STALLED',
    faults: [{ kind: 'stall', afterBytes: 100 }],
  },
  {
    id: 'I07',
    attack: 'the image server answers 503',
    guarantee: 'retried with backoff within the cap; the error is on the image',
    code: 'HTTP_STATUS',
    faults: [{ kind: 'status', status: 503 }],
  },
];
