/**
 * Watches a real Glance while a sync runs: every ~30 ms it asks, as a VO's project, which
 * images that project can see (its listings, hidden or not, and a direct GET of every image
 * that appeared since the watch started), then, as the admin, every image Glance holds.
 * The VO is asked first, so an image the VO saw was released no later than the admin
 * listing of the same poll. It needs no property of ours: an image staged without labels
 * is still seen, by id.
 */
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import type { GlanceTestIdentity } from '../../src/catcher/backends/glance/config.js';
import { GLANCE_ADMIN, identityHeaders } from './glance.js';

/** What a poll records of one image. */
export interface Seen {
  id: string;
  status: string;
  hidden: boolean;
  owner: string | null;
  visibility: string;
  hashAlgo: string | null;
  hash: string | null;
  /** The list identifier the image is labelled with, if any. */
  identifier: string | undefined;
}

export interface Poll {
  /** ms since the watch started */
  at: number;
  /** Images the VO project could see (new ones by id; any it could list). */
  vo: Seen[];
  /** Every image Glance holds, as the admin lists them. */
  admin: Seen[];
}

function seen(image: GlanceImage): Seen {
  const identifier = image['vmcatcher_event_dc_identifier'];
  return {
    id: image.id,
    status: image.status,
    hidden: image.os_hidden === true,
    owner: image.owner,
    visibility: image.visibility,
    hashAlgo: image.os_hash_algo ?? null,
    hash: image.os_hash_value ?? null,
    identifier: typeof identifier === 'string' ? identifier : undefined,
  };
}

async function getJson(
  endpoint: string,
  path: string,
  identity: GlanceTestIdentity,
): Promise<{ status: number; body: unknown }> {
  const send = () =>
    fetch(`${endpoint}${path}`, {
      headers: { accept: 'application/json', ...identityHeaders(identity) },
      signal: AbortSignal.timeout(30_000),
    });
  // A GET changes nothing: repeated once when Glance closed an idle keep-alive connection.
  const response = await send().catch(() => send());
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Every image `identity` can list, hidden or not (one page: a test Glance holds few). */
export async function listAll(endpoint: string, identity = GLANCE_ADMIN): Promise<GlanceImage[]> {
  const pages = await Promise.all(
    ['false', 'true'].map(async (hidden) => {
      const reply = await getJson(endpoint, `/v2/images?limit=1000&os_hidden=${hidden}`, identity);
      if (reply.status !== 200) throw new Error(`listing images: HTTP ${reply.status}`);
      return (reply.body as { images: GlanceImage[] }).images;
    }),
  );
  return pages.flat();
}

/** The image as `identity` sees it, or undefined when Glance says it does not exist for them. */
export async function getAs(
  endpoint: string,
  id: string,
  identity: GlanceTestIdentity,
): Promise<GlanceImage | undefined> {
  const reply = await getJson(endpoint, `/v2/images/${id}`, identity);
  if (reply.status === 404) return undefined;
  if (reply.status !== 200) throw new Error(`GET image ${id}: HTTP ${reply.status}`);
  return reply.body as GlanceImage;
}

export class GlanceWatch {
  readonly polls: Poll[] = [];
  private stopped = false;
  private failure: Error | undefined;
  private readonly started = Date.now();
  private readonly loop: Promise<void>;

  private constructor(
    private readonly endpoint: string,
    private readonly vo: GlanceTestIdentity,
    /** Ids Glance held before the watch: everything else is new. */
    readonly known: ReadonlySet<string>,
    intervalMs: number,
  ) {
    this.loop = this.run(intervalMs);
  }

  static async start(endpoint: string, vo: GlanceTestIdentity, intervalMs = 30): Promise<GlanceWatch> {
    const known = new Set((await listAll(endpoint)).map((i) => i.id));
    return new GlanceWatch(endpoint, vo, known, intervalMs);
  }

  /** Stops polling; a poll that failed fails the caller here. */
  async stop(): Promise<Poll[]> {
    this.stopped = true;
    await this.loop;
    if (this.failure !== undefined) throw this.failure;
    return this.polls;
  }

  isNew(id: string): boolean {
    return !this.known.has(id);
  }

  /** New images as the admin saw them, poll by poll. */
  newImages(): Seen[] {
    return this.polls.flatMap((p) => p.admin.filter((i) => this.isNew(i.id)));
  }

  /** New images the VO project could see at some point. */
  newSeenByVo(): Seen[] {
    return this.polls.flatMap((p) => p.vo.filter((i) => this.isNew(i.id)));
  }

  /** Each new image's distinct states in order, e.g. "queued hidden vmicast-service". */
  summary(): string {
    const states = new Map<string, string[]>();
    for (const poll of this.polls) {
      const voIds = new Set(poll.vo.map((i) => i.id));
      for (const i of poll.admin.filter((a) => this.isNew(a.id))) {
        const state = `${i.status}${i.hidden ? ' hidden' : ''} ${i.owner ?? '-'}${voIds.has(i.id) ? ' VO-VISIBLE' : ''}`;
        const list = states.get(i.id) ?? [];
        if (list[list.length - 1] !== state) list.push(state);
        states.set(i.id, list);
      }
    }
    const lines = [...states].map(([id, list]) => `${id.slice(0, 8)}: ${list.join(' -> ')}`);
    return `${this.polls.length} polls; ${lines.length === 0 ? 'no new image seen' : lines.join('; ')}`;
  }

  private async run(intervalMs: number): Promise<void> {
    let newIds: string[] = [];
    while (!this.stopped) {
      try {
        const at = Date.now() - this.started;
        const [listed, ...fetched] = await Promise.all([
          listAll(this.endpoint, this.vo),
          ...newIds.map((id) => getAs(this.endpoint, id, this.vo)),
        ]);
        const vo = new Map<string, Seen>();
        for (const image of [...listed, ...fetched]) if (image !== undefined) vo.set(image.id, seen(image));
        const admin = (await listAll(this.endpoint)).map(seen);
        newIds = admin.filter((i) => this.isNew(i.id)).map((i) => i.id);
        this.polls.push({ at, vo: [...vo.values()], admin });
      } catch (err) {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
