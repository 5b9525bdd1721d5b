/**
 * Shared settings of the fuzz suite (issue 8). `npm test` runs every property with a fixed
 * seed and a small budget; `npm run fuzz` (VMICAST_FUZZ=long) multiplies the budget and
 * draws a random seed unless VMICAST_FUZZ_SEED gives one. The seed is printed, so a failure
 * found by a long run can be replayed: `VMICAST_FUZZ_SEED=<seed> npm run fuzz`.
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { ALL_ERROR_CODES, VmiError, type ErrorCode } from '../../src/shared/errors.js';

export const LONG = process.env['VMICAST_FUZZ'] === 'long';
const FIXED_SEED = 20_260_108;

function chosenSeed(): number {
  const given = process.env['VMICAST_FUZZ_SEED'];
  if (given !== undefined && given !== '') return Number(given);
  return LONG ? Math.floor(Math.random() * 2 ** 31) : FIXED_SEED;
}

export const SEED = chosenSeed();
const MULTIPLIER = Number(process.env['VMICAST_FUZZ_MULTIPLIER'] ?? (LONG ? 20 : 1));

let announced = false;

/** fast-check parameters: the suite's seed and `runs` scaled for long runs. */
export function params<T>(runs: number): fc.Parameters<T> {
  if (!announced) {
    announced = true;
    const file = (process.argv[1] ?? '').replace(/^.*\/test\//, 'test/');
    process.stderr.write(`fuzz: ${file} seed ${SEED} (${LONG ? 'long run' : 'CI budget'}, x${MULTIPLIER})\n`);
  }
  return { seed: SEED, numRuns: Math.max(1, Math.round(runs * MULTIPLIER)) };
}

const CODES = new Set<string>(ALL_ERROR_CODES);

/**
 * Runs `fn`; a throw must be a VmiError with a documented code, and one of `allowed` when
 * given. Returns the value, or the error. Anything else (TypeError, RangeError, a plain
 * Error) is a crash and fails the property with the input's description.
 */
export function coded<T>(fn: () => T, allowed?: readonly ErrorCode[]): { value: T } | { error: VmiError } {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: checkCoded(err, allowed) };
  }
}

/** The same for promises. */
export async function codedAsync<T>(
  fn: () => Promise<T>,
  allowed?: readonly ErrorCode[],
): Promise<{ value: T } | { error: VmiError }> {
  try {
    return { value: await fn() };
  } catch (err) {
    return { error: checkCoded(err, allowed) };
  }
}

function checkCoded(err: unknown, allowed: readonly ErrorCode[] | undefined): VmiError {
  if (!(err instanceof VmiError)) {
    const what = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    assert.fail(`not a VmiError: ${what}`);
  }
  assert.ok(CODES.has(err.code), `undocumented code ${err.code}`);
  if (allowed !== undefined) assert.ok(allowed.includes(err.code), `code ${err.code}: ${err.message}`);
  return err;
}

/** Runs a function and fails when it takes longer than `ms` (a hang shows as a slow case). */
export function timed<T>(ms: number, what: string, fn: () => T): T {
  const start = performance.now();
  const value = fn();
  const took = performance.now() - start;
  assert.ok(took < ms, `${what} took ${Math.round(took)} ms (bound ${ms} ms)`);
  return value;
}

let gcFunction: (() => void) | undefined;

/** A full garbage collection (node:test runs files without --expose-gc). */
export function collect(): void {
  if (gcFunction === undefined) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

/**
 * Bounded memory: after a batch, the heap retained (measured after a full collection)
 * grew by less than `maxGrowthMb`, and no sample taken during the batch passed `maxPeakMb`.
 */
export class HeapWatch {
  private readonly start: number;
  peak = 0;

  constructor(
    private readonly maxGrowthMb: number,
    private readonly maxPeakMb: number,
  ) {
    collect();
    this.start = process.memoryUsage().heapUsed;
  }

  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().heapUsed);
  }

  check(what: string): void {
    collect();
    const growth = (process.memoryUsage().heapUsed - this.start) / 2 ** 20;
    assert.ok(growth < this.maxGrowthMb, `${what}: heap grew by ${growth.toFixed(1)} MiB`);
    assert.ok(
      this.peak / 2 ** 20 < this.maxPeakMb,
      `${what}: heap peaked at ${(this.peak / 2 ** 20).toFixed(1)} MiB`,
    );
  }
}

/** Byte-level mutations of a valid seed: replace, insert, delete, duplicate or truncate. */
export function mutated(seed: Uint8Array, maxEdits = 4): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('xor' as const), at: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 16 }),
    }),
    fc.record({
      kind: fc.constant('repeat' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 64 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );
  return fc.array(edit, { minLength: 1, maxLength: maxEdits }).map((edits) => {
    let bytes = Buffer.from(seed);
    for (const e of edits) {
      const at = bytes.length === 0 ? 0 : e.at % bytes.length;
      switch (e.kind) {
        case 'set':
          if (bytes.length > 0) bytes[at] = e.byte;
          break;
        case 'xor':
          if (bytes.length > 0) bytes[at] = (bytes[at] ?? 0) ^ e.byte;
          break;
        case 'insert':
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([e.byte]), bytes.subarray(at)]);
          break;
        case 'delete':
          bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + e.length)]);
          break;
        case 'repeat':
          bytes = Buffer.concat([bytes.subarray(0, at + e.length), bytes.subarray(at)]);
          break;
        case 'truncate':
          bytes = bytes.subarray(0, at);
          break;
      }
    }
    return new Uint8Array(bytes);
  });
}

/** A copy that is a plain Uint8Array (Buffer#slice would share memory with the seed). */
export function copyOf(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes);
}
