/**
 * A real OpenStack Glance for a test file: scripts/glance/run-glance.sh starts Debian's
 * glance-api on 127.0.0.1 on a free port with a throw-away state directory (no Keystone).
 * Its paste pipeline takes the caller's identity from request headers (`--context
 * headers`), so a test acts as the backend's admin project or as another, non-admin one.
 * In CI (VMICAST_CI=1) a missing glance-api is a test failure; elsewhere the tests are
 * skipped with a visible notice.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { GlanceTestIdentity } from '../../src/catcher/backends/glance/config.js';
import { describeWithComponent, freePort, onPath } from './component.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../scripts/glance/run-glance.sh', import.meta.url));
const START_TIMEOUT_MS = 120_000;

/** Who the backend under test and the fixtures act as: an admin of the backend's own project. */
export const GLANCE_ADMIN: GlanceTestIdentity = Object.freeze({
  projectId: 'vmicast-service',
  userId: 'vmicast',
  roles: ['admin', 'member', 'reader'],
});

/** Another tenant: a plain member of a project the backend neither owns nor maps to a VO. */
export const GLANCE_TENANT: GlanceTestIdentity = Object.freeze({
  projectId: 'tenant-b',
  userId: 'mallory',
  roles: ['member', 'reader'],
});

/** The headers Glance's ContextMiddleware turns into a request context. */
export function identityHeaders(identity: GlanceTestIdentity): Record<string, string> {
  return {
    'x-identity-status': 'Confirmed',
    'x-project-id': identity.projectId,
    'x-user-id': identity.userId,
    'x-roles': identity.roles.join(','),
  };
}

export interface GlanceServer {
  /** Image API root, e.g. http://127.0.0.1:41234 */
  endpoint: string;
  /** State directory (config, SQLite database, file store, logs). */
  dir: string;
  pid: number;
  /** Backend configuration that reaches this Glance as GLANCE_ADMIN. */
  access: { endpoint: string; testIdentity: GlanceTestIdentity };
  stop(): Promise<void>;
}

/** Why a real Glance (and the other tools named) cannot run here, or undefined when it can. */
export function glanceMissing(tools: string[] = []): string | undefined {
  const missing = ['glance-api', 'glance-manage', 'curl', ...tools].filter((tool) => !onPath(tool));
  if (missing.length === 0) return undefined;
  return `${missing.join(', ')} not installed: not found on PATH (Debian packages, scripts/ci/install-debian.sh)`;
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      headers: identityHeaders(GLANCE_ADMIN),
      signal: AbortSignal.timeout(5000),
    });
    await response.arrayBuffer();
    return response.status < 500;
  } catch {
    return false;
  }
}

export interface GlanceApi {
  endpoint: string;
  /** The state directory of the try that started. */
  dir: string;
  pid: number;
}

/**
 * Runs run-glance.sh on a port found free, in a state directory of its own under `dir`,
 * with `args` after the port and directory, then waits for `ready`. A port found free can
 * be taken before glance-api binds it (seen in CI: "Could not bind ... after trying for
 * 30 seconds"): up to 3 tries, each stopped when it fails. `current.dir` names the try
 * under way, for a caller that has to stop it while it starts.
 */
export async function startGlanceApi(
  dir: string,
  args: string[],
  options: {
    timeout: number;
    env?: NodeJS.ProcessEnv;
    ready?: (endpoint: string) => Promise<void>;
    current?: { dir: string };
  },
): Promise<GlanceApi> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const state = join(dir, `run${attempt}`);
    if (options.current !== undefined) options.current.dir = state;
    try {
      const { stdout } = await run(SCRIPT, ['start', '--port', String(port), '--dir', state, ...args], {
        timeout: options.timeout,
        ...(options.env === undefined ? {} : { env: options.env }),
      });
      const endpoint = stdout.trim().split('\n').pop() ?? '';
      await options.ready?.(endpoint);
      const pid = Number((await readFile(join(state, 'glance-api.pid'), 'utf8')).trim());
      return { endpoint, dir: state, pid };
    } catch (err) {
      lastError = err;
      await run(SCRIPT, ['stop', '--dir', state], { timeout: 30_000 }).catch(() => undefined);
    }
  }
  throw new Error(`could not start glance-api: ${(lastError as Error).message}`);
}

/** Starts glance-api (identity from headers) and waits until `/versions` answers. */
export async function startGlance(): Promise<GlanceServer> {
  const { endpoint, dir, pid } = await startGlanceApi(
    await tempDir('vmicast-glance-'),
    ['--context', 'headers'],
    {
      timeout: START_TIMEOUT_MS,
      ready: async (endpoint) => {
        const deadline = Date.now() + START_TIMEOUT_MS;
        while (!(await answers(`${endpoint}/versions`))) {
          if (Date.now() > deadline) throw new Error(`Glance at ${endpoint} does not answer /versions`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
    },
  );
  const killOnExit = (): void => {
    try {
      process.kill(pid);
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);
  return {
    endpoint,
    dir,
    pid,
    access: { endpoint, testIdentity: GLANCE_ADMIN },
    stop: async () => {
      process.removeListener('exit', killOnExit);
      await run(SCRIPT, ['stop', '--dir', dir], { timeout: 30_000 });
    },
  };
}

/**
 * A describe() block with its own Glance. `glance()` returns the running server inside
 * tests. Without glance-api (or another tool the tests need, such as qemu-img): a failing
 * test in CI, a visible skip elsewhere.
 */
export function describeWithGlance(
  name: string,
  body: (glance: () => GlanceServer) => void,
  options: { tools?: string[] } = {},
): void {
  describeWithComponent(
    name,
    'Glance',
    glanceMissing(options.tools),
    startGlance,
    START_TIMEOUT_MS * 3,
    body,
  );
}
