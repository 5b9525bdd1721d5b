/**
 * A vmcatcher event handler of the real shape: a shell script that records its environment
 * for each event (one file per event, in order), and fails or hangs on request.
 */
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface RecordedEvent {
  type: string;
  env: Record<string, string>;
}

export interface RecordingHook {
  command: string;
  dir: string;
  /** Make the next calls of `type` fail with status 1 (or sleep past the timeout). */
  failOn(type: string, how: 'exit' | 'sleep'): Promise<void>;
  /** Make every event of one list (VMCATCHER_EVENT_IL_DC_IDENTIFIER) fail with status 1. */
  failForList(listIdentifier: string): Promise<void>;
  heal(): Promise<void>;
  events(): Promise<RecordedEvent[]>;
}

export async function recordingHook(base: string): Promise<RecordingHook> {
  const dir = join(base, 'hook-events');
  const flags = join(base, 'hook-flags');
  await mkdir(dir, { recursive: true });
  await mkdir(flags, { recursive: true });
  const script = join(base, 'handler.sh');
  await writeFile(
    script,
    `#!/bin/sh
# Fails or hangs when a flag file names this event type (or this list).
if [ -f "${flags}/$VMCATCHER_EVENT_TYPE.exit" ]; then echo "refusing $VMCATCHER_EVENT_TYPE" >&2; exit 1; fi
if [ -f "${flags}/$VMCATCHER_EVENT_TYPE.sleep" ]; then sleep 30; fi
if [ -n "$VMCATCHER_EVENT_IL_DC_IDENTIFIER" ] && [ -f "${flags}/list-$VMCATCHER_EVENT_IL_DC_IDENTIFIER" ]; then
  echo "refusing list $VMCATCHER_EVENT_IL_DC_IDENTIFIER" >&2; exit 1
fi
if [ -n "$HOOK_DELAY" ]; then sleep "$HOOK_DELAY"; fi
n=$(ls "${dir}" | wc -l)
env | grep '^VMCATCHER_' | sort > "${dir}/.tmp.$$"
mv "${dir}/.tmp.$$" "${dir}/$(printf %06d "$n")"
`,
  );
  await chmod(script, 0o755);
  return {
    command: `${script} --from-vmicast`,
    dir,
    failOn: (type, how) => writeFile(join(flags, `${type}.${how}`), ''),
    failForList: (listIdentifier) => writeFile(join(flags, `list-${listIdentifier}`), ''),
    heal: async () => {
      for (const name of await readdir(flags)) await rm(join(flags, name));
    },
    events: async () => {
      const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
      const out: RecordedEvent[] = [];
      for (const name of names) {
        const env: Record<string, string> = {};
        for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
          const eq = line.indexOf('=');
          if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
        }
        out.push({ type: env['VMCATCHER_EVENT_TYPE'] ?? '?', env });
      }
      return out;
    },
  };
}

/** `Type:identifier` labels, the shape the order assertions compare. */
export function labels(events: RecordedEvent[], names: Map<string, string>): string[] {
  return events.map((e) => {
    const id = e.env['VMCATCHER_EVENT_DC_IDENTIFIER'];
    return id === undefined ? e.type : `${e.type}:${names.get(id) ?? id}`;
  });
}
