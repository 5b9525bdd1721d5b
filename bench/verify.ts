/**
 * Benchmark of signed-list verification (issue 3: "a typical list takes well under 50 ms").
 *
 *   node --import tsx bench/verify.ts [--quick]
 *
 * A typical list: one signer behind an RFC 3820 proxy, a two-CA path (root -> issuing CA),
 * CRLs of 10,000 entries for both CAs. Measured, as the median of several runs:
 * - in-process `verifySignedList` with the trust store loaded once (what the daemon does),
 * - the same with `loadTrustStore` included (what `vmicatcher verify` does),
 * - `openssl cms -verify -crl_check_all -allow_proxy_certs` as a subprocess,
 * for RSA-2048 and ECDSA P-256 signers and lists of 10, 1,000 and 10,000 images.
 * Writes bench/results/verify.json and prints a table.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_CHAIN_POLICY } from '../src/shared/pki/chain.js';
import { loadTrustStore } from '../src/shared/pki/trustdir.js';
import { verifySignedList } from '../src/shared/verify.js';
import { listFor, signDocument } from '../test/helpers/grid.js';
import { makeImage } from '../test/helpers/lists.js';
import { writeTrustDir } from '../test/helpers/pki.js';
import { issue, makeProxy, type KeyType, type TestCert } from '../test/helpers/x509.js';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 5 : 21;
const CRL_ENTRIES = 10_000;
const SIZES = [10, 1_000, 10_000];

interface Result {
  signer: string;
  images: number;
  listBytes: number;
  inProcessMs: number;
  withStoreLoadMs: number;
  opensslMs: number | null;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const value = sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return Math.round((value ?? 0) * 100) / 100;
}

async function time(runs: number, fn: () => unknown, warmUp = true): Promise<number> {
  if (warmUp) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

/** Certificates that exist only as serial numbers on a CRL. */
function revokedSerials(n: number): TestCert[] {
  return Array.from(
    { length: n },
    (_, i) => ({ spec: { subject: '', serial: `7f${i.toString(16).padStart(8, '0')}` } }) as TestCert,
  );
}

async function setup(dir: string, keyType: KeyType) {
  const root = issue({ subject: '/DC=org/DC=example/CN=Bench Root CA', ca: true });
  const ca = issue({ subject: '/DC=org/DC=example/CN=Bench Issuing CA', issuer: root, ca: true, pathLen: 0 });
  const eec = issue({
    subject: '/DC=org/DC=example/O=Hosts/CN=publisher.example.org',
    issuer: ca,
    ca: false,
    keyType,
    extKeyUsage: ['emailProtection', 'clientAuth'],
  });
  const proxy = makeProxy(eec, { keyType });
  const revoked = revokedSerials(CRL_ENTRIES);
  const caDir = await writeTrustDir(join(dir, `certificates-${keyType}`), [
    [root, { crl: { revoked } }],
    [ca, { crl: { revoked } }],
  ]);
  return { ca, eec, proxy, caDir };
}

function opensslVerifyMs(file: string, caDir: string, runs: number): number | null {
  const args = ['cms', '-verify', '-inform', 'SMIME', '-in', file, '-CApath', caDir, '-out', '/dev/null'];
  args.push('-allow_proxy_certs', '-crl_check_all', '-purpose', 'smimesign');
  const once = () => spawnSync('openssl', args, { stdio: 'ignore' }).status;
  if (once() !== 0) return null;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    once();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vmicast-bench-'));
  const results: Result[] = [];
  try {
    for (const keyType of ['rsa', 'ec'] as const) {
      const { ca, eec, proxy, caDir } = await setup(dir, keyType);
      const store = await loadTrustStore(caDir);
      for (const images of SIZES) {
        const doc = listFor(
          { eec, issuer: ca },
          { images: Array.from({ length: images }, () => makeImage()) },
        );
        const signed = signDocument(doc, proxy, [eec]);
        const file = join(dir, `list-${keyType}-${images}.smime`);
        await writeFile(file, signed);
        const options = { now: new Date(), policy: DEFAULT_CHAIN_POLICY, vomsDir: new Map() };
        const runs = images >= 10_000 ? Math.max(3, Math.floor(RUNS / 3)) : RUNS;
        results.push({
          signer: keyType === 'rsa' ? 'RSA-2048' : 'ECDSA P-256',
          images,
          listBytes: signed.byteLength,
          inProcessMs: await time(runs, () => verifySignedList(signed, store, options)),
          // Loading dominates (two CRLs of 10,000 entries): fewer runs, no warm-up (a CLI run is cold).
          withStoreLoadMs: await time(
            QUICK ? 1 : 5,
            async () => verifySignedList(signed, await loadTrustStore(caDir), options),
            false,
          ),
          opensslMs: opensslVerifyMs(file, caDir, runs),
        });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const report = {
    benchmark: 'verify',
    date: new Date().toISOString(),
    quick: QUICK,
    runs: RUNS,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    // Other work on the machine inflates the figures: the 1-minute load average at the end.
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    setup: `proxy -> EEC -> issuing CA -> root, CRLs of ${CRL_ENTRIES} entries for both CAs`,
    results,
  };
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL('verify.json', out), `${JSON.stringify(report, null, 2)}\n`);
  printTable(results);
}

function printTable(results: Result[]): void {
  const header = ['signer', 'images', 'list bytes', 'in-process ms', 'with store load ms', 'openssl cms ms'];
  const rows = results.map((r) => [
    r.signer,
    String(r.images),
    String(r.listBytes),
    r.inProcessMs.toFixed(2),
    r.withStoreLoadMs.toFixed(2),
    r.opensslMs === null ? 'refused' : r.opensslMs.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  process.stdout.write(`${line(header)}\n${rows.map(line).join('\n')}\n`);
  process.stdout.write(
    `median of ${RUNS} runs (fewer for 10,000 images and with store load); results in bench/results/verify.json\n`,
  );
}

await main();
