import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiscoveredArtefact } from '../../src/catcher/registry/discover.js';
import { artefactEntry, registryIdentifier } from '../../src/catcher/registry/entry.js';
import { validateImage } from '../../src/shared/imagelist/schema.js';
import { pendingSha512 } from '../../src/shared/oci/blob-url.js';

/**
 * Issue 15, item 4: the entry a registry artefact becomes, as EGI's central sync names and
 * describes it in Glance. The layer annotations are the registry's words and hostile.
 */

const LAYER_HEX = 'a'.repeat(64);
const MANIFEST_HEX = 'b'.repeat(64);

function artefact(
  annotations: Record<string, string>,
  change: Partial<DiscoveredArtefact> = {},
): DiscoveredArtefact {
  return {
    registry: 'registry.egi.eu',
    repository: 'egi_vm_images/ubuntu',
    tag: '22.04',
    manifestDigest: `sha256:${MANIFEST_HEX}`,
    layer: {
      digest: `sha256:${LAYER_HEX}`,
      size: 1234567,
      mediaType: 'application/x-qemu-disk',
      annotations,
    },
    manifestAnnotations: { 'org.opencontainers.image.revision': '4d7122d6' },
    referrers: [],
    ...change,
  };
}

const EGI = {
  'org.opencontainers.image.title': 'ubuntu-22.04.qcow2',
  'org.openstack.glance.disk_format': 'qcow2',
  'org.openstack.glance.container_format': 'bare',
  'org.openstack.glance.os_distro': 'ubuntu',
  'org.openstack.glance.os_version': '22.04',
  'org.openstack.glance.os_type': 'linux',
  'org.openstack.glance.os_admin_user': 'ubuntu',
  'org.openstack.glance.architecture': 'x86_64',
  'eu.egi.cloud.tag': '2025-09-04-4d7122d6',
  'eu.egi.cloud.description': 'Ubuntu 22.04 for the EGI Federated Cloud',
};

