import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VmiError, type ErrorCode } from '../../../src/shared/errors.js';
import { parseOvfDisks } from '../../../src/shared/format/ovf.js';
import { tokenizeXml } from '../../../src/shared/format/xml.js';
import { makeOvf } from './images.js';

function throwsCode(action: () => unknown, code: ErrorCode, fragment: string): void {
  assert.throws(action, (err: unknown) => {
    assert.ok(err instanceof VmiError);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(fragment), err.message);
    return true;
  });
}

const TWO_FILES = [
  { id: 'file1', href: 'vm-disk1.vmdk' },
  { id: 'file2', href: 'vm-disk2.vmdk' },
];

describe('OVF descriptor: disks in virtual machine order', () => {
  it('follows the drive slots, not the References order', () => {
    const disks = parseOvfDisks(makeOvf(TWO_FILES, ['file2', 'file1']));
    assert.deepEqual(
      disks.map((d) => d.href),
      ['vm-disk2.vmdk', 'vm-disk1.vmdk'],
    );
    assert.deepEqual(
      disks.map((d) => d.diskId),
      ['disk-file2', 'disk-file1'],
    );
  });

  it('orders by controller first, then AddressOnParent, and keeps unattached disks last', () => {
    const ovf = `<ovf:Envelope xmlns:ovf="urn:ovf" xmlns:rasd="urn:rasd">
  <ovf:References>
    <ovf:File ovf:id="a" ovf:href="a.vmdk"/><ovf:File ovf:id="b" ovf:href="b.vmdk"/>
    <ovf:File ovf:id="c" ovf:href="c.vmdk"/><ovf:File ovf:id="d" ovf:href="d.vmdk"/>
  </ovf:References>
  <ovf:DiskSection>
    <ovf:Disk ovf:diskId="da" ovf:fileRef="a"/><ovf:Disk ovf:diskId="db" ovf:fileRef="b"/>
    <ovf:Disk ovf:diskId="dc" ovf:fileRef="c"/><ovf:Disk ovf:diskId="dd" ovf:fileRef="d"/>
    <ovf:Disk ovf:diskId="blank" ovf:capacity="1073741824"/>
  </ovf:DiskSection>
  <ovf:VirtualSystem ovf:id="vm"><ovf:VirtualHardwareSection>
    <ovf:Item><rasd:InstanceID>7</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></ovf:Item>
    <ovf:Item><rasd:HostResource>ovf:/disk/dc</rasd:HostResource><rasd:Parent>8</rasd:Parent>
      <rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ResourceType>17</rasd:ResourceType></ovf:Item>
    <ovf:Item><rasd:HostResource>ovf:/disk/db</rasd:HostResource><rasd:Parent>7</rasd:Parent>
      <rasd:AddressOnParent>1</rasd:AddressOnParent><rasd:ResourceType>17</rasd:ResourceType></ovf:Item>
    <ovf:Item><rasd:HostResource>ovf:/disk/da</rasd:HostResource><rasd:Parent>7</rasd:Parent>
      <rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ResourceType>17</rasd:ResourceType></ovf:Item>
    <ovf:Item><rasd:InstanceID>8</rasd:InstanceID><rasd:ResourceType>20</rasd:ResourceType></ovf:Item>
    <ovf:Item><rasd:HostResource>ovf:/disk/blank</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></ovf:Item>
  </ovf:VirtualHardwareSection></ovf:VirtualSystem>
</ovf:Envelope>`;
    assert.deepEqual(
      parseOvfDisks(ovf).map((d) => d.href),
      ['a.vmdk', 'b.vmdk', 'c.vmdk', 'd.vmdk'],
    );
  });

  it('reads OVF 2 StorageItems, character references, comments and CDATA', () => {
    const ovf = `<?xml version="1.0"?>
<!-- exported by a tool -->
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2" xmlns:sasd="urn:sasd">
  <References><File id="f1" href="boot&amp;data.vmdk"/><File id='f2' href="second&#46;qcow2"/></References>
  <DiskSection><Disk diskId="d1" fileRef="f1" format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk diskId="d2" fileRef="f2"/></DiskSection>
  <VirtualSystem id="vm"><VirtualHardwareSection>
    <StorageItem><sasd:HostResource><![CDATA[ovf:/disk/d2]]></sasd:HostResource><sasd:ResourceType>17</sasd:ResourceType></StorageItem>
    <StorageItem><sasd:HostResource>ovf:/disk/d1</sasd:HostResource><sasd:ResourceType>17</sasd:ResourceType></StorageItem>
  </VirtualHardwareSection></VirtualSystem>
</Envelope>`;
    const disks = parseOvfDisks(ovf);
    assert.deepEqual(
      disks.map((d) => d.href),
      ['second.qcow2', 'boot&data.vmdk'],
    );
    assert.match(disks[1]?.format ?? '', /streamOptimized$/);
  });

  it('refuses DOCTYPE and ENTITY declarations as unsafe', () => {
    const good = makeOvf(TWO_FILES, ['file1']);
    const withDoctype = good.replace('<Envelope', '<!DOCTYPE Envelope [<!ENTITY x "&#60;">]>\n<Envelope');
    throwsCode(() => parseOvfDisks(withDoctype), 'ARCHIVE_UNSAFE', 'DOCTYPE or ENTITY');
    const laughs = `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><Envelope>&lol2;</Envelope>`;
    throwsCode(() => parseOvfDisks(laughs), 'ARCHIVE_UNSAFE', 'entity expansion');
  });

  it('refuses what is not a well-formed OVF envelope', () => {
    const cases: [string, string][] = [
      ['dummy ovf\n', 'is not XML'],
      ['<Envelope/> trailing', 'text outside the root element'],
      ['<Other/>', 'not an OVF Envelope'],
      ['<Envelope><References></Envelope>', 'unexpected </Envelope>'],
      ['<Envelope>', 'never closed'],
      ['<Envelope/><Envelope/>', 'a second root element'],
      ['<Envelope a="1" a="2"/>', 'given twice'],
      ['<Envelope a=1/>', 'not quoted'],
      ['<Envelope>&ext;</Envelope>', 'unknown entity'],
      ['<Envelope>a & b</Envelope>', 'bare "&"'],
      ['', 'no root element'],
      [`${'<a>'.repeat(100)}${'</a>'.repeat(100)}`, 'nesting deeper than 64'],
    ];
    for (const [xml, fragment] of cases) throwsCode(() => parseOvfDisks(xml), 'FORMAT_UNSUPPORTED', fragment);
  });

  it('refuses disks that cannot come from the archive itself', () => {
    const chunked = makeOvf(TWO_FILES, ['file1']).replace(
      'ovf:href="vm-disk1.vmdk"',
      'ovf:href="vm-disk1.vmdk" ovf:chunkSize="1024"',
    );
    throwsCode(() => parseOvfDisks(chunked), 'FORMAT_UNSUPPORTED', 'split in chunks');
    const remote = makeOvf(TWO_FILES, ['file1']).replace('vm-disk1.vmdk', 'http://example.org/disk.vmdk');
    throwsCode(() => parseOvfDisks(remote), 'FORMAT_UNSUPPORTED', 'outside the archive');
    const dangling = makeOvf(TWO_FILES, ['file1']).replace('ovf:fileRef="file1"', 'ovf:fileRef="nothing"');
    throwsCode(() => parseOvfDisks(dangling), 'FORMAT_UNSUPPORTED', 'refers to a missing File');
    const unknownDisk = makeOvf(TWO_FILES, ['file1']).replace('ovf:/disk/disk-file1', 'ovf:/disk/ghost');
    throwsCode(() => parseOvfDisks(unknownDisk), 'FORMAT_UNSUPPORTED', 'DiskSection lacks');
  });

  it('tokenizes a large descriptor in one loop without recursion', () => {
    const items = Array.from({ length: 5000 }, (_, i) => `<Item><InstanceID>${i}</InstanceID></Item>`).join(
      '',
    );
    const events = tokenizeXml(`<Envelope>${items}</Envelope>`);
    assert.equal(events.filter((e) => e.kind === 'open').length, 10_001);
  });
});
