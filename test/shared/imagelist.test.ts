import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { parseImageList } from '../../src/shared/imagelist/parse.js';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import { makeImage, makeList } from '../helpers/lists.js';

/** Image list model (SPEC.md section 2): tolerance rules, serializer, section 2.2 extensions. */

const DN = '/DC=org/DC=example/CN=publisher';
const CA = '/DC=org/DC=example/CN=CA';
const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const U3 = '33333333-3333-4333-8333-333333333333';

function listOf(images: JsonObject[], extra: JsonObject = {}): JsonObject {
  return makeList({ dn: DN, ca: CA, images, extra, identifier: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' });
}

function inner(doc: JsonObject): JsonObject {
  return doc['hv:imagelist'] as JsonObject;
}

function imageOf(wrapper: JsonObject): JsonObject {
  return wrapper['hv:image'] as JsonObject;
}

function encode(doc: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** A copy of `obj` without `key`. */
function without(obj: JsonObject, key: string): JsonObject {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key));
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof VmiError && err.code === code);
}

describe('parseImageList: tolerance rules', () => {
  it('parses a valid list into typed fields and keeps the document', () => {
    const doc = listOf([makeImage({ identifier: U1, version: '2.0' })], { 'ad:vo': 'vo.example.org' });
    const list = parseImageList(encode(doc));
    assert.equal(list.identifier, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
    assert.equal(list.vo, 'vo.example.org');
    assert.equal(list.endorser.dn, DN);
    assert.equal(list.endorser.ca, CA);
    assert.equal(list.images.length, 1);
    assert.equal(list.images[0]?.version, '2.0');
    assert.deepEqual(list.warnings, []);
    assert.deepEqual(list.document, doc);
  });

  it('accepts hv:size as a decimal string (AppDB) and as an integer', () => {
    const a = makeImage({ identifier: U1 });
    imageOf(a)['hv:size'] = '123456789012';
    const list = parseImageList(encode(listOf([a, makeImage({ identifier: U2, size: 7 })])));
    assert.equal(list.images[0]?.size, 123456789012);
    assert.equal(list.images[1]?.size, 7);
    assert.deepEqual(list.warnings, []);
  });

  it('drops an image whose hv:size is neither an integer nor a decimal string', () => {
    for (const bad of ['12MB', -1, 1.5, '']) {
      const a = makeImage({ identifier: U1 });
      imageOf(a)['hv:size'] = bad;
      const list = parseImageList(encode(listOf([a])));
      assert.equal(list.images.length, 0, `hv:size ${JSON.stringify(bad)}`);
      assert.match(list.warnings.join('\n'), /hv:size/);
    }
  });

  it('tolerates identifiers that are not UUIDs, with a warning', () => {
    const doc = listOf([makeImage({ identifier: 'c0482bc2-bf41-5d49-gggg-a750174a186b' })]);
    inner(doc)['dc:identifier'] = 'my-list';
    const list = parseImageList(encode(doc));
    assert.equal(list.identifier, 'my-list');
    assert.equal(list.images.length, 1);
    assert.equal(list.warnings.length, 2);
    assert.match(list.warnings[0] ?? '', /list identifier my-list is not an RFC 4122 UUID/);
    assert.match(list.warnings[1] ?? '', /image identifier c0482bc2-bf41-5d49-gggg-a750174a186b/);
  });

  it('keeps unknown keys at every level and passes them on', () => {
    const img = makeImage({
      identifier: U1,
      extra: { 'x:custom': { deep: [1, 2] }, 'ad:mpuri': 'https://m/1' },
    });
    const doc = listOf([img], { 'x:list-extra': 'kept' });
    (inner(doc)['hv:endorser'] as JsonObject)['x:endorser-extra'] = true;
    doc['x:top'] = 42;
    const list = parseImageList(encode(doc));
    assert.deepEqual(list.document, doc);
    assert.deepEqual(list.images[0]?.entry['x:custom'], { deep: [1, 2] });
  });

  it('drops each image missing a required key with a warning naming the key; the rest count', () => {
    const required = [
      'dc:identifier',
      'dc:title',
      'dc:description',
      'hv:uri',
      'hv:size',
      'sl:checksum:sha512',
      'sl:arch',
      'sl:os',
      'sl:osversion',
      'sl:comments',
      'hv:hypervisor',
      'hv:version',
    ];
    for (const key of required) {
      const bad = { 'hv:image': without(imageOf(makeImage({ identifier: U2 })), key) };
      const good = makeImage({ identifier: U1 });
      const list = parseImageList(encode(listOf([good, bad])));
      assert.deepEqual(
        list.images.map((i) => i.identifier),
        [U1],
        key,
      );
      assert.equal(list.warnings.length, 1, key);
      assert.match(list.warnings[0] ?? '', new RegExp(`dropped: missing key ${key}$`), key);
      // The dropped image is gone from the document that is passed on, too.
      assert.equal((inner(list.document)['hv:images'] as unknown[]).length, 1);
    }
  });

  it('drops images that are not hv:image objects, with bad checksums, or non-http URIs', () => {
    const badSum = makeImage({ identifier: U2, sha512: 'abc' });
    const badUri = makeImage({ identifier: U3, uri: 'file:///etc/passwd' });
    const list = parseImageList(
      encode(listOf([{ 'x:other': {} }, makeImage({ identifier: U1 }), badSum, badUri])),
    );
    assert.deepEqual(
      list.images.map((i) => i.identifier),
      [U1],
    );
    assert.equal(list.warnings.length, 3);
    assert.match(list.warnings[0] ?? '', /not an object with key hv:image/);
    assert.match(list.warnings[1] ?? '', /sl:checksum:sha512/);
    assert.match(list.warnings[2] ?? '', /hv:uri/);
  });

  it('refuses a list missing any required list key with LIST_MALFORMED', () => {
    const keys = [
      'dc:identifier',
      'dc:title',
      'dc:description',
      'dc:source',
      'dc:date:created',
      'dc:date:expires',
      'hv:version',
      'hv:uri',
      'hv:endorser',
      'hv:images',
    ];
    for (const key of keys) {
      const doc = { 'hv:imagelist': without(inner(listOf([makeImage()])), key) };
      assert.throws(
        () => parseImageList(encode(doc)),
        (err: unknown) =>
          err instanceof VmiError && err.code === 'LIST_MALFORMED' && err.message.includes(key),
        key,
      );
    }
  });

  it('refuses a list missing any required endorser key with LIST_MALFORMED', () => {
    for (const key of ['hv:dn', 'hv:ca', 'hv:email', 'dc:creator']) {
      const doc = listOf([makeImage()]);
      const endorser = inner(doc)['hv:endorser'] as JsonObject;
      endorser['hv:x509'] = without(endorser['hv:x509'] as JsonObject, key);
      assertCode(() => parseImageList(encode(doc)), 'LIST_MALFORMED');
    }
    const array = listOf([makeImage()]);
    inner(array)['hv:endorser'] = [inner(array)['hv:endorser'] as JsonObject];
    assertCode(() => parseImageList(encode(array)), 'LIST_MALFORMED');
  });

  it('refuses a list without the hv:imagelist wrapper with LIST_MALFORMED', () => {
    assertCode(() => parseImageList(encode(inner(listOf([makeImage()])))), 'LIST_MALFORMED');
    assertCode(() => parseImageList(encode([listOf([])])), 'LIST_MALFORMED');
    assertCode(() => parseImageList(encode({ 'hv:imagelist': [] })), 'LIST_MALFORMED');
  });

  it('refuses what is not UTF-8 JSON, nested too deeply, or with bad dates', () => {
    assertCode(() => parseImageList(new Uint8Array([0x7b, 0xff, 0x7d])), 'LIST_MALFORMED');
    assertCode(() => parseImageList(new TextEncoder().encode('{"hv:imagelist": ')), 'LIST_MALFORMED');
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    assertCode(() => parseImageList(encode(listOf([], { 'x:deep': deep as JsonObject }))), 'LIST_MALFORMED');
    for (const date of [
      '2020-01-01',
      '2020-01-01T00:00:00.000Z',
      '2020-02-30T00:00:00Z',
      '2020-01-01T00:00:00+01:00',
    ]) {
      const doc = listOf([]);
      inner(doc)['dc:date:expires'] = date;
      assertCode(() => parseImageList(encode(doc)), 'LIST_MALFORMED');
    }
  });

  it('refuses a numeric hv:version on the list and an image identifier listed twice', () => {
    const doc = listOf([]);
    inner(doc)['hv:version'] = 3;
    assertCode(() => parseImageList(encode(doc)), 'LIST_MALFORMED');
    assertCode(
      () => parseImageList(encode(listOf([makeImage({ identifier: U1 }), makeImage({ identifier: U1 })]))),
      'LIST_MALFORMED',
    );
  });

  it('accepts an empty hv:images (a decommissioned list)', () => {
    const list = parseImageList(encode(listOf([])));
    assert.equal(list.images.length, 0);
  });

  it('parses the cloudkeeper payload (AppDB shape: string sizes, image-level expiry, ad:vo)', () => {
    const bytes = readFileSync(
      new URL('../fixtures/interop/cloudkeeper/imagelist01.unsigned', import.meta.url),
    );
    const list = parseImageList(new Uint8Array(bytes));
    assert.ok(list.images.length > 0);
    assert.ok(list.images.every((i) => Number.isSafeInteger(i.size)));
    assert.ok(list.images.some((i) => i.expires instanceof Date));
    assert.equal(typeof list.vo, 'string');
  });
});

describe('successors and appliances (SPEC.md section 2.2)', () => {
  const head = () =>
    makeImage({ identifier: U1, extra: { 'vmi:appliance': 'app-1', 'vmi:supersedes': [U3] } });
  const worker = () => makeImage({ identifier: U2, extra: { 'vmi:appliance': 'app-1' } });
  const appliance = (members: string[], extra: JsonObject = {}): JsonObject => ({
    'vmi:appliance': {
      'dc:identifier': 'app-1',
      'dc:title': 'Cluster',
      'hv:version': '2',
      'vmi:images': members.map((id, i) => ({
        'vmi:role': i === 0 ? 'head' : 'worker',
        'dc:identifier': id,
      })),
      ...extra,
    },
  });

  it('parses supersedes chains and appliances whose members are all in the list', () => {
    const doc = listOf([head(), worker()], {
      'vmi:appliances': [appliance([U1, U2], { 'vmi:supersedes': ['app-0'] })],
    });
    const list = parseImageList(encode(doc));
    assert.deepEqual(list.images[0]?.supersedes, [U3]);
    assert.equal(list.images[0].appliance, 'app-1');
    assert.deepEqual(list.appliances, [
      {
        identifier: 'app-1',
        title: 'Cluster',
        version: '2',
        supersedes: ['app-0'],
        images: [
          { role: 'head', identifier: U1 },
          { role: 'worker', identifier: U2 },
        ],
      },
    ]);
    assert.deepEqual(list.warnings, []);
  });

  it('drops an appliance naming an image that is not in the list', () => {
    const list = parseImageList(encode(listOf([head()], { 'vmi:appliances': [appliance([U1, U2])] })));
    assert.equal(list.appliances.length, 0);
    assert.match(
      list.warnings.join('\n'),
      /appliance app-1 dropped: member 2222.* is not an image of the list/,
    );
    assert.deepEqual(inner(list.document)['vmi:appliances'], []);
  });

  it('drops an image or appliance whose supersedes names itself', () => {
    const self = makeImage({ identifier: U1, extra: { 'vmi:supersedes': [U3, U1] } });
    const a = parseImageList(encode(listOf([self])));
    assert.equal(a.images.length, 0);
    assert.match(a.warnings.join('\n'), /vmi:supersedes names the image itself/);
    const b = parseImageList(
      encode(
        listOf([head(), worker()], {
          'vmi:appliances': [appliance([U1, U2], { 'vmi:supersedes': ['app-1'] })],
        }),
      ),
    );
    assert.equal(b.appliances.length, 0);
    assert.match(b.warnings.join('\n'), /names the appliance itself/);
  });

  it('drops a supersedes chain longer than 64 and an appliance without members', () => {
    const long = makeImage({
      identifier: U1,
      extra: { 'vmi:supersedes': Array.from({ length: 65 }, (_, i) => `id-${i}`) },
    });
    assert.equal(parseImageList(encode(listOf([long]))).images.length, 0);
    const empty = parseImageList(encode(listOf([head()], { 'vmi:appliances': [appliance([])] })));
    assert.equal(empty.appliances.length, 0);
  });

  it('refuses two appliances with the same identifier', () => {
    const doc = listOf([head(), worker()], { 'vmi:appliances': [appliance([U1]), appliance([U2])] });
    assertCode(() => parseImageList(encode(doc)), 'LIST_MALFORMED');
  });
});

describe('serializeImageList', () => {
  it('writes sorted keys, 4-space indent, CRLF line ends and a final line end', () => {
    const text = new TextDecoder().decode(
      serializeImageList({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } }),
    );
    assert.equal(
      text,
      '{\r\n    "a": {\r\n        "c": "x",\r\n        "d": [\r\n            1,\r\n            {\r\n' +
        '                "y": 2,\r\n                "z": 1\r\n            }\r\n        ]\r\n    },\r\n    "b": 1\r\n}\r\n',
    );
  });

  it('gives the same bytes for the same content whatever the key order', () => {
    const doc = listOf([makeImage({ identifier: U1 })]);
    const reversed = JSON.parse(JSON.stringify(doc), (_key, value: unknown) =>
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).reverse())
        : value,
    ) as JsonObject;
    assert.deepEqual(serializeImageList(reversed), serializeImageList(doc));
  });

  it('round-trips: parse(serialize(doc)) keeps the document, non-ASCII included', () => {
    const doc = listOf([makeImage({ identifier: U1, title: 'Ünïcødé ✓ image' })]);
    const list = parseImageList(serializeImageList(doc));
    assert.deepEqual(list.document, doc);
    assert.equal(list.images[0]?.title, 'Ünïcødé ✓ image');
    assert.deepEqual(serializeImageList(list.document), serializeImageList(doc));
  });
});
