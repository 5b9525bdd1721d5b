/** Registry references and WWW-Authenticate challenges: the grammars, and hostile strings refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges } from '../../../src/shared/oci/auth.js';
import { formatReference, parseReference } from '../../../src/shared/oci/reference.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('registry references', () => {
  it('parses host, port, nested repository, tag and digest, with or without a prefix', () => {
    assert.deepEqual(parseReference('registry.egi.eu/egi_vm_images/ubuntu:22.04'), {
      registry: 'registry.egi.eu',
      repository: 'egi_vm_images/ubuntu',
      tag: '22.04',
    });
    assert.deepEqual(parseReference(`oci://127.0.0.1:5000/a/b/c@${DIGEST}`), {
      registry: '127.0.0.1:5000',
      repository: 'a/b/c',
      digest: DIGEST,
    });
    const both = parseReference(`docker://Reg.Example.org/vo/img:v1@${DIGEST}`);
    assert.equal(formatReference(both), `reg.example.org/vo/img:v1@${DIGEST}`);
    assert.equal(parseReference('[::1]:443/x').registry, '[::1]:443');
  });

  for (const bad of [
    'ubuntu:22.04',
    '/repo',
    'host/Upper',
    'host/a//b',
    'host/a/../b',
    'host/-a',
    'host/a__-b',
    'host:0/a',
    'host:70000/a',
    'host/a:-tag',
    `host/a:${'t'.repeat(129)}`,
    'host/a@sha256:AB',
    `host/a@sha512:${'ab'.repeat(64)}`,
    'host/a:tag\n',
    'https://host/a',
    `host/${'a'.repeat(260)}`,
  ]) {
    it(`refuses ${JSON.stringify(bad)} with the caller's code`, () => {
      assert.throws(() => parseReference(bad), { code: 'CONFIG_INVALID' });
      assert.throws(() => parseReference(bad, 'LIST_MALFORMED'), { code: 'LIST_MALFORMED' });
    });
  }

  it('refuses credentials in a reference without repeating them', () => {
    assert.throws(
      () => parseReference('user:hunter2@registry.example.org/a:1'),
      (err: Error) => !err.message.includes('hunter2'),
    );
  });
});

describe('WWW-Authenticate challenges', () => {
  it('reads quoted and plain parameters, escapes and several challenges', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:a/b:pull,push"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.example.org/token',
            service: 'registry.example.org',
            scope: 'repository:a/b:pull,push',
          },
        },
      ],
    );
    assert.deepEqual(parseChallenges(['Basic realm="a \\"b\\""', 'Bearer realm=https://x/t']), [
      { scheme: 'basic', params: { realm: 'a "b"' } },
      { scheme: 'bearer', params: { realm: 'https://x/t' } },
    ]);
    assert.deepEqual(parseChallenges(undefined), []);
  });
});
