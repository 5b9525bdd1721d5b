import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { ExecConfig } from '../../src/catcher/backends/config.js';
import type { EventType } from '../../src/catcher/events/environment.js';
import { runOutbox } from '../../src/catcher/events/outbox.js';
import { MIGRATIONS } from '../../src/catcher/store/schema.js';
import { insertEvent, listEvents, type StoredEvent } from '../../src/catcher/store/outbox.js';
import { openDatabase, type Db } from '../../src/shared/db.js';
import { silentLogger } from '../../src/shared/log.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The outbox's order rules (src/catcher/events/outbox.ts, docs/operations.md "Event outbox"),
 * against a real database and a real handler, without a sync: events are written directly.
 * Image events here belong to no stored image, so each identifier is its own queue.
 */

const T0 = new Date('2030-01-01T00:00:00Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

interface World {
  db: Db;
  backend: ExecConfig;
  /** Events the handler received, as `Type` or `Type:identifier`. */
  delivered(): Promise<string[]>;
  failFor(name: string): Promise<void>;
  heal(name: string): Promise<void>;
  add(type: EventType, identifier?: string): void;
  run(now: Date, signal?: AbortSignal): Promise<void>;
  states(): string[];
}

async function world(options: Partial<ExecConfig> = {}): Promise<World> {
  const dir = await tempDir('vmicast-outbox-');
  const log = join(dir, 'delivered');
  const flags = join(dir, 'flags');
  await mkdir(flags);
  await writeFile(log, '');
  const db = await openDatabase(join(dir, 'catcher.db'), MIGRATIONS);
  const backend: ExecConfig = {
    type: 'exec',
    name: 'handler',
    // Records `Type` or `Type:identifier`; fails while a flag file has that name.
    command: `name="$VMCATCHER_EVENT_TYPE\${VMCATCHER_EVENT_DC_IDENTIFIER:+:$VMCATCHER_EVENT_DC_IDENTIFIER}"
      if [ -e "${flags}/$name" ]; then exit 1; fi
      echo "$name" >> ${log}`,
    timeoutSeconds: 10,
    retryBackoffSeconds: 60,
    ...options,
  };
  return {
    db,
    backend,
    delivered: async () => (await readFile(log, 'utf8')).split('\n').filter((l) => l !== ''),
    failFor: (name) => writeFile(join(flags, name), ''),
    heal: (name) => rm(join(flags, name)),
    add: (type, identifier) =>
      insertEvent(
        db,
        [backend.name],
        {
          session: 'run',
          type,
          identifier: identifier ?? null,
          instanceId: null,
          env: {
            VMCATCHER_EVENT_TYPE: type,
            ...(identifier === undefined ? {} : { VMCATCHER_EVENT_DC_IDENTIFIER: identifier }),
          },
        },
        T0,
      ),
    run: (now, signal) => runOutbox(db, [backend], { now, log: silentLogger(), signal }),
    states: () => listEvents(db).map((e: StoredEvent) => `${e.type}:${e.identifier ?? '-'}:${e.state}`),
  };
}

/** A run's events as vmicatcher writes them: a bracket around image events. */
function addRun(w: World, ...images: [EventType, string][]): void {
  w.add('ProcessPrefix');
  for (const [type, id] of images) w.add(type, id);
  w.add('ProcessPostfix');
}

describe('event outbox', () => {
  let w: World;
  before(async () => {
    w = await world();
  });

  it('delivers every event oldest first and marks it done', async () => {
    addRun(w, ['SubscriptionImageNew', 'a'], ['AvailablePrefix', 'a'], ['SubscriptionImageNew', 'b']);
    await w.run(T0);
    assert.deepEqual(await w.delivered(), [
      'ProcessPrefix',
      'SubscriptionImageNew:a',
      'AvailablePrefix:a',
      'SubscriptionImageNew:b',
      'ProcessPostfix',
    ]);
    assert.ok(w.states().every((s) => s.endsWith(':done')));
    await w.run(later(1));
    assert.equal((await w.delivered()).length, 5, 'nothing is delivered twice');
  });
});

describe('a failing image event', () => {
  it('holds back only its own queue, retries with doubling backoff and keeps the order', async () => {
    const w = await world();
    await w.failFor('SubscriptionImageNew:a');
    addRun(w, ['SubscriptionImageNew', 'a'], ['SubscriptionImageNew', 'b'], ['AvailablePrefix', 'a']);
    await w.run(T0);
    assert.deepEqual(await w.delivered(), ['ProcessPrefix', 'SubscriptionImageNew:b', 'ProcessPostfix']);
    const failed = listEvents(w.db).find((e) => e.identifier === 'a' && e.type === 'SubscriptionImageNew');
    assert.equal(failed?.attempts, 1);
    assert.equal(failed.state, 'pending');
    assert.equal(failed.lastError?.code, 'HOOK_FAILED');
    assert.equal(failed.nextAttemptAt, later(60).toISOString());

    // Not due yet: nothing is tried, even inside a new run's bracket.
    addRun(w, ['SubscriptionImageNew', 'c']);
    await w.run(later(30));
    assert.deepEqual((await w.delivered()).slice(3), [
      'ProcessPrefix',
      'SubscriptionImageNew:c',
      'ProcessPostfix',
    ]);

    // Due and failing again: the next delay doubles.
    addRun(w);
    await w.run(later(60));
    const again = listEvents(w.db).find((e) => e.id === failed.id);
    assert.equal(again?.attempts, 2);
    assert.equal(again.nextAttemptAt, later(60 + 120).toISOString());

    // Healed: delivered in its order, inside a bracket, the held event behind it too.
    await w.heal('SubscriptionImageNew:a');
    addRun(w);
    await w.run(later(180));
    assert.deepEqual((await w.delivered()).slice(-4), [
      'ProcessPrefix',
      'SubscriptionImageNew:a',
      'AvailablePrefix:a',
      'ProcessPostfix',
    ]);
    assert.ok(w.states().every((s) => s.endsWith(':done')));
  });

  it('is marked failed after maxAttempts, and its queue moves on', async () => {
    const w = await world({ maxAttempts: 2, retryBackoffSeconds: 0 });
    await w.failFor('SubscriptionImageNew:a');
    addRun(w, ['SubscriptionImageNew', 'a'], ['AvailablePrefix', 'a']);
    await w.run(T0);
    // Without a backoff it is still not tried twice in one run.
    assert.equal(listEvents(w.db).find((e) => e.identifier === 'a')?.attempts, 1);
    addRun(w);
    await w.run(later(1));
    const states = w.states();
    assert.ok(states.includes('SubscriptionImageNew:a:failed'), states.join(' '));
    assert.ok(states.includes('AvailablePrefix:a:done'), states.join(' '));
    assert.deepEqual((await w.delivered()).slice(-3), [
      'ProcessPrefix',
      'AvailablePrefix:a',
      'ProcessPostfix',
    ]);
  });

  it('held past its bracket waits for the next ProcessPrefix', async () => {
    const w = await world({ retryBackoffSeconds: 1 });
    await w.failFor('SubscriptionImageNew:a');
    addRun(w, ['SubscriptionImageNew', 'a']);
    await w.run(T0);
    await w.heal('SubscriptionImageNew:a');
    // Due again, but the bracket it belonged to is closed and no run opened a new one.
    await w.run(later(10));
    assert.deepEqual(await w.delivered(), ['ProcessPrefix', 'ProcessPostfix']);
    addRun(w);
    await w.run(later(11));
    assert.deepEqual((await w.delivered()).slice(2), [
      'ProcessPrefix',
      'SubscriptionImageNew:a',
      'ProcessPostfix',
    ]);
  });
});

describe('a failing bracket event', () => {
  it('holds back everything behind it', async () => {
    const w = await world();
    await w.failFor('ProcessPrefix');
    addRun(w, ['SubscriptionImageNew', 'a']);
    await w.run(T0);
    assert.deepEqual(await w.delivered(), []);
    assert.deepEqual(w.states(), [
      'ProcessPrefix:-:pending',
      'SubscriptionImageNew:a:pending',
      'ProcessPostfix:-:pending',
    ]);
    await w.heal('ProcessPrefix');
    await w.run(later(60));
    assert.deepEqual(await w.delivered(), ['ProcessPrefix', 'SubscriptionImageNew:a', 'ProcessPostfix']);
  });
});

describe('runOutbox', () => {
  it('delivers nothing once the run is aborted', async () => {
    const w = await world();
    addRun(w, ['SubscriptionImageNew', 'a']);
    const controller = new AbortController();
    controller.abort();
    await w.run(T0, controller.signal);
    assert.deepEqual(await w.delivered(), []);
    assert.ok(w.states().every((s) => s.endsWith(':pending')));
  });

  it('passes over each backend with its own queue', async () => {
    const w = await world();
    const other: ExecConfig = { ...w.backend, name: 'other', command: 'exit 1', maxAttempts: 1 };
    insertEvent(
      w.db,
      [w.backend.name, other.name],
      {
        session: 's',
        type: 'ProcessPrefix',
        identifier: null,
        instanceId: null,
        env: { VMCATCHER_EVENT_TYPE: 'ProcessPrefix' },
      },
      T0,
    );
    await runOutbox(w.db, [other, w.backend], { now: T0, log: silentLogger() });
    assert.deepEqual(await w.delivered(), ['ProcessPrefix']);
    assert.deepEqual(
      listEvents(w.db).map((e) => `${e.backend}:${e.state}`),
      ['handler:done', 'other:failed'],
    );
  });
});
