/**
 * Contract tests against the readers in the field (atrope 2.1, vmcatcher, cloudkeeper): each
 * reader's rules are data (test/caster/readers/*.test.ts); `readerProblems` says what that
 * reader would do with a signed list (refuse it, crash, drop an image), and `publishScenarios`
 * publishes lists the way a VO manager does, with default flags only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { caster } from './caster-cli.js';
import { startPushWorld } from './caster-push.js';
import { makeCasterSite } from './caster-site.js';
import { writeImage } from './caster-grid.js';
import { tempDir } from './tmp.js';

type Obj = Record<string, unknown>;

/** What a reader does with a value it does not like. */
export type Outcome = 'refuses the list' | 'crashes' | 'drops the image';

export interface ReaderRules {
  name: string;
  /** Keys of `hv:imagelist`, of `hv:endorser/hv:x509`, and of each `hv:image`. */
  listKeys: readonly string[];
  endorserKeys: readonly string[];
  imageKeys: readonly string[];
  /** What a missing (or, with `emptyIsMissing`, empty) image key makes the reader do. */
  missingImageKey: Outcome;
  emptyIsMissing: boolean;
  /** Value forms: key -> pattern the string must match, and the outcome otherwise. */
  listForms: Readonly<Record<string, RegExp>>;
  imageForms: Readonly<Record<string, { pattern: RegExp; otherwise: Outcome }>>;
  /** `hv:endorser` must be an object; otherwise the outcome. */
  endorserArray: Outcome | 'accepted';
  /** How the reader writes the signer's DN before comparing it with `hv:dn`. */
  signerDn: 'oneline' | 'utf8' | 'not compared';
  /** Does it accept a list signed by an RFC 3820 proxy (plain OpenSSL does not)? */
  acceptsProxySigner: boolean;
}

/** Exactly `%Y-%m-%dT%H:%M:%SZ`. */
export const EXACT_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
/** A date that carries its timezone (naive dates crash atrope's comparisons). */
export const ZONED_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

