/**
 * What the helpers starting a real component (Glance, a registry) share: finding its
 * programs, a free port on 127.0.0.1, and a describe() block that starts it once for the
 * file. Without the component: a failing test in CI (VMICAST_CI=1), a visible skip elsewhere.
 */
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

export function onPath(tool: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A describe() block with its own running component; `component()` returns it inside tests.
 * `missing` says why it cannot run here (undefined when it can).
 */
export function describeWithComponent<T extends { stop(): Promise<void> }>(
  name: string,
  what: string,
  missing: string | undefined,
  start: () => Promise<T>,
  startTimeoutMs: number,
  body: (component: () => T) => void,
): void {
  if (missing !== undefined) {
    describe(name, () => {
      if (process.env['VMICAST_CI'] === '1') {
        it(`has a real ${what} (required in CI)`, () => assert.fail(missing));
      } else {
        it(`needs a real ${what}`, (t) => t.skip(missing));
      }
    });
    return;
  }
  describe(name, () => {
    let running: T | undefined;
    before(
      async () => {
        running = await start();
      },
      { timeout: startTimeoutMs },
    );
    after(async () => {
      await running?.stop();
    });
    body(() => {
      if (running === undefined) throw new Error(`${what} did not start`);
      return running;
    });
  });
}
