import { routingOf, type Routing } from './routing.js';
import { copyFile, link, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { VmiError } from '../../shared/errors.js';
import { safeFileName, syncDirectory, writeFileAtomic } from '../../shared/fsutil.js';
import type { DirectoryConfig } from './config.js';
import type { Backend, BackendContext, DeliveryPayload, HeldImage, ImageRecord } from './types.js';

/**
 * The `directory` backend: each delivered image as `<path>/<uuid>` (hard-linked from the
 * cache where the filesystem allows, copied otherwise) with a JSON sidecar `<uuid>.json`
 * holding the list entry. Other tools (a cron job, rsync to another cloud) take it there.
 *
 * Names stay unambiguous (issue 12): safeFileName refuses identifiers ending in `.json`, so
 * no image file can be another image's sidecar; temporary files start with a dot, which no
 * identifier does; and a sidecar is only believed for the identifier it names.
 */

interface Sidecar {
  identifier: string;
  sha512: string;
  listIdentifier: string;
  vo: string | null;
  deprecated: boolean;
  entry: ImageRecord['entry'];
}

export class DirectoryBackend implements Backend {
  readonly type = 'directory';
  readonly input = { kind: 'file' } as const;
  readonly name: string;
  readonly routing: Routing | undefined;

  constructor(private readonly config: DirectoryConfig) {
    this.name = config.name;
    this.routing = routingOf(config);
  }

  private paths(identifier: string): { file: string; sidecar: string } {
    const name = safeFileName(identifier);
    return { file: join(this.config.path, name), sidecar: join(this.config.path, `${name}.json`) };
  }

  /** The sidecar at `path` when it describes `identifier` (read from the file name otherwise). */
  private async readSidecar(path: string, identifier?: string): Promise<Sidecar | undefined> {
    let sidecar: Sidecar;
    try {
      sidecar = JSON.parse(await readFile(path, 'utf8')) as Sidecar;
    } catch {
      return undefined;
    }
    const expected = identifier ?? basename(path).slice(0, -'.json'.length);
    return typeof sidecar.identifier === 'string' &&
      sidecar.identifier === expected &&
      typeof sidecar.sha512 === 'string'
      ? sidecar
      : undefined;
  }

  private async writeSidecar(image: ImageRecord, deprecated: boolean): Promise<void> {
    const sidecar: Sidecar = {
      identifier: image.identifier,
      sha512: image.sha512,
      listIdentifier: image.listIdentifier,
      vo: image.vo ?? null,
      deprecated,
      entry: image.entry,
    };
    await writeFileAtomic(this.paths(image.identifier).sidecar, `${JSON.stringify(sidecar, null, 2)}\n`);
  }

  async deliver(
    image: ImageRecord,
    payload: DeliveryPayload,
    _ctx: BackendContext,
  ): Promise<{ refs: string[] }> {
    const { file, sidecar } = this.paths(image.identifier);
    const held = await this.readSidecar(sidecar, image.identifier);
    if (held?.sha512 === image.sha512 && !held.deprecated) return { refs: [file] };
    await mkdir(this.config.path, { recursive: true });
    const tmp = join(
      this.config.path,
      `.${safeFileName(image.identifier)}.${randomBytes(4).toString('hex')}.tmp`,
    );
    try {
      let linked = false;
      if (this.config.link) {
        linked = await link(payload.file, tmp).then(
          () => true,
          () => false,
        );
      }
      if (!linked) await copyFile(payload.file, tmp);
      await rename(tmp, file);
      await syncDirectory(this.config.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new VmiError('BACKEND_FAILED', `directory ${this.config.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await this.writeSidecar(image, false);
    return { refs: [file] };
  }

  async updateMetadata(image: ImageRecord): Promise<void> {
    const held = await this.readSidecar(this.paths(image.identifier).sidecar, image.identifier);
    if (held?.sha512 === image.sha512) await this.writeSidecar(image, held.deprecated);
  }

  async deprecate(image: ImageRecord): Promise<void> {
    const held = await this.readSidecar(this.paths(image.identifier).sidecar, image.identifier);
    if (held?.sha512 === image.sha512) await this.writeSidecar(image, true);
  }

  async retire(image: ImageRecord): Promise<{ done: boolean }> {
    const { file, sidecar } = this.paths(image.identifier);
    const held = await this.readSidecar(sidecar, image.identifier);
    // An in-place update delivered newer bytes under the same name: leave those alone.
    if (held !== undefined && held.sha512 !== image.sha512) return { done: true };
    await rm(file, { force: true });
    await rm(sidecar, { force: true });
    return { done: true };
  }

  async list(): Promise<HeldImage[]> {
    const names = await readdir(this.config.path).catch(() => [] as string[]);
    const held: HeldImage[] = [];
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      const sidecar = await this.readSidecar(join(this.config.path, name));
      if (sidecar === undefined) continue;
      let file: string;
      try {
        file = this.paths(sidecar.identifier).file;
      } catch {
        continue; // not a sidecar this backend could have written
      }
      held.push({
        identifier: sidecar.identifier,
        sha512: sidecar.sha512,
        refs: [file],
        deprecated: sidecar.deprecated,
      });
    }
    return held;
  }
}
