import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes on as they come but keeps the last `hold` of them back until `release()`
 * (issue 14). An upload fed through it never completes on its own: the receiver gets the
 * whole body only once the caller has checked the size and the digest of what went by, and
 * `abort()` leaves it with a body that is too short, which it refuses.
 */
export class TailHold extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private flush: TransformCallback | undefined;
  private released = false;

  constructor(
    private readonly hold: number,
    highWaterMark: number,
  ) {
    super({ highWaterMark, readableHighWaterMark: highWaterMark });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    // Pass on whole chunks while what remains still covers the tail to hold back.
    while (this.held.length > 1 && this.heldBytes - (this.held[0]?.length ?? 0) >= this.hold) {
      const first = this.held.shift() as Buffer;
      this.heldBytes -= first.length;
      this.push(first);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.released) this.pushHeld(callback);
    else this.flush = callback;
  }

  /** The bytes were verified: send the tail and end. */
  release(): void {
    this.released = true;
    const callback = this.flush;
    this.flush = undefined;
    if (callback !== undefined) this.pushHeld(callback);
  }

  /** The bytes failed (or the caller gave up): the tail is never sent. */
  abort(reason: Error): void {
    this.held = [];
    this.heldBytes = 0;
    this.flush = undefined;
    this.destroy(reason);
  }

  private pushHeld(callback: TransformCallback): void {
    for (const chunk of this.held) this.push(chunk);
    this.held = [];
    this.heldBytes = 0;
    callback();
  }
}
