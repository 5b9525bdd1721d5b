import { createInterface } from 'node:readline';
import { acquireSyncLock, type SyncLock } from '../../src/catcher/sync/lock.js';

/**
 * A process that takes the sync lock of one home on command, for the lock tests and for
 * tests that need "another process holds the lock". Reads lines on stdin:
 *   take <epoch ms>   waits until that instant (so racers start together), then tries;
 *                     answers "won", or "busy <message>", or "error <message>"
 *   release           answers "released"
 *   ping              answers "pong" (the process is up, its modules loaded)
 */
const home = process.argv[2];
if (home === undefined) throw new Error('usage: lock-holder.ts <home>');
let held: SyncLock | undefined;

async function take(at: number): Promise<string> {
  while (Date.now() < at) {
    // Spin the last milliseconds: a timer is too coarse to line racers up.
    if (at - Date.now() > 5) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  try {
    held = await acquireSyncLock(home as string);
    return 'won';
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return `${e.code === 'USAGE' ? 'busy' : 'error'} ${e.message ?? String(err)}`;
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.split(' ');
  if (command === 'take') process.stdout.write(`${await take(Number(arg))}\n`);
  else if (command === 'release') {
    await held?.release();
    held = undefined;
    process.stdout.write('released\n');
  } else if (command === 'ping') process.stdout.write('pong\n');
}
