import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/caster/context.js';
import { parsePushBody } from '../../src/caster/serve/pushschema.js';
import { VmiError } from '../../src/shared/errors.js';
import { deepFreeze, describeSchemaError, validatorFor } from '../../src/shared/schema.js';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../..', import.meta.url).pathname;

describe('the shared validator (src/shared/schema.ts)', () => {
  it('loads Ajv only when a validator is first called, not when the schema modules are imported', () => {
    const script = `
      const { createRequire } = await import('node:module');
      const cache = createRequire(import.meta.url).cache;
      const ajvLoaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/ajv/'));
      const { resolveConfig } = await import('./src/catcher/config.ts');
      await import('./src/caster/context.ts');
      await import('./src/caster/serve/pushschema.ts');
      await import('./src/shared/imagelist/parse.ts');
      await import('./src/catcher/backends/glance/backend.ts');
      const before = ajvLoaded();
      resolveConfig({}, '/tmp/home');
      console.log(JSON.stringify([before, ajvLoaded()]));`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), [false, true]);
  });

  it('fills schema defaults and reports the errors of the last call', () => {
    const schema = {
      type: 'object',
      additionalProperties: false,
      properties: { n: { type: 'integer', default: 3 } },
    } as const;
    const validate = validatorFor<{ n: number }>(schema);
    assert.equal(validate.errors, undefined);
    const value: unknown = {};
    assert.ok(validate(value));
    assert.deepEqual(value, { n: 3 });
    assert.equal(validate({ n: 'x' }), false);
    assert.equal(describeSchemaError(validate.errors), 'n must be integer');
    assert.equal(validate({ n: 1 }), true);
  });

  it('deep-freezes nested objects and arrays', () => {
    const value = deepFreeze({ a: { b: [{ c: 1 }] } });
    assert.ok(Object.isFrozen(value.a.b[0]));
    assert.ok(Object.isFrozen(value.a.b));
  });

  it('freezes the caster configuration and keeps its refusal message', async () => {
    const dir = await tempDir('vmicast-schema-');
    const good = join(dir, 'good.yaml');
    await writeFile(good, 'lifetimeDays: 30\ndigest: sha512\n');
    const config = await loadConfig(good);
    assert.deepEqual(config, { lifetimeDays: 30, digest: 'sha512' });
    assert.ok(Object.isFrozen(config));
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'digest: md5\n');
    await assert.rejects(
      loadConfig(bad),
      (err: unknown) =>
        err instanceof VmiError &&
        err.code === 'CONFIG_INVALID' &&
        err.message === `${bad}: /digest must be equal to one of the allowed values`,
    );
  });

  it('freezes a parsed push body down to its images', () => {
    const image = {
      role: 'head',
      title: 'Head',
      uri: 'https://images.example.org/head.qcow2',
      size: 1,
      sha512: 'A'.repeat(128),
      os: 'linux',
      osversion: '9',
      arch: 'x86_64',
      hypervisor: 'qemu',
      format: 'qcow2',
      attributes: { 'ad:user:fullname': 'x' },
    };
    const body = parsePushBody(
      new TextEncoder().encode(JSON.stringify({ title: 't', version: '1', images: [image] })),
    );
    const [first] = body.images;
    assert.ok(first !== undefined && 'sha512' in first);
    assert.equal(first.sha512, 'a'.repeat(128));
    assert.ok(Object.isFrozen(body) && Object.isFrozen(body.images) && Object.isFrozen(first));
    assert.ok(Object.isFrozen(first.attributes));
  });
});
