import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  acceptList,
  lapseDecision,
  sha256,
  verifyList,
  type AcceptRules,
  type HeldState,
} from '../../src/catcher/sync/accept.js';
import { VmiError } from '../../src/shared/errors.js';
import type { ListSpec } from '../helpers/lists.js';
import { listFor, makeGrid, signDocument, STRICT, type Grid } from '../helpers/grid.js';

/**
 * SPEC.md section 5 steps 3 to 7, without a database or a server: each case starts from a
 * list the held state accepts and changes one thing (two, where the case is about which
 * step speaks first).
 */

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** Whole seconds: list dates carry no fractions. */
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const ago = (ms: number) => new Date(now.getTime() - ms);

describe('acceptList: steps 3 to 7 in SPEC order', () => {
  let grid: Grid;
  let stranger: Grid;
  let rules: AcceptRules;
  const identifier = randomUUID();
  const acceptedCreated = ago(2 * DAY);
  let acceptedBytes: Uint8Array;

  /** A list the held state accepts (version 6, created an hour ago), with `change` applied. */
  function sign(change: Partial<ListSpec> = {}, signer?: Grid): Uint8Array {
    const g = signer ?? grid;
    const doc = listFor(
      { eec: g.publisher, issuer: g.intermediate },
      { identifier, version: '6', created: ago(HOUR), expires: new Date(now.getTime() + DAY), ...change },
    );
    return signDocument(doc, g.publisher, [g.intermediate]);
  }

  function held(change: Partial<HeldState> = {}): HeldState {
    return {
      identifier,
      authorization: {
        endorsers: [{ dn: grid.publisher.subject, ca: grid.intermediate.subject }],
        vo: 'vo.example.org',
      },
      accepted: { version: '5', created: acceptedCreated.toISOString(), sha256: sha256(acceptedBytes) },
      acceptAnyVersion: false,
      ...change,
    };
  }

  function refusedWith(code: string, run: () => unknown): void {
    assert.throws(run, (err: unknown) => {
      assert.ok(err instanceof VmiError, `not a VmiError: ${String(err)}`);
      assert.equal(err.code, code, err.message);
      return true;
    });
  }

  before(async () => {
    grid = await makeGrid();
    stranger = await makeGrid({
      root: { subject: '/DC=org/DC=elsewhere/CN=Elsewhere Root CA' },
      intermediate: { subject: '/DC=org/DC=elsewhere/CN=Elsewhere Issuing CA' },
    });
    rules = {
      store: grid.store,
      vomsDir: new Map(),
      policy: STRICT,
      maxBytes: 16 * 1024 * 1024,
      clockSkewMs: 5 * 60_000,
      maxAgeDays: null,
      allowEndorserMismatch: false,
    };
    acceptedBytes = sign({ version: '5', created: acceptedCreated });
  });

  it('accepts the valid starting point as a newer version, without warnings', () => {
    const bytes = sign();
    const accepted = acceptList(bytes, held(), rules, now);
    assert.equal(accepted.order, 'newer');
    assert.equal(accepted.verified.list.identifier, identifier);
    assert.equal(accepted.verified.list.version, '6');
    assert.equal(accepted.verified.signer.dn, grid.publisher.subject);
    assert.equal(accepted.sha256, sha256(bytes));
    assert.deepEqual(accepted.warnings, []);
  });

  it('accepts any valid version as the first list', () => {
    assert.equal(
      acceptList(sign({ version: '1' }), held({ accepted: undefined }), rules, now).order,
      'first',
    );
  });

  describe('each step refuses', () => {
    const cases: [string, string, () => Uint8Array, (() => Partial<HeldState>)?, Partial<AcceptRules>?][] = [
      [
        'step 3: bytes that are no S/MIME envelope',
        'LIST_MALFORMED',
        () => Buffer.from('{"hv:imagelist":{}}'),
      ],
      ['step 3: a list over the size cap', 'LIST_TOO_LARGE', () => sign(), undefined, { maxBytes: 1000 }],
      [
        'step 3: an endorser the subscription does not trust',
        'ENDORSER_UNAUTHORIZED',
        () => sign(),
        () => ({ authorization: { endorsers: [{ dn: '/DC=org/CN=other', ca: grid.intermediate.subject }] } }),
      ],
      [
        'step 3: hv:dn naming someone else than the signer',
        'ENDORSER_MISMATCH',
        () => sign({ dn: '/DC=org/CN=someone else' }),
      ],
      ['step 3: a list for another VO', 'VO_MISMATCH', () => sign({ vo: 'other.vo' })],
      ['step 3: a signer under a CA the site does not trust', 'SIGNER_UNTRUSTED', () => sign({}, stranger)],
      [
        'step 4: signed JSON that is not an image list',
        'LIST_MALFORMED',
        () =>
          signDocument(Buffer.from('{"hv:imagelist": {"dc:identifier": "x"}}'), grid.publisher, [
            grid.intermediate,
          ]),
      ],
      [
        'step 5: another list identifier',
        'LIST_IDENTIFIER_CHANGED',
        () => sign({ identifier: randomUUID() }),
      ],
      [
        'step 6: created in the future',
        'LIST_NOT_YET_VALID',
        () => sign({ created: new Date(now.getTime() + HOUR) }),
      ],
      ['step 6: expired', 'LIST_EXPIRED', () => sign({ expires: ago(60_000) })],
      [
        'step 6: older than the local maximum age',
        'LIST_EXPIRED',
        () => sign({ created: ago(3 * DAY) }),
        undefined,
        { maxAgeDays: 2 },
      ],
      ['step 7: an older version', 'LIST_ROLLBACK', () => sign({ version: '4' })],
      [
        'step 7: the same version created earlier',
        'LIST_ROLLBACK',
        () => sign({ version: '5', created: ago(3 * DAY) }),
      ],
      [
        'step 7: the same version and creation date with other content',
        'LIST_CONFLICT',
        () => sign({ version: '5', created: acceptedCreated, extra: { 'dc:description': 'changed' } }),
      ],
    ];
    for (const [what, code, bytes, heldChange, rulesChange] of cases) {
      it(`${what}: ${code}`, () => {
        const state = held(heldChange?.());
        const before = structuredClone(state);
        refusedWith(code, () => acceptList(bytes(), state, { ...rules, ...rulesChange }, now));
        assert.deepEqual(state, before, 'the held state was changed');
      });
    }
  });

  describe('the first failed step speaks', () => {
    it('an expired list with another identifier: LIST_IDENTIFIER_CHANGED (step 5 before 6)', () => {
      refusedWith('LIST_IDENTIFIER_CHANGED', () =>
        acceptList(sign({ identifier: randomUUID(), expires: ago(60_000) }), held(), rules, now),
      );
    });
    it('a list from the future with another identifier: LIST_IDENTIFIER_CHANGED', () => {
      refusedWith('LIST_IDENTIFIER_CHANGED', () =>
        acceptList(
          sign({ identifier: randomUUID(), created: new Date(now.getTime() + HOUR) }),
          held(),
          rules,
          now,
        ),
      );
    });
    it('a too old list with another identifier: LIST_IDENTIFIER_CHANGED', () => {
      refusedWith('LIST_IDENTIFIER_CHANGED', () =>
        acceptList(
          sign({ identifier: randomUUID(), created: ago(3 * DAY) }),
          held(),
          { ...rules, maxAgeDays: 2 },
          now,
        ),
      );
    });
    it('an untrusted endorser with another identifier: ENDORSER_UNAUTHORIZED (step 3 before 5)', () => {
      const other = {
        authorization: { endorsers: [{ dn: '/DC=org/CN=other', ca: grid.intermediate.subject }] },
      };
      refusedWith('ENDORSER_UNAUTHORIZED', () =>
        acceptList(sign({ identifier: randomUUID() }), held(other), rules, now),
      );
    });
    it('an expired older version: LIST_EXPIRED (step 6 before 7)', () => {
      refusedWith('LIST_EXPIRED', () =>
        acceptList(sign({ version: '4', expires: ago(60_000) }), held(), rules, now),
      );
    });
  });

  describe('step 7: version order', () => {
    it('orders versions as numbers where both are numbers (10 is newer than 9)', () => {
      const state = held({ accepted: { version: '9', created: acceptedCreated.toISOString(), sha256: 'x' } });
      assert.equal(acceptList(sign({ version: '10' }), state, rules, now).order, 'newer');
    });
    it('accepts a re-signing (same version, newer creation date) with a warning', () => {
      const accepted = acceptList(sign({ version: '5' }), held(), rules, now);
      assert.equal(accepted.order, 'resigned');
      assert.deepEqual(
        accepted.warnings.map((w) => w.message),
        ['accepting a re-signed list with the same version and a newer creation date'],
      );
    });
    it('accepts the very bytes it holds as a re-signing, not a conflict', () => {
      assert.equal(acceptList(acceptedBytes, held(), rules, now).order, 'resigned');
    });
    it('after a reset, accepts an older version once, with a warning naming both', () => {
      const accepted = acceptList(sign({ version: '2' }), held({ acceptAnyVersion: true }), rules, now);
      assert.equal(accepted.order, 'any-version');
      assert.deepEqual(accepted.warnings[0]?.fields, { version: '2', previous: '5' });
    });
    it('a reset does not skip steps 3 to 6', () => {
      refusedWith('LIST_IDENTIFIER_CHANGED', () =>
        acceptList(sign({ identifier: randomUUID() }), held({ acceptAnyVersion: true }), rules, now),
      );
      refusedWith('LIST_EXPIRED', () =>
        acceptList(sign({ version: '2', expires: ago(1) }), held({ acceptAnyVersion: true }), rules, now),
      );
    });
  });

  describe('verifyList: the held list at every poll (steps 3, 4 and 6)', () => {
    const auth = () => held().authorization;
    it('verifies a held list that is still fresh', () => {
      assert.equal(verifyList(acceptedBytes, auth(), rules, now).list.version, '5');
    });
    it('refuses it once expired, or older than the local maximum age', () => {
      refusedWith('LIST_EXPIRED', () =>
        verifyList(acceptedBytes, auth(), rules, new Date(now.getTime() + 2 * DAY)),
      );
      refusedWith('LIST_EXPIRED', () => verifyList(acceptedBytes, auth(), { ...rules, maxAgeDays: 1 }, now));
    });
  });
});

