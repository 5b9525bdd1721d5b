import { finished, type Readable, type Writable } from 'node:stream';

/** Moving a download's bytes into its destinations with back-pressure, and closing the file. */

/**
 * Feeds every chunk of `source` to `onChunk` (which may throw to stop), then to `out`,
 * pausing the source while `out` is full. Events rather than `for await`: the async
 * iterator costs a promise per chunk, a measurable share of a 2 GiB ingest.
 */
export function pump(
  source: Readable,
  outs: readonly Writable[],
  onChunk: (chunk: Buffer) => void,
): Promise<void> {
  const [out] = outs as [Writable];
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      out.off('error', settle);
      stopWatching();
      if (err == null) resolve();
      else {
        source.pause();
        reject(err);
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (err) {
        settle(err as Error); // onChunk throws VmiErrors only
        return;
      }
      let full = 0;
      for (const o of outs) {
        if (o.write(chunk)) continue;
        full += 1;
        o.once('drain', () => {
          full -= 1;
          if (full === 0 && !settled) source.resume();
        });
      }
      if (full > 0) source.pause();
    };
    const stopWatching = finished(source, settle);
    out.on('error', settle);
    source.on('data', onData);
  });
}

/** Ends `out` and waits until its file is closed; a failed last write (ENOSPC) rejects. */
export async function endAndClose(out: Writable): Promise<void> {
  if (out.destroyed) {
    // It failed before the end: nothing says that every chunk reached the file.
    await destroyAndClose(out);
    throw out.errored ?? new Error('the partial file was closed before the end of the download');
  }
  return new Promise((resolve, reject) => {
    out.once('error', reject);
    out.once('close', () => resolve());
    out.end();
  });
}

/** Drops what `out` still buffers and waits until its file is closed. */
export async function destroyAndClose(out: Writable): Promise<void> {
  // Writes still queued fail with ERR_STREAM_DESTROYED: expected here, not a new error.
  out.on('error', () => undefined);
  if (out.closed) return;
  const closed = new Promise((resolve) => out.once('close', resolve));
  out.destroy();
  await closed;
}
