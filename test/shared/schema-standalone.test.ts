import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runInThisContext } from 'node:vm';
import type { ValidateFunction } from 'ajv';
import '../../src/caster/context.js';
import '../../src/caster/serve/pushschema.js';
import '../../src/catcher/backends/glance/config.js';
import '../../src/catcher/config.js';
import '../../src/shared/imagelist/schema.js';
import { registeredSchemas, schemaKey, standaloneModule, validatorFor } from '../../src/shared/schema.js';
import { ensureBuilt, REPO } from '../helpers/caster-cli.js';
import { makeImage, makeList } from '../helpers/lists.js';

/**
 * The built programs validate with code generated at build time (Ajv standalone, written by
 * scripts/build-validators.mjs); the sources compile the same schemas at run time. Both must
 * say the same of every value: the verdict, the defaults written into it, and the errors.
 */

type Generated = Record<string, ValidateFunction>;

/** Evaluates the generated CommonJS module the way `require` would. */
function evaluate(source: string): Generated {
  const module = { exports: {} as Generated };
  const wrapper = runInThisContext(`(function (require, module, exports) {${source}\n})`) as (
    r: NodeJS.Require,
    m: typeof module,
    e: Generated,
  ) => void;
  wrapper(createRequire(import.meta.url), module, module.exports);
  return module.exports;
}

const glance = {
  type: 'glance',
  name: 'cloud',
  endpoint: 'http://127.0.0.1:9292',
  testIdentity: { projectId: 'p1', userId: 'u1', roles: ['admin'] },
  projects: { 'vo.example.org': 'p2' },
};

const catcherConfig = {
  home: '/var/lib/vmicatcher',
  trust: { crl: 'if-present', crlByAnchor: { '/C=XX/CN=CA': 'off' } },
  lists: { maxAgeDays: 30 },
  downloads: { parallel: 2, caFile: '/etc/ca.pem' },
  backends: [
    { type: 'directory', name: 'dir', path: '/srv/images' },
    { type: 'exec', name: 'hook', command: '/usr/bin/true', maxAttempts: 3 },
    glance,
    {
      type: 'glance',
      name: 'keystone',
      auth: { url: 'https://keystone.example.org:5000', username: 'u', password: 'p', project: 'x' },
    },
  ],
};

const pushBody = {
  title: 't',
  version: '1',
  images: [
    {
      role: 'head',
      title: 'Head',
      uri: 'https://images.example.org/head.qcow2',
      size: 1,
      sha512: 'a'.repeat(128),
      os: 'linux',
      osversion: '9',
      arch: 'x86_64',
      hypervisor: 'qemu',
      format: 'qcow2',
      attributes: { 'ad:user:fullname': 'x' },
    },
  ],
};

const bases: unknown[] = [
  {},
  catcherConfig,
  glance,
  { lifetimeDays: 30, digest: 'sha512' },
  pushBody,
  makeList({
    dn: '/C=XX/CN=Publisher',
    ca: '/C=XX/CN=CA',
    images: [makeImage(), makeImage({ identifier: 'b' })],
  })['hv:imagelist'],
  makeImage()['hv:image'],
];

/** Every base value, and for each of its keys (one level down too): without it, or wrong. */
function samples(): unknown[] {
  const out: unknown[] = [null, 7, 'text', [], ...bases];
  const vary = (value: Record<string, unknown>, set: (v: Record<string, unknown>) => unknown): void => {
    for (const key of Object.keys(value)) {
      for (const wrong of [undefined, 7, 'x', -1, { other: true }, [1]]) {
        const changed = structuredClone(value);
        if (wrong === undefined) Reflect.deleteProperty(changed, key);
        else changed[key] = wrong;
        out.push(set(changed));
      }
      const child = value[key];
      if (typeof child === 'object' && child !== null && !Array.isArray(child)) {
        vary(child as Record<string, unknown>, (c) => set({ ...structuredClone(value), [key]: c }));
      }
    }
  };
  for (const base of bases) vary(base as Record<string, unknown>, (v) => v);
  for (const backend of catcherConfig.backends) {
    vary(backend, (b) => ({ ...catcherConfig, backends: [b] }));
  }
  return out;
}

describe('validators generated at build time (src/shared/schema.ts, scripts/build-validators.mjs)', () => {
  it('say the same as the runtime compilation of every schema, on valid and invalid values', () => {
    const schemas = [...registeredSchemas()];
    assert.ok(schemas.length >= 7, `only ${schemas.length} schemas registered`);
    const generated = evaluate(standaloneModule(schemas));
    const values = samples();
    let invalid = 0;
    for (const schema of schemas) {
      const fromCode = generated[schemaKey(schema)];
      assert.ok(fromCode !== undefined, 'a generated validator for each schema');
      const atRunTime = validatorFor(schema);
      for (const value of values) {
        const a = structuredClone(value);
        const b = structuredClone(value);
        const verdict = atRunTime(a);
        assert.equal(fromCode(b), verdict, JSON.stringify(value));
        assert.deepEqual(b, a, 'the same defaults written');
        assert.deepEqual(fromCode.errors ?? null, atRunTime.errors ?? null);
        if (!verdict) invalid++;
      }
    }
    // Each base value is valid for its own schema (so both paths are compared on valid
    // values too); most variations are not.
    for (const base of bases) {
      assert.ok(
        schemas.some((schema) => validatorFor(schema)(structuredClone(base))),
        `no schema takes ${JSON.stringify(base).slice(0, 80)}`,
      );
    }
    assert.ok(invalid > 100, `${invalid} invalid`);
  });

  it('changes the key when the schema changes, so a stale build falls back to compiling', () => {
    const schema = { type: 'object', properties: { n: { type: 'integer' } } };
    const changed = { type: 'object', properties: { n: { type: 'number' } } };
    assert.notEqual(schemaKey(schema), schemaKey(changed));
    assert.equal(schemaKey(schema), schemaKey(structuredClone(schema)));
  });

  it('the built program validates its configuration without loading Ajv', () => {
    ensureBuilt();
    assert.ok(existsSync(join(REPO, 'dist/shared/schema-validators.cjs')), 'the build generated the module');
    const script = `
      const { createRequire } = await import('node:module');
      const cache = createRequire(import.meta.url).cache;
      const { resolveConfig } = await import('./dist/catcher/config.js');
      const config = resolveConfig({ backends: [{ type: 'directory', name: 'd', path: '/srv' }] }, '/tmp/home');
      let refused = '';
      try { resolveConfig({ downloads: { parallel: 0 } }, '/tmp/home'); } catch (err) { refused = err.code; }
      const loaded = Object.keys(cache).filter((k) => k.includes('/node_modules/ajv/'));
      console.log(JSON.stringify({ link: config.backends[0].link, refused, loaded }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { link: boolean; refused: string; loaded: string[] };
    assert.equal(out.link, true, 'defaults filled in');
    assert.equal(out.refused, 'CONFIG_INVALID');
    // Only Ajv's small runtime helpers, never its compiler.
    assert.deepEqual(
      out.loaded.filter((k) => !k.includes('/ajv/dist/runtime/')),
      [],
    );
  });
});
