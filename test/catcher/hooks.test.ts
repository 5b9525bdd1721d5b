import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { runHook } from '../../src/catcher/events/hook.js';
import { silentLogger, type Logger } from '../../src/shared/log.js';
import { tempDir } from '../helpers/tmp.js';
import { rejectsWith } from '../helpers/rejects.js';

/** One vmcatcher event handler run (src/catcher/events/hook.ts): environment, output, status, timeout. */

function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  const log: Logger = pino({ level: 'info' }, sink);
  return { log, lines };
}

/** Whether `pid` still runs (a zombie waiting for its new parent to reap it does not). */
async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) [ZX]/.test(stat);
}

describe('runHook', () => {
  it('runs the command through sh with the parent environment plus the event variables', async () => {
    const dir = await tempDir('vmicast-hooks-');
    const out = join(dir, 'env');
    process.env['VMICAST_HOOK_TEST_PARENT'] = 'from-parent';
    try {
      await runHook({
        command: `echo "$VMCATCHER_EVENT_TYPE|$VMICAST_HOOK_TEST_PARENT|$WITH_CONTROL" > ${out}`,
        env: { VMCATCHER_EVENT_TYPE: 'AvailablePrefix', WITH_CONTROL: 'a\nb\u0007c' },
        timeoutMs: 10_000,
        log: silentLogger(),
      });
    } finally {
      delete process.env['VMICAST_HOOK_TEST_PARENT'];
    }
    // Control characters become spaces before they reach the handler.
    assert.equal(await readFile(out, 'utf8'), 'AvailablePrefix|from-parent|a b c\n');
  });

  it('logs each non-empty line the handler prints, with its stream', async () => {
    const { log, lines } = capturingLogger();
    await runHook({ command: 'echo one; echo; echo two >&2', env: {}, timeoutMs: 10_000, log });
    const output = lines.filter((l) => l['msg'] === 'hook output').map((l) => [l['stream'], l['line']]);
    assert.deepEqual(output, [
      ['stdout', 'one'],
      ['stderr', 'two'],
    ]);
  });

  it('rejects a non-zero exit with HOOK_FAILED and the last line of stderr', async () => {
    const err = await rejectsWith(
      runHook({
        command: 'echo first >&2; echo "no such image" >&2; exit 3',
        env: {},
        timeoutMs: 10_000,
        log: silentLogger(),
      }),
      'HOOK_FAILED',
    );
    assert.match(err.message, /exited with status 3: no such image$/);
  });

  it('rejects a handler that exits without stderr with the bare status', async () => {
    const err = await rejectsWith(
      runHook({ command: 'exit 1', env: {}, timeoutMs: 10_000, log: silentLogger() }),
      'HOOK_FAILED',
    );
    assert.match(err.message, /exited with status 1$/);
  });

  it('stops a handler past its timeout with TERM, its children included: HOOK_TIMEOUT', async () => {
    const dir = await tempDir('vmicast-hooks-');
    const pidFile = join(dir, 'child.pid');
    const started = Date.now();
    await rejectsWith(
      runHook({
        command: `sleep 60 & echo $! > ${pidFile}; wait`,
        env: {},
        timeoutMs: 300,
        log: silentLogger(),
      }),
      'HOOK_TIMEOUT',
    );
    assert.ok(Date.now() - started < 4_000, 'TERM was enough: no wait for the KILL grace');
    const child = Number(await readFile(pidFile, 'utf8'));
    assert.equal(await isRunning(child), false, 'the handler’s own child was stopped with it');
  });

  it('kills a handler that ignores TERM after the grace period', async () => {
    const dir = await tempDir('vmicast-hooks-');
    const marker = join(dir, 'ready');
    const started = Date.now();
    await rejectsWith(
      runHook({
        // Ignores TERM; the loop keeps the shell itself (not only a child) running.
        command: `trap '' TERM; touch ${marker}; while :; do sleep 0.1; done`,
        env: {},
        timeoutMs: 300,
        log: silentLogger(),
      }),
      'HOOK_TIMEOUT',
    );
    const took = Date.now() - started;
    assert.ok(existsSync(marker));
    assert.ok(took >= 5_000 && took < 15_000, `stopped by KILL after the grace (${took} ms)`);
  });

  it('stops the handler when the run is aborted', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const err = await rejectsWith(
      runHook({
        command: 'sleep 30',
        env: {},
        timeoutMs: 60_000,
        log: silentLogger(),
        signal: controller.signal,
      }),
      'HOOK_FAILED',
    );
    assert.match(err.message, /killed by SIGTERM/);
    assert.ok(Date.now() - started < 4_000);
  });
});
