import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ImageList, Json, JsonObject } from '../../src/shared/imagelist/model.js';
import { parseImageList } from '../../src/shared/imagelist/parse.js';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import { makeImage, makeList } from '../helpers/lists.js';
import { coded, HeapWatch, mutated, params, timed } from './fuzz.js';
import { applyEdit, edits } from './jsonedit.js';

/**
 * The list parser (SPEC.md section 2) on random JSON, random bytes and structural edits of
 * valid documents. It returns a list or refuses with LIST_MALFORMED; a list it returns keeps
 * the promises the rest of the catcher relies on, and parsing what it kept gives the same list.
 */

const REGRESSIONS = JSON.parse(
  readFileSync(new URL('regressions/imagelist.json', import.meta.url), 'utf8'),
) as { sizes: Json[] };

/** A valid document with appliances and successor links, the seed of the structural edits. */
function seedDocument(images: number): JsonObject {
  const entries = Array.from({ length: images }, (_, i) =>
    makeImage({ version: String(i + 1), extra: { 'vmi:appliance': 'app-1' } }),
  );
  const ids = entries.map((e) => (e['hv:image'] as JsonObject)['dc:identifier'] as string);
  const last = entries[entries.length - 1]?.['hv:image'] as JsonObject;
  last['vmi:supersedes'] = [randomUUID(), randomUUID()];
  return makeList({
    dn: '/DC=org/CN=publisher',
    ca: '/DC=org/CN=CA',
    vo: 'vo.example.org',
    images: entries,
    extra: {
      'vmi:appliances': [
        {
          'vmi:appliance': {
            'dc:identifier': 'app-1',
            'dc:title': 'Cluster',
            'hv:version': '1',
            'vmi:images': ids.slice(0, 2).map((id, i) => ({ 'vmi:role': `r${i}`, 'dc:identifier': id })),
          },
        },
      ],
    },
  });
}

/** The promises a returned list keeps (what reconcile, downloads and backends rely on). */
function checkList(list: ImageList): void {
  assert.ok(typeof list.version === 'string' && list.version !== '');
  assert.ok(typeof list.identifier === 'string' && list.identifier !== '');
  assert.ok(!Number.isNaN(list.created.getTime()) && !Number.isNaN(list.expires.getTime()));
  const ids = new Set<string>();
  for (const image of list.images) {
    assert.ok(!ids.has(image.identifier), `duplicate image ${image.identifier}`);
    ids.add(image.identifier);
    assert.match(image.sha512, /^[0-9a-f]{128}$/);
    assert.ok(Number.isSafeInteger(image.size) && image.size >= 0, `size ${image.size}`);
    assert.match(image.uri, /^https?:\/\//i);
    assert.equal(typeof image.version, 'string');
    assert.ok(!image.supersedes.includes(image.identifier));
  }
  const apps = new Set<string>();
  for (const appliance of list.appliances) {
    assert.ok(!apps.has(appliance.identifier));
    apps.add(appliance.identifier);
    for (const member of appliance.images) assert.ok(ids.has(member.identifier), member.identifier);
  }
  // What was kept parses to the same list, without dropping anything more.
  const again = parseImageList(list.document);
  assert.deepEqual(
    again.images.map((i) => [i.identifier, i.sha512, i.size, i.version]),
    list.images.map((i) => [i.identifier, i.sha512, i.size, i.version]),
  );
  assert.deepEqual(again.appliances, list.appliances);
  assert.ok(!again.warnings.some((w) => w.includes('dropped')), again.warnings.join('; '));
}

function parseChecked(input: Uint8Array | Json): boolean {
  const outcome = timed(2000, 'parseImageList', () => coded(() => parseImageList(input), ['LIST_MALFORMED']));
  if ('error' in outcome) return false;
  checkList(outcome.value);
  return true;
}

describe('image list parser (fuzz, issue 8)', () => {
  it('random JSON values: a list or LIST_MALFORMED', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        parseChecked(value as Json);
        parseChecked({ 'hv:imagelist': value as Json });
      }),
      params(300),
    );
  });

  it('random bytes and mutated serialized lists', () => {
    const bytes = serializeImageList(seedDocument(3));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated(bytes, 4)), (input) => {
        parseChecked(input);
      }),
      params(300),
    );
  });

  it('structural edits of valid documents: tolerance keeps the promises', () => {
    const heap = new HeapWatch(32, 512);
    let parsed = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), edits, (n, list) => {
        let doc: Json = seedDocument(n);
        for (const edit of list) doc = applyEdit(doc, edit);
        if (parseChecked(doc)) parsed++;
        if (parseChecked(serializeImageList(doc))) parsed++;
        heap.sample();
      }),
      params(300),
    );
    heap.check('parseImageList over edited documents');
    assert.ok(parsed > 0, 'some edited documents are still lists');
  });

  it('deep nesting and large lists are refused or parsed quickly', () => {
    const deep = new TextEncoder().encode(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    assert.equal(parseChecked(deep), false);
    const deepObject = `{"hv:imagelist":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`;
    assert.equal(parseChecked(new TextEncoder().encode(deepObject)), false);
    let nested: Json = 1;
    for (let i = 0; i < 10_000; i++) nested = [nested];
    assert.equal(parseChecked({ 'hv:imagelist': nested }), false);
    const wide = seedDocument(2000);
    assert.equal(
      timed(5000, 'a list of 2000 images', () => parseImageList(serializeImageList(wide))).images.length,
      2000,
    );
  });

  it('regressions: sizes that are not exact integers drop the image (regressions/imagelist.json)', () => {
    for (const size of REGRESSIONS.sizes) {
      const doc = seedDocument(3);
      const images = (doc['hv:imagelist'] as JsonObject)['hv:images'] as JsonObject[];
      const victim = images[2]?.['hv:image'] as JsonObject;
      victim['hv:size'] = size;
      const list = parseImageList(doc);
      assert.equal(list.images.length, 2, `hv:size ${JSON.stringify(size)}`);
      assert.match(list.warnings.join('\n'), /hv:size/);
    }
  });
});
