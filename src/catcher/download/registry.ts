import type { Got } from 'got';
import type { RegistryClient } from '../../shared/oci/client.js';
import type { RegistryBlob } from '../../shared/oci/blob-url.js';

/**
 * What a download from a registry blob URL sends (issue 15): the Authorization the
 * registry's challenge asks for (an anonymous token for Harbor's public projects), one
 * client per registry for the run, loaded only when a list names a registry blob.
 */
export class RegistryAccess {
  private readonly clients = new Map<string, Promise<RegistryClient>>();

  constructor(private readonly http: Got) {}

  async headers(blob: RegistryBlob): Promise<Record<string, string>> {
    let client = this.clients.get(blob.registry);
    if (client === undefined) {
      client = import('../../shared/oci/client.js').then(
        ({ RegistryClient }) => new RegistryClient({ registry: blob.registry, http: this.http }),
      );
      this.clients.set(blob.registry, client);
    }
    const authorization = await (await client).authorization(blob.repository);
    return authorization === undefined ? {} : { authorization };
  }
}
