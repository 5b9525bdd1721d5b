/** A one-line progress bar on a terminal (CONTRACT.md: long operations show one); silent otherwise. */

export interface ProgressBar {
  update(bytes: number): void;
  done(): void;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${UNITS[unit] ?? 'B'}`;
}

export function progressBar(
  label: string,
  total: number | undefined,
  out: NodeJS.WriteStream = process.stderr,
): ProgressBar {
  if (!out.isTTY) return { update: () => undefined, done: () => undefined };
  const started = Date.now();
  let last = 0;
  let current = 0;
  const draw = (): void => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = `${formatBytes(current / seconds)}/s`;
    let bar = '';
    if (total !== undefined && total > 0) {
      const width = 30;
      const filled = Math.min(width, Math.round((current / total) * width));
      bar = `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor((current / total) * 100)}% `;
    }
    out.write(`\r${label} ${bar}${formatBytes(current)} ${rate}\x1b[K`);
  };
  return {
    update(bytes: number): void {
      current = bytes;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    done(): void {
      draw();
      out.write('\n');
    },
  };
}
