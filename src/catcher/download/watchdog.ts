import { VmiError } from '../../shared/errors.js';

export interface DownloadLimits {
  stallMs: number;
  minBytesPerSecond: number;
  windowMs: number;
  minFreeBytes: number;
}

/** Raised inside the watchdog; carried out through the request's abort. */
export class Watchdog {
  private lastData = Date.now();
  private windowStart = Date.now();
  private windowBytes = 0;
  private readonly timer: NodeJS.Timeout;
  reason: VmiError | undefined;

  constructor(limits: DownloadLimits, abort: (err: VmiError) => void) {
    this.timer = setInterval(
      () => {
        const now = Date.now();
        if (now - this.lastData > limits.stallMs) {
          this.reason = new VmiError('STALLED', `no data for ${Math.round(limits.stallMs / 1000)} s`);
        } else if (now - this.windowStart >= limits.windowMs) {
          const rate = (this.windowBytes * 1000) / (now - this.windowStart);
          if (rate < limits.minBytesPerSecond) {
            this.reason = new VmiError(
              'STALLED',
              `throughput ${Math.round(rate)} B/s is below the floor of ${limits.minBytesPerSecond} B/s`,
            );
          }
          this.windowStart = now;
          this.windowBytes = 0;
        }
        if (this.reason !== undefined) abort(this.reason);
      },
      Math.min(1000, Math.max(50, Math.floor(limits.stallMs / 4))),
    );
  }

  data(bytes: number): void {
    this.lastData = Date.now();
    this.windowBytes += bytes;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
