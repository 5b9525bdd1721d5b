/**
 * A fake registry of the tests: an https server on 127.0.0.1 (certificate from a test CA)
 * whose answers each test writes, to play a tampering or hostile registry, a Harbor, or a
 * token realm. Every request is recorded with its headers.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { localhostServerCert } from './tls.js';
import { tempDir } from './tmp.js';
import { issue, type TestCert } from './x509.js';

export type FakeHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export interface FakeRegistry {
  host: string;
  origin: string;
  caFile: string;
  ca: TestCert;
  requests: { method: string; path: string; authorization: string | undefined }[];
  handle: FakeHandler;
  stop(): Promise<void>;
}

/** Starts a fake registry; `ca` lets two fakes share one test CA. */
export async function startFakeRegistry(ca?: TestCert): Promise<FakeRegistry> {
  const authority = ca ?? issue({ subject: '/DC=org/DC=example/CN=Fake Registry CA', ca: true });
  const cert = localhostServerCert(authority);
  const dir = await tempDir('vmicast-fake-registry-');
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, authority.pem);
  const requests: FakeRegistry['requests'] = [];
  const state: { handle: FakeHandler } = { handle: (_req, res) => res.writeHead(404).end() };
  const server: Server = createServer({ cert: cert.pem, key: cert.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    requests.push({
      method: req.method ?? '',
      path: url.pathname + url.search,
      authorization: req.headers.authorization,
    });
    req.resume();
    req.on('end', () => state.handle(req, res, url));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    origin: `https://127.0.0.1:${port}`,
    caFile,
    ca: authority,
    requests,
    get handle() {
      return state.handle;
    },
    set handle(value: FakeHandler) {
      state.handle = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One stored manifest of a fake registry: its bytes and the media type it is served with. */
export interface FakeManifest {
  bytes: Buffer;
  mediaType: string;
}

export interface FakeContent {
  /** Full repository name -> tag -> manifest. */
  repositories: Record<string, Record<string, FakeManifest>>;
  /** Answer Harbor's `GET /api/v2.0/projects/{project}/repositories` for this project. */
  harborProject?: string;
  /** A status to answer instead, for the requests a test wants to fail. */
  fail?: (url: URL) => number | undefined;
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/**
 * Makes `fake` answer as a small read-only registry (distribution API: tags, catalog,
 * manifests by tag or digest with Docker-Content-Digest; no referrers API), and as Harbor's
 * project API (`page`/`page_size`, Harbor's full `project/name` names) when asked to.
 */
export function serveContent(fake: FakeRegistry, content: FakeContent): void {
  const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  fake.handle = (_req, res, url) => {
    const failed = content.fail?.(url);
    if (failed !== undefined) return json(res, failed, { errors: [{ code: 'UNKNOWN', message: 'failure' }] });
    const path = url.pathname;
    if (path === '/v2/') return json(res, 200, {});
    const harbor = /^\/api\/v2\.0\/projects\/([^/]+)\/repositories$/.exec(path);
    if (harbor !== null) {
      // A plain registry knows no such path: text, not Harbor's JSON errors.
      if (content.harborProject === undefined) return res.writeHead(404).end('404 page not found\n');
      if (harbor[1] !== content.harborProject) {
        return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'project not found' }] });
      }
      const names = Object.keys(content.repositories)
        .filter((name) => name.startsWith(`${content.harborProject}/`))
        .sort();
      const page = Number(url.searchParams.get('page') ?? '1');
      const size = Number(url.searchParams.get('page_size') ?? '10');
      const slice = names.slice((page - 1) * size, page * size);
      return json(
        res,
        200,
        slice.map((name) => ({ name, artifact_count: 1 })),
        { 'x-total-count': String(names.length) },
      );
    }
    if (path === '/v2/_catalog') return json(res, 200, { repositories: Object.keys(content.repositories) });
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (tags?.[1] !== undefined && content.repositories[tags[1]] !== undefined) {
      return json(res, 200, { name: tags[1], tags: Object.keys(content.repositories[tags[1]] ?? {}) });
    }
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    const stored = manifest?.[1] === undefined ? undefined : content.repositories[manifest[1]];
    if (manifest?.[2] !== undefined && stored !== undefined) {
      const wanted = manifest[2];
      const found = Object.values(stored).find((m) => digestOf(m.bytes) === wanted) ?? stored[wanted];
      if (found !== undefined) {
        return res
          .writeHead(200, { 'content-type': found.mediaType, 'docker-content-digest': digestOf(found.bytes) })
          .end(found.bytes);
      }
    }
    return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'unknown' }] });
  };
}
