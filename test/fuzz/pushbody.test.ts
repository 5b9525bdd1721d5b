import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNewImage, parsePushBody, type PushBody } from '../../src/caster/serve/pushschema.js';
import type { Json } from '../../src/shared/imagelist/model.js';
import { coded, HeapWatch, mutated, params, timed } from './fuzz.js';
import { applyEdit, edits } from './jsonedit.js';

/**
 * The push API body validator of `vmicaster serve` (CONTRACT.md: PUT
 * /api/v1/lists/{list}/appliances/{appliance}) on random JSON, random bytes and structural
 * edits of valid bodies. It returns a body the rest of the caster can trust, or refuses
 * with LIST_MALFORMED (a 400); nothing else.
 */

function newImage(role: string, name: string): Json {
  const bytes = new TextEncoder().encode(name);
  return {
    role,
    title: name,
    uri: `https://images.example.org/${name}`,
    size: bytes.length,
    sha512: createHash('sha512').update(bytes).digest('hex').toUpperCase(),
    os: 'Linux',
    osversion: '9',
    arch: 'x86_64',
    hypervisor: 'KVM',
    format: 'qcow2',
    attributes: { 'ad:group': 'g', 'sl:osname': 'Alma' },
  };
}

function seedBody(): Json {
  return {
    title: 'Cluster',
    version: '2.0',
    supersedes: 'app-1',
    images: [
      newImage('head', 'head.img'),
      newImage('worker', 'worker.img'),
      { role: 'db', identifier: 'img-7' },
    ],
  };
}

/** What a returned body promises to pushapply.ts. */
function checkBody(body: PushBody): void {
  assert.ok(body.title.length >= 1 && body.title.length <= 256);
  assert.ok(body.version.length >= 1 && body.version.length <= 64);
  assert.ok(body.images.length >= 1 && body.images.length <= 64);
  const roles = new Set<string>();
  for (const image of body.images) {
    assert.match(image.role, /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
    assert.ok(!roles.has(image.role), `role ${image.role} twice`);
    roles.add(image.role);
    if (isNewImage(image)) {
      assert.match(image.sha512, /^[0-9a-f]{128}$/);
      assert.ok(Number.isSafeInteger(image.size) && image.size >= 0);
      assert.match(image.uri, /^https?:\/\/\S+$/i);
    } else {
      assert.match(image.identifier, /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/);
    }
  }
}

function parseChecked(bytes: Uint8Array): boolean {
  const outcome = timed(1000, 'parsePushBody', () => coded(() => parsePushBody(bytes), ['LIST_MALFORMED']));
  if ('error' in outcome) return false;
  checkBody(outcome.value);
  return true;
}

const json = (value: Json) => new TextEncoder().encode(JSON.stringify(value));

describe('push API body validator (fuzz, issue 8)', () => {
  it('the seed body is valid', () => {
    assert.equal(parseChecked(json(seedBody())), true);
  });

  it('random JSON values and random bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 5 }).map((v) => json(v as Json)),
          fc.uint8Array({ maxLength: 300 }),
        ),
        (b) => {
          parseChecked(b);
        },
      ),
      params(400),
    );
  });

  it('structural edits and byte mutations of a valid body', () => {
    const heap = new HeapWatch(32, 512);
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          edits.map((list) => json(list.reduce(applyEdit, seedBody()))),
          mutated(json(seedBody()), 3),
        ),
        (b) => {
          if (parseChecked(b)) accepted++;
          heap.sample();
        },
      ),
      params(400),
    );
    heap.check('parsePushBody');
    assert.ok(accepted > 0, 'some edits keep the body valid');
  });

  it('prototype keys, deep nesting and oversized arrays are refused', () => {
    const proto = JSON.stringify(seedBody()).replace('"title"', '"__proto__":{"polluted":1},"title"');
    assert.equal(parseChecked(new TextEncoder().encode(proto)), false);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(
      parseChecked(new TextEncoder().encode(`${'['.repeat(200_000)}${']'.repeat(200_000)}`)),
      false,
    );
    const body = seedBody() as { images: Json[] };
    body.images = Array.from({ length: 65 }, (_, i) => newImage(`r${i}`, `i${i}`));
    assert.equal(parseChecked(json(body as unknown as Json)), false);
  });
});
