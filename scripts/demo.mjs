// The main job on an embedded default, end to end on 127.0.0.1 (README: `npm run demo`):
// a throw-away CA and publisher certificate, vmicaster publishes and serves a signed list,
// vmicatcher subscribes, syncs, verifies and caches the image, and shows what it holds.
// Each program's configuration lives in its home (<home>/vmicaster.yaml, <home>/vmicatcher.yaml),
// so `--home DIR` alone, as in the closing hint, uses the demo's trust store.
// VMICAST_DEMO_DIR moves the throw-away directory (default .demo in the repository; emptied first).
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const demo = resolve(process.env.VMICAST_DEMO_DIR || join(root, '.demo'));
const caster = join(root, 'dist/caster/main.js');
const catcher = join(root, 'dist/catcher/main.js');
const VO = 'demo.vo.example.org';

const step = (text) => process.stdout.write(`\n== ${text}\n`);
// The hint is printed for a shell: quote what a shell would split or expand.
const shellWord = (word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`);
const openssl = (...args) =>
  execFileSync('openssl', args, { cwd: demo, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
function run(program, args, { show = true } = {}) {
  const out = execFileSync(process.execPath, [program, ...args], {
    cwd: demo,
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
  if (show && out.trim() !== '') process.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
  return out.trim();
}
const vmicaster = (...args) => run(caster, ['--home', join(demo, 'caster'), ...args], { show: false });
const vmicatcher = (...args) => run(catcher, ['--home', join(demo, 'catcher'), ...args], { show: false });

rmSync(demo, { recursive: true, force: true });
for (const dir of ['ca', 'certificates', 'www/images', 'caster', 'catcher'])
  mkdirSync(join(demo, dir), { recursive: true });

step('1. A throw-away grid CA, its CRL, and a publisher certificate (openssl)');
writeFileSync(
  join(demo, 'ca/openssl.cnf'),
  `[ca]\ndefault_ca = demo\n[demo]\ndatabase = ca/index.txt\ncrlnumber = ca/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n` +
    `[req]\ndistinguished_name = dn\n[dn]\n[v3_ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n` +
    `[v3_signer]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, nonRepudiation\nextendedKeyUsage = emailProtection\n` +
    `subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n`,
);
writeFileSync(join(demo, 'ca/index.txt'), '');
writeFileSync(join(demo, 'ca/crlnumber'), '01\n');
openssl(
  'req',
  '-x509',
  '-new',
  '-newkey',
  'rsa:2048',
  '-nodes',
  '-keyout',
  'ca/ca.key',
  '-out',
  'ca/ca.pem',
  '-days',
  '30',
  '-subj',
  '/DC=org/DC=example/CN=Demo CA',
  '-config',
  'ca/openssl.cnf',
  '-extensions',
  'v3_ca',
);
openssl(
  'req',
  '-new',
  '-newkey',
  'rsa:2048',
  '-nodes',
  '-keyout',
  'ca/publisher.key',
  '-out',
  'ca/publisher.csr',
  '-subj',
  '/DC=org/DC=example/O=Hosts/CN=publisher.demo.example.org',
  '-config',
  'ca/openssl.cnf',
);
openssl(
  'x509',
  '-req',
  '-in',
  'ca/publisher.csr',
  '-CA',
  'ca/ca.pem',
  '-CAkey',
  'ca/ca.key',
  '-CAcreateserial',
  '-days',
  '30',
  '-extfile',
  'ca/openssl.cnf',
  '-extensions',
  'v3_signer',
  '-out',
  'ca/publisher.pem',
);
const hash = openssl('x509', '-noout', '-subject_hash', '-in', 'ca/ca.pem').trim();
copyFileSync(join(demo, 'ca/ca.pem'), join(demo, `certificates/${hash}.0`));
openssl(
  'ca',
  '-gencrl',
  '-config',
  'ca/openssl.cnf',
  '-keyfile',
  'ca/ca.key',
  '-cert',
  'ca/ca.pem',
  '-out',
  `certificates/${hash}.r0`,
);
console.log(`CA /DC=org/DC=example/CN=Demo CA in ${demo}/certificates (${hash}.0, ${hash}.r0)`);

step('2. vmicaster: register the signing credential for the VO');
const caDir = join(demo, 'certificates');
// JSON strings are YAML strings: any directory name reads back as written.
const yamlString = JSON.stringify;
writeFileSync(join(demo, 'caster/vmicaster.yaml'), `caDir: ${yamlString(caDir)}\n`);
vmicaster(
  'credential',
  'add',
  '--vo',
  VO,
  '--cert',
  join(demo, 'ca/publisher.pem'),
  '--key',
  join(demo, 'ca/publisher.key'),
);
console.log(`credential for ${VO}: /DC=org/DC=example/O=Hosts/CN=publisher.demo.example.org`);

step('3. vmicaster: start serving the web root on 127.0.0.1');
const server = spawn(
  process.execPath,
  [
    caster,
    '--home',
    join(demo, 'caster'),
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--root',
    join(demo, 'www'),
    '--json',
  ],
  {
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
const base = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    try {
      resolve(String(JSON.parse(out).url).replace(/\/$/, ''));
    } catch {
      /* wait for the whole document */
    }
  });
  server.once('exit', (code) => reject(new Error(`vmicaster serve exited with ${code}`)));
});
console.log(`serving ${base}`);

try {
  step('4. vmicaster: create a list, add an image (size and SHA-512 measured by streaming), publish');
  const image = join(demo, 'www/images/demo-disk.img');
  writeFileSync(image, randomBytes(4 * 1024 * 1024));
  const list = vmicaster(
    'list',
    'create',
    '--title',
    'Demo VO images',
    '--description',
    'Images of the demo VO',
    '--uri',
    `${base}/demo.list`,
    '--vo',
    VO,
  );
  const id = vmicaster(
    'image',
    'add',
    list,
    '--file',
    image,
    '--uri',
    `${base}/images/demo-disk.img`,
    '--title',
    'Demo disk',
    '--osversion',
    '9',
  );
  const published = JSON.parse(vmicaster('publish', list, '--out', join(demo, 'www/demo.list'), '--json'));
  console.log(
    `list ${list}, image ${id}, published version ${published.version ?? JSON.stringify(published)}`,
  );

  step('5. vmicatcher verify: the published file, checked like a site would');
  const verified = JSON.parse(
    run(catcher, ['verify', join(demo, 'www/demo.list'), '--ca-dir', caDir, '--json'], { show: false }),
  );
  console.log(
    `signer ${verified.signer.dn} (CA ${verified.signer.ca}), VO ${verified.list['hv:imagelist']['ad:vo']}`,
  );

  step('6. vmicatcher: subscribe (pinning the endorser), sync, list images');
  writeFileSync(
    join(demo, 'catcher/vmicatcher.yaml'),
    `caDir: ${yamlString(caDir)}\nvomsDir: ${yamlString(join(demo, 'vomsdir'))}\n` +
      `backends:\n  - { type: directory, name: demo-site, path: ${yamlString(join(demo, 'site'))} }\n`,
  );
  const sub = vmicatcher(
    'subscribe',
    `${base}/demo.list`,
    '--endorser-dn',
    verified.signer.dn,
    '--endorser-ca',
    verified.signer.ca,
    '--vo',
    VO,
  );
  console.log(`subscription ${sub}`);
  const report = JSON.parse(vmicatcher('sync', '--json'));
  console.log(`sync: ${report.available.length} image made available, ${report.failures} failures`);
  for (const img of JSON.parse(vmicatcher('images', '--json'))) {
    console.log(`  ${img.id}  ${img.state}  ${img.title}  (${img.size} bytes)`);
  }
  const cached = readFileSync(join(demo, 'catcher/cache', id));
  const same =
    createHash('sha512').update(cached).digest('hex') ===
    createHash('sha512').update(readFileSync(image)).digest('hex');
  console.log(
    `cache file ${join(demo, 'catcher/cache', id)}: ${same ? 'identical to the published image' : 'DIFFERENT'}`,
  );
  if (!same || report.failures !== 0) process.exitCode = 1;

  step('7. Done');
  console.log(
    `Everything is under ${demo}: the CA, the caster state, the web root, the catcher state and cache,`,
  );
  console.log(`and the directory backend at ${join(demo, 'site')}. What the catcher holds:`);
  const hint = [process.execPath, catcher, '--home', join(demo, 'catcher'), 'status'];
  console.log(`Status: ${hint.map(shellWord).join(' ')}`);
} finally {
  server.kill('SIGTERM');
}
