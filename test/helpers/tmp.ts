import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
let registered = false;

/**
 * A temporary directory removed when the test process exits (kept with VMICAST_KEEP_TMP=1).
 * Not a node:test `after` hook: one registered from inside a `before` hook runs before the
 * suite's tests and would remove directories they still use.
 */
export async function tempDir(prefix = 'vmicast-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  if (!registered) {
    registered = true;
    process.once('exit', () => {
      if (process.env['VMICAST_KEEP_TMP'] === '1') return;
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}
