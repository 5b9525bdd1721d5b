/**
 * Preloaded with `node --import` into a measured vmicatcher: samples process.memoryUsage()
 * every 20 ms and, at exit, writes the largest value of each field (and the sample taken at
 * the largest RSS) as JSON to $VMICAST_MEM_SAMPLES. Measurement only; never part of the program.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setInterval } from 'node:timers';
import { writeHeapSnapshot } from 'node:v8';

const out = process.env.VMICAST_MEM_SAMPLES;
if (out) {
  const max = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  let atPeak = null;
  let samples = 0;
  const t0 = Date.now();
  // VMICAST_MEM_SERIES=1 keeps every sample (time in ms, MB), to see the phases of a run.
  const series = process.env.VMICAST_MEM_SERIES === '1' ? [] : undefined;
  const sample = () => {
    const m = process.memoryUsage();
    samples++;
    if (series) series.push([Date.now() - t0, ...Object.keys(max).map((k) => Math.round(m[k] / 1048576))]);
    for (const k of Object.keys(max)) max[k] = Math.max(max[k], m[k]);
    if (atPeak === null || m.rss >= atPeak.rss) atPeak = m;
  };
  setInterval(sample, 20).unref();
  process.on('exit', () => {
    sample();
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    // VMICAST_MEM_SNAPSHOT=FILE: a V8 heap snapshot at exit, to see what the heap holds.
    if (process.env.VMICAST_MEM_SNAPSHOT) writeHeapSnapshot(process.env.VMICAST_MEM_SNAPSHOT);
    writeFileSync(out, JSON.stringify({ max, atPeak, hwm, samples, series, cpu: process.cpuUsage() }));
  });
}
