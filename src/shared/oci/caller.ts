import type { Readable } from 'node:stream';
import type { Answer } from './transport.js';

/**
 * What the listings and pushes need of the registry client (client.ts): named here so that
 * those modules and the client do not import each other.
 */
export interface CallOptions {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT';
  headers?: Record<string, string | undefined>;
  body?: Buffer | (() => Readable);
  maxBytes?: number;
  timeoutMs?: number;
}

export interface RegistryCaller {
  readonly origin: string;
  readonly maxManifestBytes: number;
  call(url: URL | string, scope: string, options?: CallOptions): Promise<Answer>;
  callPlain(url: URL, headers: Record<string, string | undefined>): Promise<Answer>;
  basicAuthorization(): string | undefined;
}
