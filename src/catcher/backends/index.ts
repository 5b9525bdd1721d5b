import type { BackendConfig, ExecConfig } from './config.js';
import { DirectoryBackend } from './directory.js';
import type { Backend } from './types.js';

/**
 * The static backend registry (STYLE.md rule 8): an exhaustive switch on `type`, nothing
 * loaded by name at run time. Exec backends are not delivery backends: they consume the
 * event outbox (src/catcher/events/outbox.ts).
 */
export interface Backends {
  delivery: Backend[];
  exec: ExecConfig[];
}

export async function createBackends(configs: readonly BackendConfig[]): Promise<Backends> {
  const backends: Backends = { delivery: [], exec: [] };
  for (const config of configs) {
    switch (config.type) {
      case 'directory':
        backends.delivery.push(new DirectoryBackend(config));
        break;
      case 'exec':
        backends.exec.push(config);
        break;
      case 'glance': {
        // Loaded only for a Glance backend: its modules cost memory and start-up time that
        // a sync into directories alone never needs (issue 14, item 6).
        const { createGlanceBackend } = await import('./glance/create.js');
        backends.delivery.push(createGlanceBackend(config));
        break;
      }
      default: {
        const unknown: never = config;
        throw new Error(`unknown backend type ${JSON.stringify(unknown)}`);
      }
    }
  }
  return backends;
}
