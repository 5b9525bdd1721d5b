import type { HttpClient } from '../../shared/http.js';
import type { RegistryClient } from '../../shared/oci/client.js';
import type { RegistryBlob } from '../../shared/oci/blob-url.js';
import type { Credentials } from '../../shared/oci/auth.js';

/**
 * What a download from a registry blob URL sends (issue 15): the Authorization the
 * registry's challenge asks for (an anonymous token for Harbor's public projects, or one
 * asked for with a registry subscription's credentials), one client per registry and user
 * for the run, loaded only when a list names a registry blob.
 */
export class RegistryAccess {
  private readonly clients = new Map<string, Promise<RegistryClient>>();

  constructor(private readonly http: HttpClient) {}

  async headers(blob: RegistryBlob, credentials?: Credentials): Promise<Record<string, string>> {
    const key = JSON.stringify([blob.registry, credentials?.username ?? null, credentials?.password ?? null]);
    let client = this.clients.get(key);
    if (client === undefined) {
      client = import('../../shared/oci/client.js').then(
        ({ RegistryClient }) =>
          new RegistryClient({
            registry: blob.registry,
            http: this.http,
            ...(credentials === undefined ? {} : { credentials }),
          }),
      );
      this.clients.set(key, client);
    }
    const authorization = await (await client).authorization(blob.repository);
    return authorization === undefined ? {} : { authorization };
  }
}
