import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { glanceConfigSchema, resolveGlanceConfig } from '../../../src/catcher/backends/glance/config.js';
import { createGlanceBackend } from '../../../src/catcher/backends/glance/create.js';
import { VmiError } from '../../../src/shared/errors.js';

const SECRET = 'hunter2-secret';
const passwordAuth = {
  url: 'https://keystone.example.org:5000/v3',
  username: 'svc',
  password: SECRET,
  project: 'images',
};

function configError(raw: unknown): VmiError {
  try {
    resolveGlanceConfig(raw);
  } catch (err) {
    if (err instanceof VmiError) return err;
    throw err;
  }
  assert.fail('configuration was accepted');
}

describe('Glance backend configuration', () => {
  it('applies defaults and freezes a no-auth configuration', () => {
    const config = resolveGlanceConfig({
      type: 'glance',
      name: 'test-glance',
      endpoint: 'http://127.0.0.1:9292',
    });
    assert.equal(config.visibility, 'private');
    assert.equal(config.timeoutSeconds, 120);
    assert.equal(config.auth, undefined);
    assert.ok(Object.isFrozen(config));
  });

  it('accepts password and application-credential auth with projects, visibility and format', () => {
    const password = resolveGlanceConfig({
      type: 'glance',
      name: 'site',
      auth: {
        ...passwordAuth,
        userDomain: 'Default',
        projectDomain: 'Default',
        region: 'RegionOne',
        interface: 'internal',
      },
      projects: { 'vo.example.org': 'a1b2' },
      visibility: 'shared',
      diskFormat: 'qcow2',
      caFile: '/etc/ssl/site-ca.pem',
      timeoutSeconds: 30,
    });
    assert.equal(password.visibility, 'shared');
    assert.ok(Object.isFrozen(password.auth));
    assert.ok(Object.isFrozen(password.projects));
    const appCred = resolveGlanceConfig({
      type: 'glance',
      name: 'site',
      auth: {
        url: 'https://k.example.org/v3',
        applicationCredentialId: 'id',
        applicationCredentialSecret: SECRET,
      },
    });
    assert.equal(appCred.visibility, 'private');
  });

  const invalid: [string, unknown][] = [
    ['neither endpoint nor auth', { type: 'glance', name: 'g' }],
    ['an unknown key', { type: 'glance', name: 'g', endpoint: 'http://h', extra: 1 }],
    ['a bad visibility', { type: 'glance', name: 'g', endpoint: 'http://h', visibility: 'community' }],
    ['an unknown disk format', { type: 'glance', name: 'g', endpoint: 'http://h', diskFormat: 'iso' }],
    ['a non-HTTP endpoint', { type: 'glance', name: 'g', endpoint: 'ftp://h' }],
    ['credentials in the endpoint URL', { type: 'glance', name: 'g', endpoint: 'http://user:pw@h' }],
    [
      'password and application credential mixed',
      { type: 'glance', name: 'g', auth: { ...passwordAuth, applicationCredentialId: 'x' } },
    ],
    [
      'a password without project',
      { type: 'glance', name: 'g', auth: { ...passwordAuth, project: undefined } },
    ],
    [
      'a non-string project mapping',
      { type: 'glance', name: 'g', endpoint: 'http://h', projects: { vo: 5 } },
    ],
    ['a zero timeout', { type: 'glance', name: 'g', endpoint: 'http://h', timeoutSeconds: 0 }],
    ['a bad name', { type: 'glance', name: 'a b', endpoint: 'http://h' }],
    [
      'a test identity next to Keystone auth',
      {
        type: 'glance',
        name: 'g',
        auth: passwordAuth,
        testIdentity: { projectId: 'p', userId: 'u', roles: ['admin'] },
      },
    ],
    [
      'a test identity with a header-breaking project',
      {
        type: 'glance',
        name: 'g',
        endpoint: 'http://h',
        testIdentity: { projectId: 'p\r\nx: y', userId: 'u', roles: ['r'] },
      },
    ],
  ];
  for (const [what, raw] of invalid) {
    it(`refuses ${what} with CONFIG_INVALID, without echoing secrets`, () => {
      const err = configError(JSON.parse(JSON.stringify(raw)));
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.doesNotMatch(err.message, new RegExp(SECRET));
    });
  }

  it('compiles in a strict ajv, as the catcher configuration uses it', () => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    const validate = ajv.compile(glanceConfigSchema);
    assert.equal(validate({ type: 'glance', name: 'g', endpoint: 'https://glance.example.org' }), true);
    assert.equal(validate({ type: 'glance', name: 'g' }), false);
  });

  it('refuses an unreadable caFile with CONFIG_INVALID', () => {
    assert.throws(
      () =>
        createGlanceBackend({
          type: 'glance',
          name: 'g',
          endpoint: 'https://h',
          caFile: '/nonexistent/ca.pem',
        }),
      (err: unknown) => err instanceof VmiError && err.code === 'CONFIG_INVALID',
    );
  });
});
