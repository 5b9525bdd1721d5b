import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { areaOf, EXIT_STATUS, type ErrorCode } from '../../src/shared/errors.js';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import {
  INTERMEDIATE_DN,
  listFor,
  makeGrid,
  PUBLISHER_DN,
  signDocument,
  type Grid,
} from '../helpers/grid.js';
import { tempDir } from '../helpers/tmp.js';
import { issue } from '../helpers/x509.js';
import { opensslSign, opensslVerify } from './openssl.js';
import { fakeProxy, VOMS_SKIP, writeVomsDir } from './vomskit.js';

/** `vmicatcher verify` and `vmicaster verify`/`sign` as built programs (CONTRACT.md). */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROGRAMS = { catcher: join(ROOT, 'dist/catcher/main.js'), caster: join(ROOT, 'dist/caster/main.js') };
const VO = 'vo.example.org';
const DAY = 86400_000;

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
}

function parse(status: number | null, out: Buffer, err: Buffer): Run {
  const stdout = out.toString();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    // not JSON output
  }
  return { status: status ?? -1, stdout, stderr: err.toString(), json };
}

const ENV = { ...process.env, X509_CERT_DIR: '/nonexistent' };

function run(program: keyof typeof PROGRAMS, args: string[], input?: Uint8Array): Run {
  const r = spawnSync(process.execPath, [PROGRAMS[program], ...args], { input, env: ENV });
  return parse(r.status, r.stdout, r.stderr);
}

/** The same, in parallel with others (each run is mostly Node start-up). */
function runAsync(program: keyof typeof PROGRAMS, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [PROGRAMS[program], ...args],
      { env: ENV, encoding: 'buffer' },
      (err, out, errOut) => {
        const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        if (status === null) reject(err ?? new Error('no status'));
        else resolve(parse(status, out, errOut));
      },
    );
  });
}

/** Asserts the CONTRACT.md refusal shape and the documented exit status of the code's area. */
function assertRefused(r: Run, code: ErrorCode): void {
  assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message', 'ok'], r.stdout);
  assert.equal(r.json['ok'], false);
  assert.equal(r.json['code'], code, String(r.json['message']));
  assert.equal(typeof r.json['message'], 'string');
  assert.equal(r.status, EXIT_STATUS[areaOf(code)]);
  assert.match(r.stderr, new RegExp(`${code}: `));
}

type Expect = [keyof typeof PROGRAMS, string[], ErrorCode | 'ok'];

/** Runs every case in parallel, then asserts each: accepted (exit 0) or refused with its code. */
async function expectAll(cases: Expect[]): Promise<Run[]> {
  const runs = await Promise.all(cases.map(([program, args]) => runAsync(program, args)));
  runs.forEach((r, i) => {
    const want = cases[i]?.[2] ?? 'ok';
    if (want === 'ok') assert.equal(r.status, 0, `${cases[i]?.[1].join(' ') ?? ''}: ${r.stdout}${r.stderr}`);
    else assertRefused(r, want);
  });
  return runs;
}

/** Newest modification time of the TypeScript sources under `dir`. */
function newestSource(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return Math.max(newest, newestSource(path));
    return entry.name.endsWith('.ts') ? Math.max(newest, statSync(path).mtimeMs) : newest;
  }, 0);
}

