import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { verifySignedList } from '../../src/shared/verify.js';
import { listFor, makeGrid, signDocument, STRICT, type Grid } from '../helpers/grid.js';

describe('verifySignedList', () => {
  let grid: Grid;
  before(async () => {
    grid = await makeGrid();
  });

  it('accepts a list signed by a publisher under a two-level CA path with fresh CRLs', () => {
    const doc = listFor({ eec: grid.publisher, issuer: grid.intermediate });
    const signed = signDocument(doc, grid.publisher, [grid.intermediate]);
    const result = verifySignedList(signed, grid.store, {
      now: new Date(),
      policy: STRICT,
      vomsDir: new Map(),
    });
    assert.equal(result.signer.dn, grid.publisher.subject);
    assert.equal(result.signer.ca, grid.intermediate.subject);
    assert.deepEqual(result.signer.chain, [
      grid.publisher.subject,
      grid.intermediate.subject,
      grid.root.subject,
    ]);
    assert.equal(result.list.images.length, 1);
  });
});
