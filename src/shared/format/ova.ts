import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { extract as tarExtract } from 'tar-stream';
import { VmiError } from '../errors.js';
import { parseOvfDisks } from './ovf.js';
import { DEFAULT_FORMAT_LIMITS, type FormatLimits } from './types.js';

/**
 * A streaming OVA reader (SPEC.md section 6). The archive is read once, front to back, with
 * tar-stream; no entry is ever held in memory except the OVF descriptor (bounded). Every
 * entry is written under a name generated here: a name from the archive is only compared
 * with the descriptor's hrefs, never used as a path. Anything that could escape, hide or
 * mislead (absolute paths, `..`, links, devices, duplicates, sizes the archive cannot hold)
 * is `ARCHIVE_UNSAFE`; a well-formed archive that is not a usable OVA is `FORMAT_UNSUPPORTED`.
 */

const TAR_BLOCK = 512;

/** One regular file of the archive, written to `path` (a name made here). */
export interface OvaEntry {
  name: string;
  path: string;
  size: number;
}

export interface OvaContents {
  /** Directory holding the extracted entries; removed on failure. */
  dir: string;
  descriptorName: string;
  descriptor: string;
  /** Regular files other than the descriptor, by normalized name, in archive order. */
  entries: Map<string, OvaEntry>;
}

export interface OvaOptions {
  limits?: Partial<FormatLimits>;
  signal?: AbortSignal;
}

function unsafe(message: string, details?: Record<string, unknown>): VmiError {
  return new VmiError(
    'ARCHIVE_UNSAFE',
    `OVA refused: ${message}`,
    details === undefined ? undefined : { details },
  );
}

/**
 * The canonical form of a name inside the archive (or an href of the descriptor): relative,
 * '/'-separated, without '.' or empty components. Refuses anything that could point outside.
 */
export function normalizeEntryName(raw: string): string {
  const shown = JSON.stringify(raw.slice(0, 200));
  if (raw.length > 1024) throw unsafe(`name longer than 1024 characters ${shown}`);
  if (raw.includes('\0') || raw.includes('\\')) throw unsafe(`name with NUL or backslash ${shown}`);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw unsafe(`absolute path ${shown}`);
  const parts = raw.split('/');
  if (parts.includes('..')) throw unsafe(`path with ".." ${shown}`);
  return parts.filter((part) => part !== '' && part !== '.').join('/');
}

/**
 * A tar header as tar-stream really produces it: its typings promise a known type and a
 * link name, but an unknown type flag gives `null` and a missing link name `null` too.
 */
interface RawTarHeader {
  name: string;
  size?: number | null;
  type?: string | null;
  linkname?: string | null;
}

/** Checks one tar header against the archive's rules; returns what to do with the entry. */
function classify(header: RawTarHeader): 'file' | 'directory' {
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
    case 'link':
      throw unsafe(
        `${header.type} entry ${JSON.stringify(header.name)} -> ${JSON.stringify(header.linkname ?? '')}`,
      );
    case 'character-device':
    case 'block-device':
    case 'fifo':
      throw unsafe(`${header.type} entry ${JSON.stringify(header.name)}`);
    default:
      throw unsafe(`entry ${JSON.stringify(header.name)} of unsupported type ${String(header.type)}`);
  }
}

/** Turns whatever stopped the reader into the right error: abort, I/O, or a malformed archive. */
function readerFailure(err: unknown, signal: AbortSignal | undefined): unknown {
  if (err instanceof VmiError) return err;
  if (signal?.aborted === true) return signal.reason;
  const errno = (err as NodeJS.ErrnoException).code;
  if (errno === 'ENOSPC')
    return new VmiError('DISK_FULL', 'no space left to extract the OVA', { cause: err });
  if (typeof errno === 'string' && errno.startsWith('E')) return err;
  return unsafe(`malformed tar archive: ${err instanceof Error ? err.message : String(err)}`);
}

/** tar-stream's entries are untyped streams of Buffers. */
async function* chunksOf(entry: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  for await (const chunk of entry) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('tar entry produced a non-binary chunk');
    yield chunk;
  }
}

async function readDescriptor(entry: AsyncIterable<unknown>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of chunksOf(entry)) chunks.push(chunk);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch (err) {
    throw new VmiError('FORMAT_UNSUPPORTED', 'OVF descriptor is not UTF-8 text', { cause: err });
  }
}

async function writeEntry(
  entry: AsyncIterable<unknown>,
  path: string,
  size: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    let written = 0;
    for await (const chunk of chunksOf(entry)) {
      signal?.throwIfAborted();
      written += chunk.length;
      if (written > size) throw unsafe('an entry holds more data than its header declares');
      await handle.write(chunk);
    }
    if (written !== size) throw unsafe('archive is truncated inside an entry');
  } finally {
    await handle.close();
  }
}

/**
 * Extracts an OVA into a new directory under `workDir`. Requires exactly one `.ovf`
 * descriptor; returns it (as text) and every other regular file.
 */