describe('registry artefact entries', () => {
  it('maps an EGI artefact as EGI sites know it', () => {
    const image = artefactEntry(artefact(EGI));
    const id = registryIdentifier('registry.egi.eu', 'egi_vm_images/ubuntu', '22.04');
    const uri = `https://registry.egi.eu/v2/egi_vm_images/ubuntu/blobs/sha256:${LAYER_HEX}`;
    assert.equal(image.identifier, id);
    assert.equal(image.title, 'registry.egi.eu egi_vm_images/ubuntu:22.04');
    assert.equal(image.description, 'Ubuntu 22.04 for the EGI Federated Cloud');
    assert.equal(image.uri, uri);
    assert.equal(image.size, 1234567);
    assert.equal(image.version, '2025-09-04-4d7122d6');
    assert.equal(image.format, 'qcow2');
    assert.equal(image.os, 'Linux');
    assert.equal(image.osVersion, '22.04');
    assert.equal(image.arch, 'x86_64');
    assert.equal(image.sha512, pendingSha512(LAYER_HEX));
    assert.deepEqual(image.supersedes, []);
    assert.deepEqual(image.entry, {
      ...EGI,
      'dc:identifier': id,
      'dc:title': 'registry.egi.eu egi_vm_images/ubuntu:22.04',
      'dc:description': 'Ubuntu 22.04 for the EGI Federated Cloud',
      'hv:uri': uri,
      'hv:size': 1234567,
      'hv:version': '2025-09-04-4d7122d6',
      'hv:format': 'qcow2',
      'hv:hypervisor': 'QEMU,KVM',
      'sl:os': 'Linux',
      'sl:osname': 'ubuntu',
      'sl:osversion': '22.04',
      'sl:arch': 'x86_64',
      'sl:comments': '',
      'ad:mpuri': `registry.egi.eu/egi_vm_images/ubuntu:22.04-sha256:${MANIFEST_HEX}`,
      'eu.egi.cloud.image_ref': 'egi_vm_images/ubuntu:22.04',
      'vmi:oci:manifest': `registry.egi.eu/egi_vm_images/ubuntu@sha256:${MANIFEST_HEX}`,
      'vmi:oci:tag': 'registry.egi.eu/egi_vm_images/ubuntu:22.04',
    });
    // No SHA-512 in the entry: measuring the bytes later must not change the stored entry.
    assert.ok(!('sl:checksum:sha512' in image.entry));
    // With the measured SHA-512 the entry is a valid list entry.
    const measured = 'c'.repeat(128);
    const known = artefactEntry(artefact(EGI), measured);
    assert.equal(known.sha512, measured);
    assert.deepEqual(known.entry, image.entry);
    assert.ok(validateImage({ ...known.entry, 'sl:checksum:sha512': measured }));
  });

  it('falls back for the description, and defaults the formats to raw and bare', () => {
    const titled = artefactEntry(artefact({ 'eu.egi.cloud.tag': 't', 'eu.egi.cloud.image.title': 'Alma 9' }));
    assert.equal(titled.description, 'Alma 9');
    assert.equal(titled.entry['dc:description'], 'Alma 9');
    assert.equal(titled.format, 'raw');
    assert.equal(titled.entry['hv:format'], 'raw');
    assert.equal(titled.entry['org.openstack.glance.container_format'], 'bare');
    assert.equal(titled.arch, 'x86_64');
    assert.equal(titled.entry['sl:osversion'], '');
    assert.ok(!('sl:osname' in titled.entry));
    const bare = artefactEntry(artefact({ 'eu.egi.cloud.tag': 't' }));
    assert.equal(bare.description, 'registry.egi.eu egi_vm_images/ubuntu:22.04');
    assert.equal(bare.entry['dc:description'], bare.title);
    const windows = artefactEntry(
      artefact({ 'eu.egi.cloud.tag': 't', 'org.openstack.glance.os_type': 'WINDOWS' }),
    );
    assert.equal(windows.os, 'Windows');
    assert.equal(windows.entry['sl:os'], 'Windows');
  });

  it('keeps the referrers (an SBOM) when there are any', () => {
    const sbom = {
      digest: `sha256:${'d'.repeat(64)}`,
      artifactType: 'application/vnd.cyclonedx+json',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 812,
    };
    const image = artefactEntry(artefact(EGI, { referrers: [sbom] }));
    assert.deepEqual(image.entry['vmi:oci:referrers'], [sbom]);
  });

  it('lets no annotation override a key vmicast sets', () => {
    const hostile = {
      ...EGI,
      'dc:identifier': '../../etc/passwd',
      'hv:uri': 'https://evil.example/disk.img',
      'ad:mpuri': 'https://evil.example/',
      'sl:checksum:sha512': 'e'.repeat(128),
      'eu.egi.cloud.image_ref': 'other/repo:1',
      'vmi:oci:manifest': 'evil.example/x@sha256:00',
    };
    const image = artefactEntry(artefact(hostile));
    const plain = artefactEntry(artefact(EGI));
    assert.deepEqual(image.entry, plain.entry);
    assert.equal(image.identifier, plain.identifier);
    assert.equal(image.uri, plain.uri);
  });

  it('drops annotations with bad keys or values, not the artefact', () => {
    const image = artefactEntry(
      artefact({
        ...EGI,
        nodot: 'x',
        [`org.example.${'k'.repeat(120)}`]: 'too long a key',
        'org.example/slash': 'x',
        'org.example.long': 'v'.repeat(4097),
        'org.example.nul': 'a\u0000b',
        'org.example.escape': 'a\u001b[31mred',
        'org.example.ok': 'line one\n\tline two',
        'eu.egi.cloud.description': `bad\u0007bell`,
        'eu.egi.cloud.image.title': 'Ubuntu fallback',
        'org.openstack.glance.disk_format': 'qcow2; rm -rf /',
        'org.openstack.glance.os_version': 'x'.repeat(300),
      }),
    );
    const copied = Object.keys(image.entry).filter((k) => k.startsWith('org.example.'));
    assert.deepEqual(copied, ['org.example.ok']);
    assert.ok(!('nodot' in image.entry));
    assert.equal(image.description, 'Ubuntu fallback');
    assert.equal(image.format, 'raw');
    assert.equal(image.osVersion, '');
    assert.equal(image.entry['sl:osversion'], '');
  });

  it('gives each (registry, repository, tag) its own stable identifier', () => {
    const id = registryIdentifier('registry.egi.eu', 'egi_vm_images/ubuntu', '22.04');
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(registryIdentifier('registry.egi.eu', 'egi_vm_images/ubuntu', '22.04'), id);
    const others = [
      registryIdentifier('registry.egi.eu', 'egi_vm_images/ubuntu', '24.04'),
      registryIdentifier('registry.egi.eu', 'egi_vm_images/ubuntu2', '22.04'),
      registryIdentifier('registry.example.org', 'egi_vm_images/ubuntu', '22.04'),
      registryIdentifier('registry.egi.eu:443', 'egi_vm_images/ubuntu', '22.04'),
    ];
    assert.equal(new Set([id, ...others]).size, 5);
    // The tag names the image, not the digest it points to now: a moving tag keeps its id.
    const moved = artefactEntry(artefact(EGI, { manifestDigest: `sha256:${'f'.repeat(64)}` }));
    assert.equal(moved.identifier, id);
  });
});
