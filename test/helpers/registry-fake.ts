/**
 * A fake registry of the tests: an https server on 127.0.0.1 (certificate from a test CA)
 * whose answers each test writes, to play a tampering or hostile registry, a Harbor, or a
 * token realm. Every request is recorded with its headers.
 */
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
