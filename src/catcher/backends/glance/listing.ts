import type { GlanceClient, GlanceImage } from './client.js';
import { PROP } from './properties.js';

/**
 * What Glance holds under this backend's label, listed once per run (issue 14: each image
 * costs only the calls it needs) and kept current with the backend's own changes during the
 * run. A run is known by its `now`; the daemon's next run lists again.
 */
export class GlanceListing {
  private run: number | undefined;
  private images: Promise<Map<string, GlanceImage>> | undefined;

  constructor(
    private readonly client: GlanceClient,
    private readonly backend: string,
  ) {}

  /** Images labelled with this backend, the identifier and the list's SHA-512, any owner or status. */
  async sameBytes(
    identifier: string,
    sha512: string,
    now: Date,
    signal: AbortSignal,
  ): Promise<GlanceImage[]> {
    const all = await this.load(now, signal);
    return [...all.values()].filter((i) => i[PROP.identifier] === identifier && i[PROP.sha512] === sha512);
  }

  /** Every image labelled with this backend, as listed afresh. */
  async all(now: Date, signal: AbortSignal): Promise<GlanceImage[]> {
    this.invalidate();
    return [...(await this.load(now, signal)).values()];
  }

  /** Records an image as Glance now returns it (created, uploaded, patched). */
  put(image: GlanceImage): void {
    void this.images?.then((all) => all.set(image.id, image));
  }

  /** Changes made elsewhere (several calls at once): the next question lists again. */
  invalidate(): void {
    this.images = undefined;
  }

  remove(id: string): void {
    void this.images?.then((all) => all.delete(id));
  }

  private load(now: Date, signal: AbortSignal): Promise<Map<string, GlanceImage>> {
    const run = now.getTime();
    if (this.images === undefined || this.run !== run) {
      this.run = run;
      const listed = this.client
        .listImages({ [PROP.backend]: this.backend }, signal)
        .then((images) => new Map(images.map((i) => [i.id, i])));
      // A failed listing is tried again by the next caller, not remembered.
      listed.catch(() => {
        if (this.images === listed) this.images = undefined;
      });
      this.images = listed;
    }
    return this.images;
  }
}
