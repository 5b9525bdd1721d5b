import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GlanceImage } from '../../../src/catcher/backends/glance/client.js';
import {
  entryProperties,
  glanceArchitecture,
  glanceImageName,
  heldImages,
  patchTowards,
} from '../../../src/catcher/backends/glance/properties.js';
import type { ImageRecord } from '../../../src/catcher/backends/types.js';

function record(
  entry: Record<string, string | number | string[]>,
  over: Partial<ImageRecord> = {},
): ImageRecord {
  return {
    identifier: 'img-1',
    listIdentifier: 'list-1',
    vo: undefined,
    title: 'Image',
    description: 'Described',
    version: '1.2',
    sha512: 'ab'.repeat(64),
    size: 10,
    declaredFormat: undefined,
    appliance: undefined,
    supersedes: [],
    entry: { 'dc:identifier': 'img-1', ...entry },
    ...over,
  };
}

function glanceImage(id: string, props: Record<string, unknown>): GlanceImage {
  return {
    id,
    name: id,
    status: 'active',
    size: 1,
    visibility: 'private',
    protected: false,
    owner: null,
    disk_format: 'raw',
    container_format: 'bare',
    ...props,
  };
}

describe('Glance property mapping', () => {
  it('maps a full entry to the cloud-info-provider properties, all strings', () => {
    const image = record(
      {
        'ad:mpuri': 'https://appdb/x:1/',
        'ad:base_mpuri': 'https://appdb/x/',
        'sl:osname': 'Ubuntu',
        'sl:os': 'Linux',
        'sl:osversion': '22.04',
        'sl:arch': 'amd64',
        'hv:ram_minimum': 2048,
      },
      { vo: 'vo.example.org', appliance: 'app-1', supersedes: ['p1', 'p0'] },
    );
    const props = entryProperties(image, 'site');
    assert.deepEqual(props, {
      vmcatcher_event_ad_mpuri: 'https://appdb/x:1/',
      vmcatcher_event_dc_description: 'Described',
      vmcatcher_event_dc_identifier: 'img-1',
      vmcatcher_event_hv_version: '1.2',
      vmcatcher_event_sl_checksum_sha512: 'ab'.repeat(64),
      os_distro: 'ubuntu',
      os_version: '22.04',
      architecture: 'x86_64',
      APPLIANCE_ATTRIBUTES: JSON.stringify(image.entry),
      vmicast_backend: 'site',
      vmicast_list_identifier: 'list-1',
      vmicast_vo: 'vo.example.org',
      vmicast_appliance: 'app-1',
      vmicast_supersedes: 'p1 p0',
    });
    const attributes = JSON.parse(props['APPLIANCE_ATTRIBUTES']) as Record<string, unknown>;
    assert.equal(attributes['ad:base_mpuri'], 'https://appdb/x/');
  });

  it('leaves out what the entry does not say, and falls back from sl:osname to sl:os', () => {
    const props = entryProperties(record({ 'sl:os': 'Linux' }), 'site');
    assert.equal(props['os_distro'], 'linux');
    for (const absent of [
      'vmcatcher_event_ad_mpuri',
      'os_version',
      'architecture',
      'vmicast_vo',
      'vmicast_supersedes',
    ]) {
      assert.equal(absent in props, false, absent);
    }
  });

  it('names architectures as Glance does', () => {
    assert.deepEqual(['x86_64', 'AMD64', 'arm64', 'i386', 'ppc64le'].map(glanceArchitecture), [
      'x86_64',
      'x86_64',
      'aarch64',
      'i686',
      'ppc64le',
    ]);
  });

  it('names images after the title, numbers disks, and keeps within 255 characters', () => {
    assert.equal(glanceImageName('CentOS 9', 0, 1), 'CentOS 9');
    assert.equal(glanceImageName('Cluster', 1, 3), 'Cluster (disk 2)');
    const long = glanceImageName('x'.repeat(400), 0, 2);
    assert.equal(long.length, 255);
    assert.ok(long.endsWith(' (disk 1)'));
    assert.equal(glanceImageName('  ', 0, 1), 'image');
  });

  it('patches only what differs and removes managed keys no longer wanted', () => {
    const current = glanceImage('a', { kept: 'same', changed: 'old', dropped: 'x', foreign: 'y' });
    assert.deepEqual(
      patchTowards(current, { kept: 'same', changed: 'new', added: 'z' }, ['dropped', 'missing']),
      [
        { op: 'replace', path: '/changed', value: 'new' },
        { op: 'add', path: '/added', value: 'z' },
        { op: 'remove', path: '/dropped' },
      ],
    );
  });

  it('groups images per identifier and digest, refs in disk order, complete groups only', () => {
    const mark = (
      id: string,
      identifier: string,
      sha: string,
      index: number,
      count: number,
      extra = {},
    ): GlanceImage =>
      glanceImage(id, {
        vmcatcher_event_dc_identifier: identifier,
        vmcatcher_event_sl_checksum_sha512: sha,
        vmicast_disk_index: String(index),
        vmicast_disk_count: String(count),
        ...extra,
      });
    const held = heldImages([
      mark('b-disk2', 'b', 's1', 1, 2),
      mark('b-disk1', 'b', 's1', 0, 2, { vmicast_deprecated: 'true' }),
      mark('a-old', 'a', 's0', 0, 1, { status: 'deactivated' }),
      mark('a-new', 'a', 's9', 0, 1),
      mark('c-half', 'c', 's2', 0, 2),
      mark('d-queued', 'd', 's3', 0, 1, { status: 'queued' }),
      glanceImage('no-identifier', {}),
    ]);
    assert.deepEqual(held, [
      { identifier: 'a', sha512: 's0', refs: ['a-old'], deprecated: true },
      { identifier: 'a', sha512: 's9', refs: ['a-new'], deprecated: false },
      { identifier: 'b', sha512: 's1', refs: ['b-disk1', 'b-disk2'], deprecated: true },
    ]);
  });
});
