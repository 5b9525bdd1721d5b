/**
 * Real disk images and archives for the format tests, made at run time: qemu-img builds the
 * disks, tar-stream the archives, the Debian bzip2/xz programs the compressed files.
 * A tool that is missing fails the test in CI (VMICAST_CI=1) and skips it, visibly, elsewhere.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pack } from 'tar-stream';
import { VmiError, type ErrorCode } from '../../../src/shared/errors.js';

const available = new Map<string, boolean>();

function hasTool(tool: string): boolean {
  let known = available.get(tool);
  if (known === undefined) {
    known = spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
    available.set(tool, known);
  }
  return known;
}

/** True when every tool is installed; otherwise fails (CI) or skips the test with a notice. */
export function requireTools(t: TestContext, ...tools: string[]): boolean {
  const missing = tools.filter((tool) => !hasTool(tool));
  if (missing.length === 0) return true;
  const message = `needs ${missing.join(', ')} (Debian: qemu-utils, bzip2, xz-utils)`;
  if (process.env['VMICAST_CI'] === '1') assert.fail(`${message}: required in CI`);
  t.skip(message);
  return false;
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8' });
}

export function qemuInfo(path: string, format: string): Record<string, unknown> {
  return JSON.parse(qemuImg('info', '--output=json', '-f', format, path)) as Record<string, unknown>;
}

/** True when two images hold the same guest-visible bytes (`qemu-img compare`). */
export function sameContent(a: string, aFormat: string, b: string, bFormat: string): boolean {
  return spawnSync('qemu-img', ['compare', '-q', '-f', aFormat, '-F', bFormat, a, b]).status === 0;
}

/**
 * A raw disk of `size` bytes (a multiple of 512) with a recognisable pattern derived from
 * `seed` in its first and last MiB and zeros in between, like a real mostly-empty disk.
 */
export async function writeRawDisk(path: string, size: number, seed: number): Promise<Buffer> {
  const bytes = Buffer.alloc(size);
  let state = seed * 2654435761 + 1;
  const fill = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      state = (state * 1103515245 + 12345) >>> 0;
      bytes[i] = state >>> 24;
    }
  };
  fill(0, Math.min(size, 1024 * 1024));
  fill(Math.max(0, size - 1024 * 1024), size);
  await writeFile(path, bytes);
  return bytes;
}

/** Compresses a file with a Debian program (`bzip2`, `xz`, `gzip`) into `output`. */
export function compressWith(program: 'bzip2' | 'xz' | 'gzip', input: string, output: string): void {
  const result = spawnSync(program, ['-c', input], { maxBuffer: 512 * 1024 * 1024 });
  assert.equal(result.status, 0, `${program} failed`);
  writeFileSync(output, result.stdout);
}

/** One tar entry for `buildTar`: a file by default; `size` overrides the declared size. */
export interface TarEntrySpec {
  name: string;
  data?: Uint8Array | string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  linkname?: string;
}

/** A tar archive in memory, written by tar-stream (ustar with pax headers where needed). */
export async function buildTar(entries: readonly TarEntrySpec[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of archive) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const callback = (err?: Error | null): void => (err ? reject(err) : resolve());
      const header = { name: entry.name, type, linkname: entry.linkname, mode: 0o644, mtime: new Date(0) };
      if (type === 'file') archive.entry(header, Buffer.from(entry.data ?? ''), callback);
      else archive.entry(header, callback);
    });
  }
  archive.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** An OVF descriptor: `files` in References order, drives attached in `driveOrder`. */
export function makeOvf(
  files: readonly { id: string; href: string }[],
  driveOrder: readonly string[],
): string {
  const references = files.map((f) => `    <File ovf:id="${f.id}" ovf:href="${f.href}"/>`).join('\n');
  const disks = files
    .map((f) => `    <Disk ovf:diskId="disk-${f.id}" ovf:fileRef="${f.id}" ovf:capacity="1048576"/>`)
    .join('\n');
  const drives = driveOrder
    .map(
      (id, slot) => `      <Item>
        <rasd:AddressOnParent>${slot}</rasd:AddressOnParent>
        <rasd:ElementName>disk ${slot}</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/disk-${id}</rasd:HostResource>
        <rasd:InstanceID>${10 + slot}</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
${references}
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
${disks}
  </DiskSection>
  <VirtualSystem ovf:id="vm">
    <Info>A virtual machine</Info>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <Item>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
${drives}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/** Every path under `dir`, relative, sorted; directories end with '/'. */
export async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .map((entry) => {
      const path = join(entry.parentPath, entry.name).slice(dir.length + 1);
      return entry.isDirectory() ? `${path}/` : path;
    })
    .sort();
}

/** Asserts that `action` rejects with a VmiError of `code` whose message holds `fragment`. */
export async function rejectsWith(
  action: Promise<unknown>,
  code: ErrorCode,
  fragment: string,
): Promise<VmiError> {
  try {
    await action;
  } catch (err) {
    assert.ok(err instanceof VmiError, `expected a VmiError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(
      err.message.includes(fragment),
      `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(fragment)}`,
    );
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}
