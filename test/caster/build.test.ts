import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assembleDocument, commonName, stampDocument, type ListState } from '../../src/caster/build.js';
import { sniffFormat } from '../../src/caster/format.js';
import { ancestorChain, MAX_CHAIN } from '../../src/caster/lineage.js';
import { historyPath, nextVersion } from '../../src/caster/publish.js';
import { escapeHtml } from '../../src/caster/serve/page.js';
import { parseImageList } from '../../src/shared/imagelist/parse.js';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';

const SHA = 'a'.repeat(128);

function image(id: string): ListState['images'][number] {
  const entry: JsonObject = {
    'dc:identifier': id,
    'dc:title': `Image ${id}`,
    'dc:description': '',
    'hv:uri': `https://images.example.org/${id}`,
    'hv:size': 10,
    'sl:checksum:sha512': SHA,
    'sl:arch': 'x86_64',
    'sl:os': 'Linux',
    'sl:osversion': '9',
    'sl:comments': '',
    'hv:hypervisor': 'KVM',
    'hv:version': '1',
  };
  return { listId: 'L', id, state: 'listed', seq: 1, version: '1', uri: '', size: 10, sha512: SHA, entry };
}

function state(over: Partial<ListState> = {}): ListState {
  return {
    list: {
      id: '6f1c3b1e-0000-4000-8000-000000000001',
      title: 'T',
      description: 'D',
      source: 'S',
      uri: 'https://example.org/list',
      vo: 'vo.example.org',
      email: 'a@example.org',
      creator: '',
      extra: { 'ad:extra': 'kept' },
      version: '3',
      endorserDn: null,
      endorserCa: null,
      publishPath: null,
      createdAt: '',
    },
    images: [],
    imageLinks: new Map(),
    appliances: [],
    applianceLinks: new Map(),
    ...over,
  };
}

const STAMP = {
  version: '4',
  created: new Date('2026-01-02T03:04:05Z'),
  expires: new Date('2026-01-30T03:04:05Z'),
  endorserDn: '/DC=org/DC=example/CN=Jane Doe',
  endorserCa: '/DC=org/DC=example/CN=CA',
};

describe('ancestorChain', () => {
  it('lists every ancestor, nearest first', () => {
    const links = new Map([
      ['d', ['c']],
      ['c', ['b']],
      ['b', ['a']],
    ]);
    assert.deepEqual(ancestorChain('d', links), ['c', 'b', 'a']);
    assert.deepEqual(ancestorChain('a', links), []);
  });

  it('puts nearer ancestors before farther ones when lineages merge, once each', () => {
    const links = new Map([
      ['new', ['x', 'y']],
      ['x', ['old']],
      ['y', ['old']],
    ]);
    assert.deepEqual(ancestorChain('new', links), ['x', 'y', 'old']);
  });

  it('stops at 64 entries and survives cycles', () => {
    const links = new Map<string, string[]>();
    for (let i = 1; i <= 100; i++) links.set(`v${i}`, [`v${i - 1}`]);
    links.set('v0', ['v100']);
    const chain = ancestorChain('v100', links);
    assert.equal(chain.length, MAX_CHAIN);
    assert.equal(chain[0], 'v99');
    assert.ok(!chain.includes('v100'));
  });
});

