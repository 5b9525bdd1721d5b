import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchList, type ListFetchOptions } from '../../src/catcher/sync/fetch.js';
import { createHttpClient } from '../../src/shared/http.js';
import { TestServer } from '../helpers/server.js';
import { rejectsWith } from '../helpers/rejects.js';

/**
 * Step 2 of SPEC.md section 5 (src/catcher/sync/fetch.ts) against a real local server:
 * conditional GET, Basic auth, the size cap (announced and sent), redirects, status codes.
 */

const http = createHttpClient();
const BODY = 'MIME-Version: 1.0\r\n\r\na signed list';
const OPTIONS: ListFetchOptions = {
  etag: null,
  lastModified: null,
  username: null,
  password: null,
  maxBytes: 1 << 20,
  deadlineMs: 10_000,
};

describe('fetchList', () => {
  let server: TestServer;
  let url: string;
  const modified = new Date('2030-01-01T00:00:00Z');

  before(async () => {
    server = await TestServer.start();
    url = server.set('/list.smime', BODY, { lastModified: modified });
  });
  after(() => server.stop());

  it('returns the bytes with the validators for the next conditional GET', async () => {
    const result = await fetchList(http, url, OPTIONS);
    assert.equal(result.status, 'ok');
    assert.equal(Buffer.from(result.bytes).toString(), BODY);
    assert.match(result.etag ?? '', /^"[0-9a-f]+"$/);
    assert.equal(result.lastModified, modified.toUTCString());
    const headers = server.requests('/list.smime').at(-1)?.headers;
    assert.equal(headers?.['if-none-match'], undefined);
    assert.equal(headers?.authorization, undefined);
  });

  it('sends the validators it holds and reports not-modified on 304', async () => {
    const first = await fetchList(http, url, OPTIONS);
    assert.equal(first.status, 'ok');
    const again = await fetchList(http, url, {
      ...OPTIONS,
      etag: first.etag,
      lastModified: first.lastModified,
    });
    assert.deepEqual(again, { status: 'not-modified' });
    const headers = server.requests('/list.smime').at(-1)?.headers;
    assert.ok(headers);
    assert.equal(headers['if-none-match'], first.etag);
    assert.equal(headers['if-modified-since'], modified.toUTCString());
  });

  it('sends Basic credentials when it has a username', async () => {
    const privateUrl = server.set('/private.smime', BODY, { auth: { user: 'alice', password: 's3cret' } });
    await rejectsWith(fetchList(http, privateUrl, OPTIONS), 'HTTP_STATUS');
    const result = await fetchList(http, privateUrl, { ...OPTIONS, username: 'alice', password: 's3cret' });
    assert.equal(result.status, 'ok');
  });

  it('refuses a list whose announced length is over the cap, before reading it', async () => {
    const err = await rejectsWith(fetchList(http, url, { ...OPTIONS, maxBytes: 10 }), 'LIST_TOO_LARGE');
    assert.match(err.message, /announces/);
  });

  it('stops a list without a length at the first byte over the cap', async () => {
    server.fault('/list.smime', { kind: 'endless' });
    const err = await rejectsWith(fetchList(http, url, { ...OPTIONS, maxBytes: 100_000 }), 'LIST_TOO_LARGE');
    assert.match(err.message, /sent more than/);
  });

  it('follows a redirect on the same scheme', async () => {
    server.fault('/moved.smime', { kind: 'redirect', location: '/list.smime' });
    const result = await fetchList(http, server.url('/moved.smime'), OPTIONS);
    assert.equal(result.status, 'ok');
  });

  it('gives up after five redirects', async () => {
    const loop = Array.from({ length: 7 }, () => ({ kind: 'redirect' as const, location: '/loop.smime' }));
    server.fault('/loop.smime', ...loop);
    await rejectsWith(fetchList(http, server.url('/loop.smime'), OPTIONS), 'FETCH_FAILED');
    server.faults.delete('/loop.smime');
  });

  it('reports an error status with the status in its details', async () => {
    server.fault('/list.smime', { kind: 'status', status: 503 });
    const err = await rejectsWith(fetchList(http, url, OPTIONS), 'HTTP_STATUS');
    assert.equal(err.details?.['status'], 503);
  });

  it('ends a fetch that outlives its deadline', async () => {
    server.fault('/list.smime', { kind: 'stall', afterBytes: 5 });
    await rejectsWith(fetchList(http, url, { ...OPTIONS, deadlineMs: 300 }), 'TIMEOUT');
  });

  it('reports a refused connection as FETCH_FAILED', async () => {
    const closed = await TestServer.start();
    const gone = closed.url('/list.smime');
    await closed.stop();
    await rejectsWith(fetchList(http, gone, OPTIONS), 'FETCH_FAILED');
  });
});