describe('lapseDecision: the lapse clock (SPEC.md section 5, last paragraph)', () => {
  const grace = 24 * HOUR;
  const t = new Date('2030-06-01T12:00:00Z');
  const hoursBefore = (h: number) => new Date(t.getTime() - h * HOUR);

  it('the held list verifies and no clock runs: nothing to do', () => {
    assert.deepEqual(lapseDecision(true, null, t, grace), { action: 'none' });
  });
  it('the held list verifies while the clock runs: it stops', () => {
    assert.deepEqual(lapseDecision(true, hoursBefore(30), t, grace), { action: 'stop' });
  });
  it('the held list fails: the clock starts now', () => {
    assert.deepEqual(lapseDecision(false, null, t, grace), {
      action: 'run',
      since: t,
      start: true,
      withdraw: false,
    });
  });
  it('it keeps running from when it started, and withdraws once the grace period is over', () => {
    assert.deepEqual(lapseDecision(false, hoursBefore(23), t, grace), {
      action: 'run',
      since: hoursBefore(23),
      start: false,
      withdraw: false,
    });
    assert.equal(lapseDecision(false, hoursBefore(24), t, grace).action, 'run');
    assert.deepEqual(lapseDecision(false, hoursBefore(24), t, grace), {
      action: 'run',
      since: hoursBefore(24),
      start: false,
      withdraw: true,
    });
  });
  it('a grace period of zero withdraws at once', () => {
    assert.deepEqual(lapseDecision(false, null, t, 0), {
      action: 'run',
      since: t,
      start: true,
      withdraw: true,
    });
  });
});