describe('assembleDocument and stampDocument', () => {
  it('writes a list that the shared reader accepts without warnings, with lineage and appliances', () => {
    const s = state({
      images: [image('head-2'), image('worker-1')],
      imageLinks: new Map([
        ['head-2', ['head-1']],
        ['head-1', ['head-0']],
      ]),
      appliances: [
        {
          listId: 'L',
          id: 'app-2',
          title: 'App',
          version: '2',
          state: 'listed',
          published: false,
          bodySha256: null,
          members: [
            { role: 'head', imageId: 'head-2' },
            { role: 'worker', imageId: 'worker-1' },
          ],
        },
      ],
      applianceLinks: new Map([['app-2', ['app-1']]]),
    });
    const doc = stampDocument(assembleDocument(s), STAMP);
    const parsed = parseImageList(serializeImageList(doc));
    assert.deepEqual(
      parsed.warnings.filter((w) => w.includes('dropped')),
      [],
    );
    assert.equal(parsed.images.length, 2);
    assert.equal(parsed.version, '4');
    assert.equal(parsed.vo, 'vo.example.org');
    assert.equal(parsed.endorser.dn, STAMP.endorserDn);
    assert.equal(parsed.endorser.creator, 'Jane Doe');
    assert.equal(parsed.created.toISOString(), '2026-01-02T03:04:05.000Z');
    const head = parsed.images.find((i) => i.identifier === 'head-2');
    assert.deepEqual(head?.supersedes, ['head-1', 'head-0']);
    assert.equal(head.appliance, 'app-2');
    assert.deepEqual(parsed.appliances[0]?.supersedes, ['app-1']);
    assert.deepEqual(
      parsed.appliances[0].images.map((m) => m.role),
      ['head', 'worker'],
    );
    const body = doc['hv:imagelist'] as JsonObject;
    assert.equal(body['ad:extra'], 'kept');
  });

  it('writes hv:images even for an empty list and leaves empty appliances out', () => {
    const s = state({
      appliances: [
        {
          listId: 'L',
          id: 'empty',
          title: 'E',
          version: '1',
          state: 'listed',
          published: false,
          bodySha256: null,
          members: [],
        },
      ],
    });
    const body = stampDocument(assembleDocument(s), STAMP)['hv:imagelist'] as JsonObject;
    assert.deepEqual(body['hv:images'], []);
    assert.equal(body['vmi:appliances'], undefined);
  });

  it('refuses an appliance member that is not in the list', () => {
    const s = state({
      appliances: [
        {
          listId: 'L',
          id: 'a',
          title: 'A',
          version: '1',
          state: 'listed',
          published: false,
          bodySha256: null,
          members: [{ role: 'head', imageId: 'missing' }],
        },
      ],
    });
    assert.throws(() => assembleDocument(s), { code: 'LIST_MALFORMED' });
  });

  it('is deterministic: the same state gives the same bytes', () => {
    const s = state({ images: [image('x'), image('y')] });
    const a = serializeImageList(stampDocument(assembleDocument(s), STAMP));
    const b = serializeImageList(stampDocument(assembleDocument(s), STAMP));
    assert.deepEqual(a, b);
  });
});

describe('publication helpers', () => {
  it('continues above the higher of the recorded and the on-disk version', () => {
    assert.equal(nextVersion(null, undefined), '1');
    assert.equal(nextVersion('0.0.9', undefined), '0.0.10');
    assert.equal(nextVersion('3', '5'), '6');
    assert.equal(nextVersion('20150618211400', '7'), '20150618211401');
  });

  it('keeps history file names safe whatever the version says', () => {
    assert.match(historyPath('/www/l.smime', 'L', '1.2.3'), /\/www\/history\/L\/1\.2\.3\.smime$/);
    const odd = historyPath('/www/l.smime', 'L', '../../etc/x');
    assert.match(odd, /\/www\/history\/L\/v-[0-9a-f]{32}\.smime$/);
  });

  it('takes the creator from the last common name of a DN', () => {
    assert.equal(commonName('/DC=org/CN=Robots/CN=Jane Doe'), 'Jane Doe');
    assert.equal(commonName('/O=No common name'), '/O=No common name');
  });

  it('escapes everything that is HTML', () => {
    assert.equal(
      escapeHtml(`<script>"x" & 'y'</script>`),
      '&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;',
    );
  });
});

describe('sniffFormat', () => {
  it('maps detected content to hv:format values', () => {
    const qcow2 = new Uint8Array(512);
    qcow2.set([0x51, 0x46, 0x49, 0xfb]);
    assert.deepEqual(sniffFormat(qcow2), { format: 'qcow2', seen: 'qcow2' });
    const gzip = new Uint8Array([0x1f, 0x8b, 0x08, 0, 0, 0]);
    assert.equal(sniffFormat(gzip).format, undefined);
    assert.equal(sniffFormat(gzip).seen, 'gzip');
    assert.equal(sniffFormat(new Uint8Array(1024)).format, 'raw');
  });
});
