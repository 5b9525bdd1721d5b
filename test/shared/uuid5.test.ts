import assert from 'node:assert/strict';
import { it } from 'node:test';
import { uuid5, VMICAST_NAMESPACE } from '../../src/shared/uuid5.js';

const DNS_NAMESPACE = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

it('gives the RFC 9562 version 5 UUID of a name (the published DNS example)', () => {
  assert.equal(uuid5('www.example.com', DNS_NAMESPACE), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
});

it('is stable for a name and differs between names, in vmicast namespace', () => {
  const a = uuid5('oci://registry.egi.eu/egi_vm_images/ubuntu:22.04');
  assert.equal(a, uuid5('oci://registry.egi.eu/egi_vm_images/ubuntu:22.04'));
  assert.notEqual(a, uuid5('oci://registry.egi.eu/egi_vm_images/ubuntu:24.04'));
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(VMICAST_NAMESPACE, DNS_NAMESPACE);
});
