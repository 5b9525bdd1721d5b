import assert from 'node:assert/strict';
import { VmiError } from '../../src/shared/errors.js';

/** Awaits `promise`, asserts it rejects with a VmiError of `code`, and returns that error. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<VmiError> {
  const err = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof VmiError, String(err));
  assert.equal(err.code, code, err.message);
  return err;
}
