import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, ProgressReporter } from '../src/progress.js';

function output(isTTY: boolean) {
  const written: string[] = [];
  return { written, out: { isTTY, columns: 100, write: (text: string) => written.push(text) } };
}

describe('progress', () => {
  it('formats sizes and durations', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.00 GiB');
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.NaN)).toBe('--:--');
  });

  it('redraws one bar on a terminal with percent, rate and time left', () => {
    let now = 0;
    const { written, out } = output(true);
    const reporter = new ProgressReporter(out, () => now);
    now = 1000;
    reporter.update({ bytes: 25 * 1024 * 1024, total: 100 * 1024 * 1024 });
    now = 1050;
    reporter.update({ bytes: 26 * 1024 * 1024, total: 100 * 1024 * 1024 });
    now = 2000;
    reporter.update({ bytes: 100 * 1024 * 1024, total: 100 * 1024 * 1024 });
    reporter.finish();
    expect(written).toHaveLength(3);
    expect(written[0]).toMatch(/^\r\[#+\.+\]\s+25%\s+25\.0 MiB \/ 100\.0 MiB\s+25\.0 MiB\/s\s+ETA 0:03/);
    expect(written[1]).toContain('100%');
    expect(written[2]).toBe('\n');
  });

  it('writes a plain line every 10% when not on a terminal', () => {
    let now = 0;
    const { written, out } = output(false);
    const reporter = new ProgressReporter(out, () => now);
    for (let bytes = 0; bytes <= 1000; bytes += 10) {
      now += 1;
      reporter.update({ bytes, total: 1000 });
    }
    expect(written).toHaveLength(11);
    expect(written.every((line) => line.endsWith('\n') && !line.includes('\r'))).toBe(true);
  });

  it('shows bytes and rate when the size is unknown', () => {
    const { written, out } = output(false);
    new ProgressReporter(out, () => 2000).update({ bytes: 2048, total: null });
    expect(written[0]).toMatch(/2\.00 KiB\s+/);
  });
});