describe('verify command (both programs)', () => {
  let grid: Grid;
  let dir: string;
  let good: string;
  const file = async (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  };

  before(async () => {
    // tsc emits even when some file has a type error; `npm test` fails on those in its build
    // step, so here a type error elsewhere (another developer's work in progress) only warns.
    // The build is skipped when dist is newer than every source (npm test has just built it).
    const built = Math.min(...Object.values(PROGRAMS).map((p) => (existsSync(p) ? statSync(p).mtimeMs : 0)));
    if (built < newestSource(join(ROOT, 'src'))) {
      const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
      if (build.status !== 0)
        process.stderr.write(`warning: build reported errors:\n${build.stdout}${build.stderr}`);
    }
    for (const path of Object.values(PROGRAMS)) assert.ok(existsSync(path), `${path} was not built`);
    grid = await makeGrid();
    dir = await tempDir('vmicast-cli-');
    good = await file(
      'good.smime',
      signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }, { vo: VO }), grid.publisher),
    );
  });

  for (const program of ['catcher', 'caster'] as const) {
    it(`${program}: --json prints ok, signer {dn, ca, chain, vo, fqans} and the list`, () => {
      const r = run(program, ['verify', good, '--ca-dir', grid.caDir, '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(Object.keys(r.json).sort(), ['list', 'ok', 'signer']);
      assert.equal(r.json['ok'], true);
      assert.deepEqual(r.json['signer'], {
        dn: PUBLISHER_DN,
        ca: INTERMEDIATE_DN,
        chain: [PUBLISHER_DN, INTERMEDIATE_DN, grid.root.subject],
        vo: null,
        fqans: [],
      });
      const list = (r.json['list'] as Record<string, Record<string, unknown>>)['hv:imagelist'];
      assert.equal(list?.['ad:vo'], VO);
    });

    it(`${program}: refusals print {ok:false, code, message} with the exit status of their area`, async () => {
      const opts = ['--ca-dir', grid.caDir, '--json'];
      const tampered = await readFile(good);
      const at = tampered.indexOf('Test list');
      tampered.writeUInt8(tampered.readUInt8(at) ^ 1, at);
      const cases: [ErrorCode, string[]][] = [
        ['SIGNATURE_INVALID', ['verify', await file(`t-${program}`, tampered), ...opts]],
        ['LIST_MALFORMED', ['verify', await file(`m-${program}`, Buffer.from('not a list\n')), ...opts]],
        ['VO_MISMATCH', ['verify', good, ...opts, '--vo', 'other.vo']],
        [
          'ENDORSER_UNAUTHORIZED',
          ['verify', good, ...opts, '--endorser-dn', '/CN=x', '--endorser-ca', '/CN=y'],
        ],
        ['CERT_EXPIRED', ['verify', good, ...opts, '--at', new Date(Date.now() + 40 * DAY).toISOString()]],
        ['USAGE', ['verify', good, ...opts, '--fqan', `/${VO}`]],
        ['USAGE', ['verify', good, ...opts, '--endorser-dn', '/CN=x']],
        ['USAGE', ['verify', good, ...opts, '--at', 'yesterday']],
        ['USAGE', ['verify', good, ...opts, '--crl', 'sometimes']],
        ['CONFIG_INVALID', ['verify', good, '--ca-dir', join(dir, 'missing'), '--json']],
        ['USAGE', ['verify', join(dir, 'missing.smime'), ...opts]],
      ];
      // Both programs share the command (verifycli.ts): vmicaster gets one case per area.
      const chosen = program === 'catcher' ? cases : cases.filter((_, i) => [0, 1, 2, 4, 9].includes(i));
      await expectAll(chosen.map(([code, args]): Expect => [program, args, code]));
    });
  }

  it('without --json prints the payload on stdout and a summary on stderr; reads standard input', async () => {
    const doc = listFor({ eec: grid.publisher, issuer: grid.intermediate });
    const signed = signDocument(doc, grid.publisher);
    const r = run('catcher', ['verify', '-', '--ca-dir', grid.caDir], signed);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, new TextDecoder().decode(serializeImageList(doc)));
    assert.match(
      r.stderr,
      /verified list .* signed by \/DC=org\/DC=example\/O=Hosts\/CN=publisher.example.org/,
    );
    // A list created in the future (beyond the clock skew) and one that expired.
    const dated = (created: Date, expires?: Date) =>
      signDocument(
        listFor({ eec: grid.publisher, issuer: grid.intermediate }, { created, expires }),
        grid.publisher,
      );
    const future = await file('future', dated(new Date(Date.now() + DAY)));
    const old = await file('old', dated(new Date(Date.now() - 2 * DAY), new Date(Date.now() - DAY)));
    await expectAll([
      ['catcher', ['verify', future, '--ca-dir', grid.caDir, '--json'], 'LIST_NOT_YET_VALID'],
      ['catcher', ['verify', old, '--ca-dir', grid.caDir, '--json'], 'LIST_EXPIRED'],
    ]);
  });

  it('--allow-sha1, --crl and --purpose relax exactly their rule', async () => {
    const content = serializeImageList(listFor({ eec: grid.publisher, issuer: grid.intermediate }));
    const sha1 = await file(
      'sha1',
      opensslSign({ content, signerPem: grid.publisher.pem, keyPem: grid.publisher.keyPem, md: 'sha1' }),
    );
    const host = issue({
      subject: PUBLISHER_DN,
      issuer: grid.intermediate,
      ca: false,
      extKeyUsage: ['serverAuth'],
    });
    const hostList = await file(
      'host',
      signDocument(listFor({ eec: host, issuer: grid.intermediate }), host),
    );
    const noCrl = await makeGrid({ intermediateEntry: { crl: 'none' } });
    const noCrlList = await file(
      'nocrl',
      signDocument(listFor({ eec: noCrl.publisher, issuer: noCrl.intermediate }), noCrl.publisher),
    );
    const ca = ['--ca-dir', grid.caDir, '--json'];
    const noCa = ['--ca-dir', noCrl.caDir, '--json'];
    await expectAll([
      ['catcher', ['verify', sha1, ...ca], 'WEAK_ALGORITHM'],
      ['catcher', ['verify', sha1, ...ca, '--allow-sha1'], 'ok'],
      ['catcher', ['verify', hostList, ...ca], 'CERT_PURPOSE'],
      ['catcher', ['verify', hostList, ...ca, '--purpose', 'any'], 'ok'],
      ['catcher', ['verify', noCrlList, ...noCa], 'CRL_MISSING'],
      ['catcher', ['verify', noCrlList, ...noCa, '--crl', 'off'], 'ok'],
      ['catcher', ['verify', noCrlList, ...noCa, '--crl', 'if-present'], 'ok'],
    ]);
  });

  it('cloudkeeper fixtures: accepted with --crl off --allow-endorser-mismatch, refused otherwise', async () => {
    const fixtures = join(ROOT, 'test/fixtures/interop/cloudkeeper');
    const base = [
      'verify',
      join(fixtures, 'imagelist02.signed'),
      '--ca-dir',
      join(fixtures, 'ca'),
      '--at',
      '2020-01-01T00:00:00Z',
      '--json',
    ];
    const invalid = ['verify', join(fixtures, 'imagelist_invalid.signed'), ...base.slice(2)];
    await expectAll([
      ['catcher', [...base, '--crl', 'off', '--allow-endorser-mismatch'], 'ok'],
      ['catcher', [...base, '--crl', 'off'], 'ENDORSER_MISMATCH'],
      ['caster', base, 'CRL_MISSING'],
      ['catcher', [...invalid, '--crl', 'off', '--allow-endorser-mismatch'], 'SIGNER_UNTRUSTED'],
    ]);
  });

  it('vmicaster sign output verifies with openssl smime -verify -CApath and with vmicatcher', async () => {
    const input = await file(
      'list.json',
      serializeImageList(listFor({ eec: grid.publisher, issuer: grid.intermediate })),
    );
    const cert = await file('pub.pem', Buffer.from(grid.publisher.pem));
    const key = await file('pub.key', Buffer.from(grid.publisher.keyPem));
    const out = join(dir, 'signed-by-caster.smime');
    const signed = run('caster', ['sign', '--cert', cert, '--key', key, '--digest', 'sha512', input, out]);
    assert.equal(signed.status, 0, signed.stderr);
    const bytes = await readFile(out);
    const verdict = opensslVerify(bytes, { caDir: grid.caDir, smime: true, crlCheck: false, proxies: false });
    assert.ok(verdict.ok, verdict.stderr);
    assert.equal(run('catcher', ['verify', out, '--ca-dir', grid.caDir, '--json']).status, 0);
  });

  it(
    'a VOMS proxy signer: --vomsdir, --vo, --require-voms, --fqan in --json',
    { skip: VOMS_SKIP },
    async () => {
      const vomsDn = '/DC=org/DC=example/CN=voms.example.org';
      const host = issue({
        subject: vomsDn,
        issuer: grid.intermediate,
        ca: false,
        extKeyUsage: ['serverAuth'],
      });
      const vomsdir = join(dir, 'vomsdir');
      await writeVomsDir(vomsdir, [{ vo: VO, host: 'voms.example.org', dn: vomsDn, ca: INTERMEDIATE_DN }]);
      const fqans = [`/${VO}/Role=NULL/Capability=NULL`, `/${VO}/prod/Role=manager/Capability=NULL`];
      const p = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans });
      const input = await file(
        'voms-list.json',
        serializeImageList(listFor({ eec: grid.publisher, issuer: grid.intermediate }, { vo: VO })),
      );
      const out = join(dir, 'voms.smime');
      // vmicaster signs with the proxy file as voms-proxy-fake wrote it (certificate, key, chain).
      assert.equal(run('caster', ['sign', '--cert', p.file, input, out]).status, 0);
      const opts = ['verify', out, '--ca-dir', grid.caDir, '--vomsdir', vomsdir, '--json'];
      const [r] = await expectAll([
        ['catcher', [...opts, '--vo', VO, '--require-voms', '--fqan', `/${VO}/prod/Role=manager`], 'ok'],
        ['catcher', [...opts, '--require-voms', '--fqan', `/${VO}/admin`], 'VOMS_FQAN_MISSING'],
        [
          'catcher',
          [...opts.slice(0, 4), '--vomsdir', join(dir, 'none'), '--json', '--require-voms'],
          'VOMS_INVALID',
        ],
        ['catcher', [...opts, '--vo', 'other.vo', '--require-voms'], 'VO_MISMATCH'],
      ]);
      assert.ok(r !== undefined);
      const signer = r.json['signer'] as Record<string, unknown>;
      assert.equal(signer['dn'], PUBLISHER_DN);
      assert.equal(signer['ca'], INTERMEDIATE_DN);
      assert.equal((signer['chain'] as string[]).length, 4);
      assert.equal(signer['vo'], VO);
      assert.deepEqual(signer['fqans'], fqans);
    },
  );
});
