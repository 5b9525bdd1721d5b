import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ErrorCode } from '../../src/shared/errors.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { httpRequest, type Reply } from '../helpers/caster-http.js';
import { startPushWorld, type PushWorld } from '../helpers/caster-push.js';
import { pushImage as image } from '../helpers/caster-state.js';
import { issue } from '../helpers/x509.js';

function without(object: JsonObject, key: string): JsonObject {
  return Object.fromEntries(Object.entries(object).filter(([k]) => k !== key));
}

describe('the push API refuses bad requests and changes nothing', () => {
  let w: PushWorld;

  before(async () => {
    w = await startPushWorld();
  });

  after(async () => {
    await w.close();
  });

  it('refuses bad pushes with a 4xx and a coded error', async () => {
    const ok = { title: 'New', version: '1', images: [image('head', 'n1')] };
    const deep = JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) as JsonObject;
    const cases: [string, () => Promise<Reply>, number, ErrorCode][] = [
      ['unknown list', () => w.put('app', ok, { listId: randomUUID() }), 404, 'USAGE'],
      ['missing field', () => w.put('app', { title: 'x', images: ok.images }), 400, 'LIST_MALFORMED'],
      [
        'missing image field',
        () => w.put('app', { ...ok, images: [without(image('head', 'x'), 'sha512')] }),
        400,
        'LIST_MALFORMED',
      ],
      [
        'size as text',
        () => w.put('app', { ...ok, images: [image('head', 'x', { size: '12' })] }),
        400,
        'LIST_MALFORMED',
      ],
      [
        'negative size',
        () => w.put('app', { ...ok, images: [image('head', 'x', { size: -1 })] }),
        400,
        'LIST_MALFORMED',
      ],
      [
        'malformed sha512',
        () => w.put('app', { ...ok, images: [image('head', 'x', { sha512: 'abc' })] }),
        400,
        'LIST_MALFORMED',
      ],
      ['unknown key', () => w.put('app', { ...ok, extra: 1 }), 400, 'LIST_MALFORMED'],
      [
        'duplicate role',
        () => w.put('app', { ...ok, images: [image('head', 'x'), image('head', 'y')] }),
        400,
        'LIST_MALFORMED',
      ],
      ['not JSON', () => w.put('app', '{"title": '), 400, 'LIST_MALFORMED'],
      ['too deep', () => w.put('app', deep), 400, 'LIST_MALFORMED'],
      ['wrong content type', () => w.put('app', ok, { contentType: 'text/plain' }), 415, 'LIST_MALFORMED'],
      ['bad appliance identifier', () => w.put('bad%20id', ok), 400, 'LIST_MALFORMED'],
      [
        'supersedes unknown appliance',
        () => w.put('app', { ...ok, supersedes: 'no-such-app' }),
        422,
        'LIST_MALFORMED',
      ],
      [
        'appliance member missing',
        () => w.put('app', { ...ok, images: [{ role: 'head', identifier: randomUUID() }] }),
        422,
        'LIST_MALFORMED',
      ],
      [
        'same version, other content',
        () => w.put('base-app', { title: 'Base', version: '2', images: [image('head', 'h9')] }),
        409,
        'LIST_CONFLICT',
      ],
      [
        'older version',
        () => w.put('base-app', { title: 'Base', version: '1', images: [image('head', 'h9')] }),
        409,
        'LIST_ROLLBACK',
      ],
      [
        'image not as pushed (verify)',
        () =>
          w.put('app', {
            ...ok,
            verify: true,
            images: [image('head', 'x', { uri: `${w.images.url}/served.img` })],
          }),
        422,
        'IMAGE_SIZE_MISMATCH',
      ],
      ['no credentials', () => w.put('app', ok, { token: null }), 401, 'ENDORSER_UNAUTHORIZED'],
      ['wrong token', () => w.put('app', ok, { token: `${w.tokenA}x` }), 401, 'ENDORSER_UNAUTHORIZED'],
      ['token for another list', () => w.put('app', ok, { token: w.tokenB }), 403, 'ENDORSER_UNAUTHORIZED'],
      [
        'client certificate of another VO',
        () => w.put('app', ok, { token: null, cert: w.clients.ofOtherVo }),
        403,
        'VO_MISMATCH',
      ],
      [
        'client certificate not authorized',
        () => w.put('app', ok, { token: null, cert: w.clients.unknown }),
        403,
        'ENDORSER_UNAUTHORIZED',
      ],
      [
        'client certificate of an unknown CA',
        () => {
          const stranger = issue({
            subject: '/DC=org/DC=example/CN=Stranger',
            ca: false,
            extKeyUsage: ['clientAuth'],
          });
          return w.put('app', ok, { token: null, cert: { cert: stranger.pem, key: stranger.keyPem } });
        },
        401,
        'ENDORSER_UNAUTHORIZED',
      ],
      ['oversized body', () => w.put('app', { ...ok, title: 'x'.repeat(200_000) }), 413, 'LIST_TOO_LARGE'],
    ];
    const before = await w.fingerprint();
    for (const [name, send, status, code] of cases) {
      const reply = await send();
      assert.equal(reply.status, status, `${name}: ${reply.text}`);
      const body = reply.json();
      assert.equal(body['code'], code, `${name}: ${reply.text}`);
      assert.ok(typeof body['message'] === 'string' && body['message'] !== '', name);
      assert.equal(await w.fingerprint(), before, `${name} changed the list`);
    }
    const wrongMethod = await httpRequest(`${w.base}/api/v1/lists/${w.list}/appliances/x`, {
      ca: w.serverCa,
    });
    assert.equal(wrongMethod.status, 405);
  });
});
