/** A TLS server certificate for 127.0.0.1 issued by a test CA (for https test servers). */
import * as asn1js from 'asn1js';
import { issue, type TestCert } from './x509.js';

export function localhostServerCert(issuer: TestCert): TestCert {
  const san = new asn1js.Sequence({
    value: [
      new asn1js.Primitive({
        idBlock: { tagClass: 3, tagNumber: 7 },
        valueHex: new Uint8Array([127, 0, 0, 1]),
      }),
      new asn1js.Primitive({
        idBlock: { tagClass: 3, tagNumber: 2 },
        valueHex: new TextEncoder().encode('localhost'),
      }),
    ],
  });
  return issue({
    subject: '/DC=org/DC=example/O=Hosts/CN=localhost',
    issuer,
    ca: false,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: ['serverAuth'],
    extensions: [{ oid: '2.5.29.17', critical: false, value: new Uint8Array(san.toBER()) }],
  });
}
