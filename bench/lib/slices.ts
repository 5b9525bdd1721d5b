import { randomUUID } from 'node:crypto';
import { randomFile, sliceSha512, type DataFile } from './data.js';
import type { NodeServer } from './servers.js';
import type { ListImage } from './site.js';

const SLICE = 4096;

/**
 * Small images for long lists: 4 KiB slices of one random file, served by the node:http
 * static server as files of their own, each with its own identifier and digest.
 */
export class Slices {
  private next = 0;
  private constructor(
    private readonly file: DataFile,
    private readonly server: NodeServer,
  ) {}

  static async create(server: NodeServer): Promise<Slices> {
    return new Slices(await randomFile(64 * 1024 * 1024), server);
  }

  async image(identifier: string = randomUUID()): Promise<ListImage> {
    const offset = (this.next++ * SLICE) % (this.file.size - SLICE);
    return {
      identifier,
      uri: this.server.url(`/slice/${offset}/${SLICE}/${this.file.name}`),
      size: SLICE,
      sha512: await sliceSha512(this.file, offset, SLICE),
    };
  }
}
