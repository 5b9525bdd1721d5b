import type { Readable } from 'node:stream';
import { VmiError } from '../../../shared/errors.js';
import { failure, transportFailure, type Reply } from './errors.js';
import type { GlanceAuth } from './auth.js';
import { onceMore, type GlanceHttp, type Method } from './http.js';
import { fileBody } from './upload-body.js';

/**
 * The few OpenStack Image API v2 calls the backend needs (http.ts). Every failure becomes
 * BACKEND_FAILED with the HTTP status and Glance's own message; tokens never appear in
 * messages. A 401 makes the client forget its token and try once more with a new one.
 */

/** An image as Glance returns it: base fields plus custom properties (always strings). */
export interface GlanceImage {
  id: string;
  name: string | null;
  status: string;
  size: number | null;
  visibility: string;
  protected: boolean;
  os_hidden?: boolean;
  owner: string | null;
  disk_format: string | null;
  container_format: string | null;
  os_hash_algo?: string | null;
  os_hash_value?: string | null;
  [property: string]: unknown;
}

interface ImagePage {
  images?: GlanceImage[];
  next?: string;
}

export type PatchOp =
  { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

export type DeleteOutcome = 'deleted' | 'absent' | 'refused';

interface CallOptions {
  json?: unknown;
  patch?: PatchOp[];
  /** A fresh body stream per attempt (uploads). */
  body?: () => Readable;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  upload?: boolean;
}

const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';
const PAGE_SIZE = 200;

export class GlanceClient {
  constructor(
    private readonly auth: GlanceAuth,
    private readonly http: GlanceHttp,
    private readonly timeoutMs: number,
  ) {}

  /** The same client acting for another project, when the credential can be scoped there. */
  asProject(projectId: string): GlanceClient | undefined {
    const auth = this.auth.scopedTo?.(projectId);
    return auth === undefined ? undefined : new GlanceClient(auth, this.http, this.timeoutMs);
  }

  /** The project our requests act for; undefined when Glance gives us no project (no-auth mode). */
  async ownProject(signal?: AbortSignal): Promise<string | undefined> {
    return (await this.auth.session(signal)).projectId;
  }

  /** Every image matching the property filters, hidden (os_hidden) or not, all pages. */
  async listImages(filters: Record<string, string>, signal?: AbortSignal): Promise<GlanceImage[]> {
    const images: GlanceImage[] = [];
    for (const hidden of ['false', 'true']) {
      let query: string | undefined = new URLSearchParams({
        ...filters,
        os_hidden: hidden,
        limit: String(PAGE_SIZE),
      }).toString();
      while (query !== undefined) {
        const page: ImagePage = await this.json<ImagePage>('GET', `/v2/images?${query}`, { signal });
        images.push(...(page.images ?? []));
        query = page.next === undefined ? undefined : page.next.slice(page.next.indexOf('?') + 1);
      }
    }
    // An image listed by both queries (hidden while we paged) counts once.
    return [...new Map(images.map((i) => [i.id, i])).values()];
  }

  async getImage(id: string, signal?: AbortSignal): Promise<GlanceImage | undefined> {
    const reply = await this.call('GET', `/v2/images/${encodeURIComponent(id)}`, { signal });
    if (reply.status === 404) return undefined;
    return this.expectJson<GlanceImage>('GET', `/v2/images/${id}`, reply, [200]);
  }

  createImage(body: Record<string, unknown>, signal?: AbortSignal): Promise<GlanceImage> {
    return this.json<GlanceImage>('POST', '/v2/images', { json: body, signal }, [201]);
  }

  patchImage(id: string, ops: PatchOp[], signal?: AbortSignal): Promise<GlanceImage> {
    return this.json<GlanceImage>('PATCH', `/v2/images/${encodeURIComponent(id)}`, { patch: ops, signal });
  }

  /** DELETE; 'refused' when Glance will not delete it now (protected, in use, wrong state). */
  async deleteImage(id: string, signal?: AbortSignal): Promise<DeleteOutcome> {
    const path = `/v2/images/${encodeURIComponent(id)}`;
    const reply = await this.call('DELETE', path, { signal });
    if (reply.status === 204 || reply.status === 200) return 'deleted';
    if (reply.status === 404) return 'absent';
    if (reply.status === 403 || reply.status === 409) return 'refused';
    throw failure('DELETE', path, reply);
  }

  async deactivate(id: string, signal?: AbortSignal): Promise<void> {
    await this.action(id, 'deactivate', signal);
  }

  async reactivate(id: string, signal?: AbortSignal): Promise<void> {
    await this.action(id, 'reactivate', signal);
  }

  /** Adds a member project; an existing membership (409) is fine. */
  async addMember(id: string, member: string, signal?: AbortSignal): Promise<void> {
    const path = `/v2/images/${encodeURIComponent(id)}/members`;
    const reply = await this.call('POST', path, { json: { member }, signal });
    if (reply.status !== 200 && reply.status !== 409) throw failure('POST', path, reply);
  }

  /** Sets a member's status; false when Glance refuses (only the member project may accept). */
  async setMemberStatus(id: string, member: string, status: string, signal?: AbortSignal): Promise<boolean> {
    const path = `/v2/images/${encodeURIComponent(id)}/members/${encodeURIComponent(member)}`;
    const reply = await this.call('PUT', path, { json: { status }, signal });
    if (reply.status === 200) return true;
    if (reply.status === 403) return false;
    throw failure('PUT', path, reply);
  }

  async listMembers(id: string, signal?: AbortSignal): Promise<{ member_id: string; status: string }[]> {
    const path = `/v2/images/${encodeURIComponent(id)}/members`;
    const reply = await this.call('GET', path, { signal });
    // Glance answers 403 for images that are not shared: they have no members.
    if (reply.status === 403) return [];
    const body = this.expectJson<{ members?: { member_id: string; status: string }[] }>(
      'GET',
      path,
      reply,
      [200],
    );
    return body.members ?? [];
  }

  async removeMember(id: string, member: string, signal?: AbortSignal): Promise<void> {
    const path = `/v2/images/${encodeURIComponent(id)}/members/${encodeURIComponent(member)}`;
    const reply = await this.call('DELETE', path, { signal });
    if (reply.status !== 204 && reply.status !== 404) throw failure('DELETE', path, reply);
  }

  /**
   * Streams the file into `PUT /v2/images/{id}/file` (never read into memory) and returns
   * the number of bytes sent and their SHA-512, computed while they went out.
   */
  async uploadFile(
    id: string,
    file: string,
    signal?: AbortSignal,
  ): Promise<{ bytes: number; sha512: string }> {
    const { size, body, sent } = await fileBody(file);
    await this.putData(id, body, size, signal);
    return sent();
  }

  /**
   * Streams `body` into `PUT /v2/images/{id}/file` as it comes (a download in flight). It
   * cannot be sent twice: a token refused in the middle fails the upload, which the caller
   * then makes again from the cached file.
   */
  async uploadStream(
    id: string,
    body: Readable,
    size: number | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    let used = false;
    const once = (): Readable => {
      if (used) throw new VmiError('BACKEND_FAILED', 'Glance refused the token during a streamed upload');
      used = true;
      return body;
    };
    await this.putData(id, once, size, signal);
  }

  /** `PUT /v2/images/{id}/file` of a body made by `body` (chunked when the size is unknown). */
  private async putData(
    id: string,
    body: () => Readable,
    size: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const path = `/v2/images/${encodeURIComponent(id)}/file`;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (size !== undefined) headers['content-length'] = String(size);
    const reply = await this.call('PUT', path, { body, headers, signal, upload: true });
    if (reply.status !== 204 && reply.status !== 200) throw failure('PUT', path, reply);
  }

  private async action(id: string, name: string, signal: AbortSignal | undefined): Promise<void> {
    const path = `/v2/images/${encodeURIComponent(id)}/actions/${name}`;
    const reply = await this.call('POST', path, { signal });
    if (reply.status !== 204 && reply.status !== 200) throw failure('POST', path, reply);
  }

  private async json<T>(method: Method, path: string, options: CallOptions, ok = [200]): Promise<T> {
    return this.expectJson<T>(method, path, await this.call(method, path, options), ok);
  }

  private expectJson<T>(method: Method, path: string, reply: Reply, ok: number[]): T {
    if (!ok.includes(reply.status)) throw failure(method, path, reply);
    try {
      return JSON.parse(reply.text) as T;
    } catch {
      throw new VmiError(
        'BACKEND_FAILED',
        `Glance ${method} ${path}: HTTP ${reply.status} with a body that is not JSON`,
      );
    }
  }

  private async call(method: Method, path: string, options: CallOptions): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.auth.session(options.signal);
      const reply = await this.send(method, `${session.endpoint}${path}`, session.token, {
        ...options,
        headers: { ...session.headers, ...options.headers },
      });
      if (reply.status !== 401 || session.token === undefined || attempt > 1) return reply;
      this.auth.invalidate(session.token);
    }
  }

  private async send(
    method: Method,
    url: string,
    token: string | undefined,
    options: CallOptions,
  ): Promise<Reply> {
    try {
      const hasStream = options.body !== undefined;
      return await onceMore(method, hasStream, options.signal, () =>
        this.sendOnce(method, url, token, options),
      );
    } catch (err) {
      throw transportFailure(method, url, err, options.signal);
    }
  }

  private async sendOnce(
    method: Method,
    url: string,
    token: string | undefined,
    options: CallOptions,
  ): Promise<Reply> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (token !== undefined) headers['x-auth-token'] = token;
    if (options.patch !== undefined) headers['content-type'] = PATCH_TYPE;
    const body = options.body?.();
    const t = this.timeoutMs;
    let text: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      text = JSON.stringify(options.json);
    } else if (options.patch !== undefined) text = JSON.stringify(options.patch);
    try {
      return await this.http.request(url, {
        method,
        headers,
        ...(text === undefined ? {} : { body: text }),
        ...(body === undefined ? {} : { body }),
        // Uploads may take long: limit idleness, not the total.
        timeout: options.upload === true ? { connect: t, socket: t, response: t } : { request: t },
        signal: options.signal,
      });
    } catch (err) {
      body?.destroy();
      throw err;
    }
  }
}
