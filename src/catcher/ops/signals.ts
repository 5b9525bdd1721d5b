import type { Logger } from 'pino';
import type { Daemon } from './daemon.js';

/**
 * Process signals of `vmicatcher run` (systemd sends TERM to stop and, through ExecReload,
 * HUP to reload): TERM/INT stop cleanly, a second one exits at once; HUP reloads
 * configuration and trust store; USR1 runs a cycle now. Returns a function that removes
 * the handlers.
 */
export function handleSignals(daemon: Daemon, log: Logger, proc: NodeJS.Process = process): () => void {
  const signals = log.child({ component: 'signals' });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      signals.warn(
        { signal },
        'second stop signal: exiting without waiting (partial downloads resume later)',
      );
      proc.exit(1);
    }
    stopping = true;
    signals.info({ signal }, 'stop requested');
    daemon.stop().catch((err: unknown) => {
      signals.error({ err }, 'clean stop failed');
      proc.exitCode = 1;
    });
  };
  const reload = () => {
    signals.info({ signal: 'SIGHUP' }, 'reload requested');
    void daemon.reload();
  };
  const sync = () => {
    const outcome = daemon.triggerSync('signal');
    signals.info({ signal: 'SIGUSR1', outcome }, 'sync requested');
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGTERM', () => stop('SIGTERM')],
    ['SIGINT', () => stop('SIGINT')],
    ['SIGHUP', reload],
    ['SIGUSR1', sync],
  ];
  for (const [signal, handler] of handlers) proc.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) proc.off(signal, handler);
  };
}