export async function extractOva(
  file: string,
  workDir: string,
  options: OvaOptions = {},
): Promise<OvaContents> {
  const limits = { ...DEFAULT_FORMAT_LIMITS, ...options.limits };
  const { signal } = options;
  signal?.throwIfAborted();
  const archiveSize = (await stat(file)).size;
  const dir = await mkdtemp(join(workDir, 'ova-'));
  const source = createReadStream(file, { highWaterMark: 1024 * 1024 });
  const extract = tarExtract();
  const onAbort = (): void => {
    source.destroy(signal?.reason as Error);
  };
  source.on('error', (err) => extract.destroy(err));
  signal?.addEventListener('abort', onAbort, { once: true });
  source.pipe(extract);

  const entries = new Map<string, OvaEntry>();
  const names = new Set<string>();
  let descriptor: { name: string; text: string } | undefined;
  let count = 0;
  // Bytes the archive must hold for what was seen so far (headers plus padded data).
  let accounted = 0;
  try {
    for await (const entry of extract) {
      const header: RawTarHeader = entry.header;
      if (++count > limits.maxOvaEntries) {
        throw unsafe(`more than ${limits.maxOvaEntries} entries`, { limit: limits.maxOvaEntries });
      }
      const name = normalizeEntryName(header.name);
      const kind = classify(header);
      const size = header.size ?? 0;
      accounted += TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
      if (accounted > archiveSize) {
        throw unsafe(`entry ${JSON.stringify(name)} declares ${size} bytes, more than the archive holds`);
      }
      if (kind === 'directory') {
        entry.resume();
        continue;
      }
      if (name === '') throw unsafe(`file entry without a name ${JSON.stringify(header.name)}`);
      if (names.has(name)) throw unsafe(`entry ${JSON.stringify(name)} appears twice`);
      names.add(name);
      if (/\.ovf$/i.test(name)) {
        if (descriptor !== undefined) {
          throw unsafe(
            `two OVF descriptors (${JSON.stringify(descriptor.name)} and ${JSON.stringify(name)})`,
          );
        }
        if (size > limits.maxOvfBytes) {
          throw new VmiError(
            'FORMAT_UNSUPPORTED',
            `OVF descriptor is larger than ${limits.maxOvfBytes} bytes`,
          );
        }
        descriptor = { name, text: await readDescriptor(entry) };
        continue;
      }
      const path = join(dir, `entry-${String(count).padStart(3, '0')}`);
      await writeEntry(entry, path, size, signal);
      entries.set(name, { name, path, size });
    }
    signal?.throwIfAborted();
    if (descriptor === undefined) {
      throw new VmiError(
        'FORMAT_UNSUPPORTED',
        'tar archive holds no OVF descriptor (.ovf), so it is not an OVA',
      );
    }
    return { dir, descriptorName: descriptor.name, descriptor: descriptor.text, entries };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw readerFailure(err, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    source.destroy();
    extract.destroy();
  }
}

function ovfDisksOf(contents: OvaContents): ReturnType<typeof parseOvfDisks> {
  try {
    return parseOvfDisks(contents.descriptor);
  } catch (err) {
    if (!(err instanceof VmiError)) throw err;
    throw new VmiError(err.code, `${contents.descriptorName}: ${err.message}`, { cause: err });
  }
}

/** A disk taken out of an OVA, in OVF order. */
export interface OvaDisk {
  /** The href in the descriptor (the entry name). */
  name: string;
  path: string;
  size: number;
}

/**
 * Extracts an OVA and returns its disks in the order the descriptor gives. Entries the
 * descriptor does not use as disks (manifest, certificate, anything else) are deleted.
 */
export async function readOvaDisks(
  file: string,
  workDir: string,
  options: OvaOptions = {},
): Promise<OvaDisk[]> {
  const contents = await extractOva(file, workDir, options);
  try {
    const disks = ovfDisksOf(contents).map((disk) => {
      const name = normalizeEntryName(disk.href);
      const entry = contents.entries.get(name);
      if (entry === undefined) {
        throw new VmiError(
          'FORMAT_UNSUPPORTED',
          `OVF lists disk file ${JSON.stringify(disk.href)}, which the archive lacks`,
        );
      }
      return entry;
    });
    if (disks.length === 0) throw new VmiError('FORMAT_UNSUPPORTED', 'OVA holds no disk');
    if (new Set(disks).size !== disks.length) {
      throw new VmiError('FORMAT_UNSUPPORTED', 'OVF uses one disk file for two disks');
    }
    const used = new Set(disks.map((disk) => disk.path));
    for (const entry of contents.entries.values()) {
      if (!used.has(entry.path)) await rm(entry.path, { force: true });
    }
    return disks.map(({ name, path, size }) => ({ name, path, size }));
  } catch (err) {
    await rm(contents.dir, { recursive: true, force: true });
    throw err;
  }
}
