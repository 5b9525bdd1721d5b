/**
 * Issue 17 item 1: what vmicaster writes for readers by default, unit by unit (compat.ts,
 * entries.ts, format.ts) and through the command line (image expiry kept over updates and
 * successors, restamped at renewal; hv:format and sl:osname always present).
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { completeForReaders, dnUuid } from '../../src/caster/compat.js';
import { makeImageEntry } from '../../src/caster/entries.js';
import { sniffOsName } from '../../src/caster/format.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster, casterJson, failureOf, runCaster } from '../helpers/caster-cli.js';
import { issueUser, writeImage } from '../helpers/caster-grid.js';
import { images, makeCasterSite, VO, type CasterSite, type Doc } from '../helpers/caster-site.js';
import { stateFingerprint } from '../helpers/caster-state.js';

const SHA = 'b'.repeat(128);
const DAY = 86_400_000;

function body(image: JsonObject, x509: JsonObject = {}): JsonObject {
  return {
    'dc:title': 'L',
    'dc:description': '',
    'dc:source': '',
    'hv:uri': 'https://example.org/l.smime',
    'ad:vo': VO,
    'hv:endorser': {
      'hv:x509': {
        'hv:dn': '/DC=org/CN=Jane',
        'hv:ca': '/DC=org/CN=CA',
        'hv:email': '',
        'dc:creator': 'Jane',
        ...x509,
      },
    },
    'hv:images': [{ 'hv:image': image }],
  };
}

function firstImage(b: JsonObject): JsonObject {
  return ((b['hv:images'] as JsonObject[])[0] as JsonObject)['hv:image'] as JsonObject;
}

describe('completeForReaders', () => {
  const imageExpires = new Date('2027-03-01T00:00:00Z');

  it('fills what readers need from what vmicaster knows, and keeps what was given', () => {
    const b = body({
      'dc:identifier': 'i-1',
      'dc:title': 'T',
      'sl:osversion': '',
      'ad:mpuri': 'https://appdb/x',
    });
    completeForReaders(b, { imageExpires, signerEmail: 'jane@example.org' });
    assert.equal(b['dc:description'], 'L');
    assert.equal(b['dc:source'], 'https://example.org/l.smime');
    const x509 = (b['hv:endorser'] as JsonObject)['hv:x509'] as JsonObject;
    assert.equal(x509['hv:email'], 'jane@example.org');
    assert.deepEqual(firstImage(b), {
      'dc:identifier': 'i-1',
      'dc:title': 'T',
      'dc:description': 'T',
      'sl:osversion': 'unknown',
      'ad:mpuri': 'https://appdb/x',
      'sl:arch': 'x86_64',
      'sl:os': 'Linux',
      'sl:comments': 'T',
      'hv:hypervisor': 'QEMU,KVM',
      'hv:format': 'raw',
      'sl:osname': 'Linux',
      'ad:group': VO,
      'ad:user:fullname': 'Jane',
      'ad:user:guid': dnUuid('/DC=org/CN=Jane'),
      'ad:user:uri': 'mailto:jane@example.org',
      'dc:date:expires': '2027-03-01T00:00:00Z',
    });
  });

  it("keeps the publisher's earlier end of life and restamps a later one", () => {
    const early = body({ 'dc:identifier': 'a', 'dc:title': 'A', 'dc:date:expires': '2026-12-24T00:00:00Z' });
    completeForReaders(early, { imageExpires });
    assert.equal(firstImage(early)['dc:date:expires'], '2026-12-24T00:00:00Z');
    const late = body({ 'dc:identifier': 'b', 'dc:title': 'B', 'dc:date:expires': '2499-12-31T22:00:00Z' });
    completeForReaders(late, { imageExpires });
    assert.equal(firstImage(late)['dc:date:expires'], '2027-03-01T00:00:00Z');
  });

  it('gives a signer the same version 5 UUID at every publication', () => {
    assert.equal(dnUuid('/DC=org/CN=Jane'), dnUuid('/DC=org/CN=Jane'));
    assert.notEqual(dnUuid('/DC=org/CN=Jane'), dnUuid('/DC=org/CN=John'));
    assert.match(
      dnUuid('/DC=org/CN=Jane'),
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

describe('image entries and content', () => {
  it('carries a future end of life over to new bytes, but not one that has passed', () => {
    const content = { uri: 'https://i.example.org/x', size: 1, sha512: SHA };
    const future = new Date(Date.now() + 30 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const base = { 'dc:title': 'X', 'dc:date:expires': future, 'sl:osname': 'AlmaLinux' };
    const kept = makeImageEntry('x2', {}, content, base, 'USAGE');
    assert.equal(kept['dc:date:expires'], future);
    assert.equal(kept['sl:osname'], 'AlmaLinux');
    const past = makeImageEntry(
      'x3',
      {},
      content,
      { ...base, 'dc:date:expires': '2020-01-01T00:00:00Z' },
      'USAGE',
    );
    assert.equal(past['dc:date:expires'], undefined);
  });

  it('reads sl:osname from an ISO volume label', () => {
    const head = new Uint8Array(64 * 1024);
    head[32768] = 1;
    head.set(new TextEncoder().encode('CD001'), 32769);
    head.set(new TextEncoder().encode('AlmaLinux-9-4-x86_64-dvd'.padEnd(32)), 32768 + 40);
    assert.equal(sniffOsName(head), 'AlmaLinux');
    assert.equal(sniffOsName(new Uint8Array(1024)), undefined);
  });
});

describe('vmicaster command line: image expiry, format and OS name for readers', () => {
  let site: CasterSite;
  before(async () => {
    site = await makeCasterSite();
  });

  const entryOf = (doc: Doc, id: string): JsonObject | undefined =>
    images(doc).find((e) => e['dc:identifier'] === id);

  it('keeps an end of life over update and --supersedes, and moves stamped expiries at renewal', async () => {
    const { env, world } = site;
    const list = await site.newList();
    const a = await writeImage(world, 'e1.img');
    const ending = new Date(Date.now() + 20 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const own = await caster(
      [
        'image',
        'add',
        list,
        '--file',
        a.path,
        '--uri',
        'https://i.example.org/e1',
        '--title',
        'E',
        '--expires',
        ending,
      ],
      { env },
    );
    const b = await writeImage(world, 'e2.img');
    const plain = await caster(
      [
        'image',
        'add',
        list,
        '--file',
        b.path,
        '--uri',
        'https://i.example.org/e2',
        '--title',
        'P',
        '--no-detect-format',
        '--osname',
        'Rocky Linux',
      ],
      { env },
    );
    const c = await writeImage(world, 'e3.img');
    await caster(['image', 'update', list, own, '--file', c.path, '--uri', 'https://i.example.org/e3'], {
      env,
    });
    let doc = await site.show(list);
    assert.equal(entryOf(doc, own)?.['dc:date:expires'], ending, 'kept over image update');
    assert.equal(entryOf(doc, plain)?.['hv:format'], 'raw');
    assert.equal(entryOf(doc, plain)?.['sl:osname'], 'Rocky Linux');
    const d = await writeImage(world, 'e4.img');
    const successor = await caster(
      [
        'image',
        'add',
        list,
        '--file',
        d.path,
        '--uri',
        'https://i.example.org/e4',
        '--title',
        'E',
        '--supersedes',
        own,
      ],
      { env },
    );
    doc = await site.show(list);
    assert.equal(entryOf(doc, successor)?.['dc:date:expires'], ending, 'kept over --supersedes');

    const out = join(world.root, 'expiry.smime');
    const first = await casterJson<{ expires: string }>(
      ['publish', list, '--out', out, '--lifetime-days', '15'],
      { env },
    );
    const published = JSON.parse(await caster(['verify', out, '--json'], { env })) as { list: Doc };
    const stamped = entryOf(published.list, plain)?.['dc:date:expires'];
    assert.equal(
      Date.parse(stamped as string),
      Date.parse(first.expires) + 15 * DAY,
      'one lifetime after the list',
    );
    assert.equal(entryOf(published.list, successor)?.['dc:date:expires'], ending);

    const renewed = await casterJson<{ expires: string }>(
      ['publish', list, '--renew', '--lifetime-days', '20'],
      { env },
    );
    const again = JSON.parse(await caster(['verify', out, '--json'], { env })) as { list: Doc };
    const restamped = entryOf(again.list, plain)?.['dc:date:expires'];
    assert.equal(
      Date.parse(restamped as string),
      Date.parse(renewed.expires) + 20 * DAY,
      'restamped at renewal',
    );
    assert.equal(entryOf(again.list, successor)?.['dc:date:expires'], ending);
  });

  it("takes hv:email and ad:user:uri from the certificate's e-mail, in show and publish alike", async () => {
    const { env, world } = site;
    const user = await issueUser(world, 'Mail User', {
      subject: '/DC=org/DC=example/O=Users/CN=Mail User/emailAddress=mail.user@example.org',
    });
    const vo = 'mail.vo.org';
    await caster(['credential', 'add', '--vo', vo, '--cert', user.certPath, '--key', user.keyPath], { env });
    const list = await site.newList(vo);
    const file = await writeImage(world, 'm.img');
    const id = await caster(
      ['image', 'add', list, '--file', file.path, '--uri', 'https://i.example.org/m', '--title', 'M'],
      { env },
    );
    const shown = await site.show(list);
    const out = join(world.root, 'mail.smime');
    await caster(['publish', list, '--out', out], { env });
    const published = JSON.parse(await caster(['verify', out, '--json'], { env })) as { list: Doc };
    for (const doc of [shown, published.list]) {
      const x509 = (doc['hv:imagelist']['hv:endorser'] as JsonObject)['hv:x509'] as JsonObject;
      assert.equal(x509['hv:email'], 'mail.user@example.org');
      assert.equal(entryOf(doc, id)?.['ad:user:uri'], 'mailto:mail.user@example.org');
      assert.equal(entryOf(doc, id)?.['ad:user:fullname'], 'Mail User');
    }
  });

  it('refuses compressed content without --format, changing nothing', async () => {
    const { env, world } = site;
    const list = await site.newList();
    const out = join(world.root, 'gz.smime');
    await caster(['publish', list, '--out', out], { env });
    const state = await stateFingerprint(world.home, out);
    const gz = await writeImage(world, 'c.img.gz', gzipSync(Buffer.alloc(4096, 1)));
    const refused = await runCaster(
      [
        'image',
        'add',
        list,
        '--file',
        gz.path,
        '--uri',
        'https://i.example.org/c.gz',
        '--title',
        'C',
        '--json',
      ],
      { env },
    );
    assert.equal(failureOf(refused).code, 'USAGE');
    assert.match(refused.stdout, /gzip.*give --format/);
    assert.equal(await stateFingerprint(world.home, out), state);
  });
});
