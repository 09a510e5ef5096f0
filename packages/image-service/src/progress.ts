import type { Progress } from '@image-service/core';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in binary units: `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

/** A duration as `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Where progress goes: a terminal gets a redrawn bar, anything else a plain line every 10% or 5 s. */
export interface ProgressOutput {
  /** Writes text. */
  write(text: string): unknown;
  /** Whether it is a terminal. */
  isTTY?: boolean;
  /** Its width, on a terminal. */
  columns?: number;
}

/** Renders download progress: bytes, percent, rate and time left. */
export class ProgressReporter {
  readonly #out: ProgressOutput;
  readonly #started: number;
  readonly #now: () => number;
  #lastDraw = 0;
  #lastPlainPercent = -1;
  #lastPlainAt = 0;
  #drawn = false;

  constructor(out: ProgressOutput, now: () => number = Date.now) {
    this.#out = out;
    this.#now = now;
    this.#started = now();
  }

  /** Takes one progress report (throttled). */
  update(progress: Progress): void {
    const now = this.#now();
    const done = progress.total !== null && progress.bytes >= progress.total;
    if (this.#out.isTTY) {
      if (!done && now - this.#lastDraw < 100) return;
      this.#lastDraw = now;
      this.#out.write(`\r${this.line(progress, now)}\x1b[K`);
      this.#drawn = true;
      return;
    }
    const percent = progress.total ? Math.floor((progress.bytes / progress.total) * 10) * 10 : -1;
    const first = this.#lastPlainAt === 0;
    if (first || done || percent > this.#lastPlainPercent || now - this.#lastPlainAt >= 5000) {
      if (done && this.#lastPlainPercent === 100) return;
      this.#lastPlainPercent = done ? 100 : percent;
      this.#lastPlainAt = now;
      this.#out.write(`${this.line(progress, now, false)}\n`);
    }
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (this.#drawn) this.#out.write('\n');
    this.#drawn = false;
  }

  /** One line: `[#####.....]  45%  450 MiB / 1.0 GiB  120 MiB/s  ETA 0:04`. */
  line(progress: Progress, now: number = this.#now(), bar = true): string {
    const elapsed = Math.max((now - this.#started) / 1000, 0.001);
    const rate = progress.bytes / elapsed;
    const parts: string[] = [];
    if (progress.total !== null && progress.total > 0) {
      const fraction = Math.min(1, progress.bytes / progress.total);
      if (bar) {
        const width = Math.max(10, Math.min(40, (this.#out.columns ?? 80) - 60));
        const filled = Math.round(fraction * width);
        parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`);
      }
      parts.push(`${String(Math.floor(fraction * 100)).padStart(3)}%`);
      parts.push(`${formatBytes(progress.bytes)} / ${formatBytes(progress.total)}`);
      parts.push(`${formatBytes(rate)}/s`);
      parts.push(`ETA ${formatDuration(rate > 0 ? (progress.total - progress.bytes) / rate : Number.NaN)}`);
    } else {
      parts.push(formatBytes(progress.bytes), `${formatBytes(rate)}/s`);
    }
    return parts.join('  ');
  }
}
