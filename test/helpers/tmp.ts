import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const made: string[] = [];
let registered = false;

/** A temporary directory removed when the test file ends (kept with VMICAST_KEEP_TMP=1). */
export async function tempDir(prefix = 'vmicast-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  if (!registered) {
    registered = true;
    after(async () => {
      if (process.env['VMICAST_KEEP_TMP'] === '1') return;
      await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
    });
  }
  return dir;
}
