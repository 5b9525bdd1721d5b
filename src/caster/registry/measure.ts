import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { VmiError } from '../../shared/errors.js';
import { Measure, type ImageFacts, type Progress } from '../imagefile.js';

/**
 * A registry layer read exactly once: its sha256 (the registry's name for it) and what
 * `image add` measures (size, SHA-512, head and tail for the format), from the same chunks.
 */

export interface LayerFacts extends ImageFacts {
  /** `sha256:<hex>` */
  digest: string;
}

class LayerMeasure {
  private readonly sha256 = createHash('sha256');
  private readonly measure: Measure;

  constructor(onProgress?: Progress) {
    this.measure = new Measure(onProgress);
  }

  get size(): number {
    return this.measure.size;
  }

  add(chunk: Buffer): void {
    this.sha256.update(chunk);
    this.measure.add(chunk);
  }

  facts(): LayerFacts {
    return { ...this.measure.facts(), digest: `sha256:${this.sha256.digest('hex')}` };
  }
}

/** Measures a local file to push (streamed, 1 MiB reads). */
export async function measureLayerFile(path: string, onProgress?: Progress): Promise<LayerFacts> {
  const info = await stat(path).catch((err: unknown) => {
    throw new VmiError(
      'USAGE',
      `cannot read image file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  });
  if (!info.isFile()) throw new VmiError('USAGE', `${path} is not a regular file`);
  const measure = new LayerMeasure(onProgress);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    measure.add(chunk as Buffer);
  }
  return measure.facts();
}

/**
 * Measures a layer as a registry serves it, checked in the same pass against the size and
 * digest its manifest gives: more bytes than announced stop the read at once, and a digest
 * other than the one asked for refuses the layer (a registry serving other bytes).
 */
export async function measureLayerStream(
  stream: Readable,
  expected: { digest: string; size: number },
  onProgress?: Progress,
): Promise<LayerFacts> {
  const measure = new LayerMeasure(onProgress);
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    if (measure.size + buf.length > expected.size) {
      stream.destroy();
      throw new VmiError(
        'IMAGE_SIZE_MISMATCH',
        `registry served more than the ${expected.size} bytes the manifest gives for ${expected.digest}`,
      );
    }
    measure.add(buf);
  }
  const facts = measure.facts();
  if (facts.size !== expected.size) {
    throw new VmiError(
      'IMAGE_SIZE_MISMATCH',
      `registry served ${facts.size} bytes, the manifest gives ${expected.size} for ${expected.digest}`,
    );
  }
  if (facts.digest !== expected.digest) {
    throw new VmiError(
      'IMAGE_DIGEST_MISMATCH',
      `registry served bytes of digest ${facts.digest} under ${expected.digest}`,
    );
  }
  return facts;
}
