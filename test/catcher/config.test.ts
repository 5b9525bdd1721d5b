import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../src/catcher/config.js';
import { VmiError } from '../../src/shared/errors.js';

const HOME = '/var/lib/vmicatcher-test';
const ENV = { VMCATCHER_DIR_CERT: '/etc/test-ca', X509_VOMS_DIR: '/etc/test-voms' };

function refusal(raw: unknown): string {
  try {
    resolveConfig(raw, HOME, ENV);
  } catch (err) {
    if (err instanceof VmiError && err.code === 'CONFIG_INVALID') return err.message;
    throw err;
  }
  assert.fail('configuration was accepted');
}

/** Every key that has a default: the values the catcher used before they moved into the schema. */
describe('catcher configuration: defaults from the schema, frozen', () => {
  it('fills every default of an empty file, the environment-dependent ones from home and env', () => {
    const config = resolveConfig({}, HOME, ENV);
    assert.deepEqual(config, {
      home: HOME,
      caDir: '/etc/test-ca',
      vomsDir: '/etc/test-voms',
      schedule: '50 */6 * * *',
      trust: {
        crl: 'require',
        allowSha1: false,
        purpose: 'smime',
        crlByAnchor: {},
        allowEndorserMismatch: false,
      },
      cache: {
        dir: join(HOME, 'cache'),
        partialDir: join(HOME, 'partial'),
        expiredDir: join(HOME, 'expired'),
        retentionDays: 7,
      },
      lists: { maxBytes: 16 * 1024 * 1024, timeoutSeconds: 60, clockSkewSeconds: 300, maxAgeDays: null },
      downloads: {
        parallel: 4,
        perHost: 2,
        attempts: 5,
        backoffSeconds: 2,
        maxBackoffSeconds: 300,
        stallSeconds: 60,
        minBytesPerSecond: 16 * 1024,
        throughputWindowSeconds: 60,
        minFreeBytes: 256 * 1024 * 1024,
        caFile: null,
      },
      graceHours: 24,
      status: { listen: '127.0.0.1:9465', tokenFile: null },
      backends: [],
    });
  });

  it('keeps the defaults of a section the file sets in part, and the file home for the cache', () => {
    const config = resolveConfig(
      { home: '/srv/catcher', trust: { crl: 'off' }, downloads: { parallel: 8 }, lists: { maxAgeDays: 30 } },
      HOME,
      ENV,
    );
    assert.equal(config.trust.crl, 'off');
    assert.equal(config.trust.purpose, 'smime');
    assert.equal(config.downloads.parallel, 8);
    assert.equal(config.downloads.perHost, 2);
    assert.equal(config.lists.maxAgeDays, 30);
    assert.equal(config.lists.timeoutSeconds, 60);
    assert.equal(config.cache.dir, join('/srv/catcher', 'cache'));
  });

  it('fills backend defaults (exec timeout, directory link) and adds vmcatcher hook as an exec backend', () => {
    const config = resolveConfig(
      { backends: [{ type: 'directory', name: 'site', path: '/srv/images' }] },
      HOME,
      { ...ENV, VMCATCHER_CACHE_EVENT: '/usr/bin/handler', VMCATCHER_CACHE_DIR_CACHE: '/srv/cache' },
    );
    assert.deepEqual(config.backends, [
      { type: 'directory', name: 'site', path: '/srv/images', link: true },
      { type: 'exec', name: 'vmcatcher-event', command: '/usr/bin/handler', timeoutSeconds: 600 },
    ]);
    assert.equal(config.cache.dir, '/srv/cache');
    const exec = resolveConfig({ backends: [{ type: 'exec', name: 'h', command: 'true' }] }, HOME, ENV);
    assert.deepEqual(exec.backends, [{ type: 'exec', name: 'h', command: 'true', timeoutSeconds: 600 }]);
  });

  it('freezes the whole result and leaves the caller object as it was', () => {
    const raw = {
      trust: { crlByAnchor: { '/CN=A': 'off' } },
      backends: [{ type: 'exec', name: 'h', command: 'x' }],
    };
    const copy = structuredClone(raw);
    const config = resolveConfig(raw, HOME, ENV);
    assert.deepEqual(raw, copy);
    for (const part of [
      config,
      config.trust,
      config.trust.crlByAnchor,
      config.cache,
      config.backends,
      config.backends[0],
    ]) {
      assert.ok(Object.isFrozen(part));
    }
    assert.throws(() => {
      (config.downloads as { parallel: number }).parallel = 1;
    }, TypeError);
  });

  it('refuses a bad file with CONFIG_INVALID naming the key, as before', () => {
    assert.equal(refusal({ lists: { maxBytes: 10 } }), 'configuration /lists/maxBytes must be >= 1024');
    assert.match(refusal({ extra: 1 }), /^configuration +must NOT have additional properties$/);
    assert.equal(
      refusal({ trust: { crl: 'sometimes' } }),
      'configuration /trust/crl must be equal to one of the allowed values',
    );
    assert.equal(
      refusal({
        backends: [
          { type: 'exec', name: 'h', command: 'x' },
          { type: 'exec', name: 'h', command: 'y' },
        ],
      }),
      'two backends are named h',
    );
    assert.match(refusal({ backends: [{ type: 'ftp', name: 'x' }] }), /^configuration \/backends\/0/);
  });
});