function empty(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/** The verdicts of `rules` on a list payload (parsed JSON); [] when the reader takes it whole. */
export function documentProblems(
  rules: ReaderRules,
  doc: Obj,
  signer?: { oneline: string; utf8: string },
): string[] {
  const problems: string[] = [];
  const list = doc['hv:imagelist'] as Obj | undefined;
  if (list === undefined) return ['refuses the list: no hv:imagelist'];
  for (const key of rules.listKeys) {
    if (rules.emptyIsMissing ? empty(list[key]) : list[key] === undefined)
      problems.push(`refuses the list: list key ${key} missing or empty`);
  }
  for (const [key, pattern] of Object.entries(rules.listForms)) {
    const value = list[key];
    if (typeof value !== 'string' || !pattern.test(value))
      problems.push(
        `refuses the list: ${key} ${JSON.stringify(list[key])} is not of the form ${String(pattern)}`,
      );
  }
  const endorser = list['hv:endorser'];
  if (Array.isArray(endorser)) {
    if (rules.endorserArray !== 'accepted') problems.push(`${rules.endorserArray}: hv:endorser is an array`);
  } else {
    const x509 = ((endorser ?? {}) as Obj)['hv:x509'] as Obj | undefined;
    for (const key of rules.endorserKeys) {
      const value = x509?.[key];
      if (rules.emptyIsMissing ? empty(value) : value === undefined)
        problems.push(`refuses the list: endorser key ${key} missing or empty`);
    }
    if (signer !== undefined && rules.signerDn !== 'not compared') {
      const expected = rules.signerDn === 'oneline' ? signer.oneline : signer.utf8;
      if (x509?.['hv:dn'] !== expected)
        problems.push(`refuses the list: hv:dn ${String(x509?.['hv:dn'])} is not the signer ${expected}`);
    }
  }
  const images = Array.isArray(list['hv:images']) ? (list['hv:images'] as Obj[]) : [];
  for (const wrapper of images) {
    const image = (wrapper['hv:image'] ?? {}) as Obj;
    const id = String(image['dc:identifier']);
    for (const key of rules.imageKeys) {
      if (rules.emptyIsMissing ? empty(image[key]) : image[key] === undefined)
        problems.push(`${rules.missingImageKey}: image ${id} lacks ${key}`);
    }
    for (const [key, form] of Object.entries(rules.imageForms)) {
      const value = image[key];
      if (typeof value !== 'string' || !form.pattern.test(value))
        problems.push(`${form.otherwise}: image ${id} ${key} ${JSON.stringify(value)}`);
    }
  }
  return problems;
}

/** The signer certificate's subject, as OpenSSL's oneline form and as UTF-8 text. */
function signerNames(pem: string): { oneline: string; utf8: string } {
  const oneline = execFileSync('openssl', ['x509', '-noout', '-subject', '-nameopt', 'compat'], {
    input: pem,
  })
    .toString('utf8')
    .trim()
    .replace(/^subject=\s*/, '');
  const utf8 = '/' + new X509Certificate(pem).subject.split('\n').join('/');
  return { oneline, utf8 };
}

/**
 * Verifies a signed file the way the readers do (`openssl smime -verify -CApath`, no proxy
 * flag, no `-text`), then applies the rules to the payload.
 */
export async function readerProblems(rules: ReaderRules, file: string, caDir: string): Promise<string[]> {
  const dir = await tempDir('readers-');
  const signerPem = join(dir, 'signer.pem');
  let payload: string;
  try {
    payload = execFileSync(
      'openssl',
      [
        'smime',
        '-verify',
        '-in',
        file,
        '-CApath',
        caDir,
        '-signer',
        signerPem,
        ...(rules.acceptsProxySigner ? ['-allow_proxy_certs'] : []),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    return [`refuses the list: signature does not verify: ${(err as { stderr?: string }).stderr ?? ''}`];
  }
  let doc: Obj;
  try {
    doc = JSON.parse(payload) as Obj;
  } catch {
    return ['refuses the list: Invalid JSON'];
  }
  return documentProblems(rules, doc, signerNames(readFileSync(signerPem, 'utf8')));
}

/** The publications `publishScenarios` makes, in order. */
export const SCENARIOS = [
  'a plain image',
  'an update and a successor',
  'an appliance',
  'a renewal',
  'a push',
] as const;

export interface PublishedList {
  /** What the VO manager did before this publication. */
  name: (typeof SCENARIOS)[number];
  file: string;
  caDir: string;
}

/**
 * Lists published with default flags: a plain image (one without format detection, one with
 * its own end of life), then an in-place update and a successor, then an appliance, then a
 * renewal, and a list published by the push API.
 */
export async function publishScenarios(): Promise<{ lists: PublishedList[]; close: () => Promise<void> }> {
  const site = await makeCasterSite();
  const { world, env } = site;
  const run = (...args: string[]): Promise<string> => caster(args, { env });
  const list = await site.newList();
  const out = join(world.root, 'readers.smime');
  const add = async (name: string, ...more: string[]): Promise<string> => {
    const file = await writeImage(world, name);
    const uri = `https://images.example.org/${name}`;
    return run('image', 'add', list, '--file', file.path, '--uri', uri, '--title', name, ...more);
  };
  const plain = await add('plain.img');
  const ending = new Date(Date.now() + 400 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const undetected = await add('undetected.img', '--no-detect-format', '--expires', ending);
  await run('publish', list, '--out', out);

  const next = await writeImage(world, 'plain-2.img');
  await run(
    'image',
    'update',
    list,
    plain,
    '--file',
    next.path,
    '--uri',
    'https://images.example.org/plain-2.img',
  );
  await add('successor.img', '--supersedes', undetected);
  await run('publish', list);

  const appliance = await run('appliance', 'create', list, '--title', 'Cluster');
  await add('head.img', '--appliance', appliance, '--role', 'head');
  await add('worker.img', '--appliance', appliance, '--role', 'worker');
  await run('publish', list);
  await run('publish', list, '--renew');

  const history = (v: string): string => join(world.root, 'history', list, `${v}.smime`);
  const caDir = world.grid.caDir;
  const push = await startPushWorld();
  return {
    lists: [
      { name: 'a plain image', file: history('1'), caDir },
      { name: 'an update and a successor', file: history('2'), caDir },
      { name: 'an appliance', file: history('3'), caDir },
      { name: 'a renewal', file: history('4'), caDir },
      { name: 'a push', file: push.published, caDir: push.world.grid.caDir },
    ],
    close: () => push.close(),
  };
}

/** The verified payload of a published list, and single-key changes of it, for rule checks. */
export function readPayload(list: Pick<PublishedList, 'file' | 'caDir'>): Obj {
  const text = execFileSync('openssl', ['smime', '-verify', '-in', list.file, '-CApath', list.caDir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(text) as Obj;
}

function images(doc: Obj): Obj[] {
  return ((doc['hv:imagelist'] as Obj)['hv:images'] as Obj[]).map((w) => w['hv:image'] as Obj);
}

/** A copy with `key` removed from the first image. */
export function withoutImageKey(doc: Obj, key: string): Obj {
  const copy = structuredClone(doc);
  const body = copy['hv:imagelist'] as Obj;
  const [first, ...rest] = body['hv:images'] as Obj[];
  if (first === undefined) return copy;
  const image = Object.fromEntries(Object.entries(first['hv:image'] as Obj).filter(([k]) => k !== key));
  body['hv:images'] = [{ 'hv:image': image }, ...rest];
  return copy;
}

/** A copy with the first image's `key` set to `value`. */
export function withImageValue(doc: Obj, key: string, value: unknown): Obj {
  const copy = structuredClone(doc);
  const [first] = images(copy);
  if (first !== undefined) first[key] = value;
  return copy;
}

/**
 * One reader's contract: every scenario published with default flags passes its rules, then
 * `checks` runs on the first list's payload (that the rules catch what the reader refuses).
 */
export function readerContract(
  rules: ReaderRules,
  checks: { name: string; run: (doc: Obj) => void }[],
  extra?: { name: string; run: () => Promise<void> },
): void {
  describe(`${rules.name} takes every list vmicaster publishes with default flags`, () => {
    let lists: PublishedList[] = [];
    let close: () => Promise<void> = () => Promise.resolve();

    before(async () => {
      ({ lists, close } = await publishScenarios());
    });
    after(() => close());

    if (extra !== undefined) it(extra.name, extra.run);

    for (const scenario of SCENARIOS) {
      it(`after ${scenario}`, async () => {
        const list = lists.find((l) => l.name === scenario);
        assert.ok(list !== undefined);
        assert.deepEqual(await readerProblems(rules, list.file, list.caDir), []);
      });
    }

    for (const check of checks) {
      it(check.name, () => {
        const [list] = lists;
        assert.ok(list !== undefined);
        check.run(readPayload(list));
      });
    }
  });
}
