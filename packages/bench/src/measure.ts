import { rm, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { type Image, sha256File } from './images.js';
import { throwIfInterrupted } from './process.js';
import { formatBytes, median, mibPerSec, rotate } from './stats.js';
import type { Sample, ThroughputCase, ToolResult } from './types.js';

/** One tool of a throughput case. */
export interface Contender {
  /** A stable identifier. */
  id: string;
  /** What it is, for people. */
  label: string;
  /** The command line or call, with the destination as `<dest>`. */
  command: string;
  /** image-service itself, a peer tool, or a baseline. */
  kind: ToolResult['kind'];
  /** Where this tool writes (default: the case's directory). */
  destDir?: string;
  /** Moves the image to `dest` once. */
  run(dest: string): Promise<Sample>;
  /** Checks an output beyond its size and digest (e.g. that it is a hard link); throws when wrong. */
  check?(dest: string): Promise<void>;
}

/** A throughput case to measure. */
export interface ThroughputSpec {
  id: string;
  title: string;
  description: string;
  /** The image every tool moves. */
  image: Image;
  /** The contender the ratios are relative to. */
  reference: string;
  contenders: Contender[];
  /** Measured rounds, after one warm-up round. */
  rounds: number;
  /** Where outputs go (a fresh file every run, deleted after it). */
  destDir: string;
  /** Check the SHA-256 of every output, not only the warm-up round's. */
  verifyAll?: boolean;
  /** Report times only (a hard link has no meaningful throughput). */
  timeOnly?: boolean;
  /** Where progress lines go. Default standard error. */
  log?: (line: string) => void;
}

/**
 * Measures a throughput case: one warm-up round, then `rounds` rounds, each running every contender once, in an order
 * rotated every round. Each run writes a fresh destination file; its size is checked after every run and its SHA-256
 * after the warm-up run (every run with `verifyAll`); then it is deleted. A failed run is recorded, not fatal.
 */
export async function measureThroughput(spec: ThroughputSpec): Promise<ThroughputCase> {
  const log = spec.log ?? ((line: string) => console.error(line));
  const load: [number, number] = [loadavg()[0] ?? 0, 0];
  const samples = new Map<string, Sample[]>(spec.contenders.map((c) => [c.id, []]));
  const verified = new Map<string, number>(spec.contenders.map((c) => [c.id, 0]));
  const failures = new Map<string, string[]>(spec.contenders.map((c) => [c.id, []]));
  const peakRss = new Map<string, number>();
  for (let round = 0; round <= spec.rounds; round++) {
    for (const contender of rotate(spec.contenders, round)) {
      throwIfInterrupted();
      const dest = join(contender.destDir ?? spec.destDir, `${spec.id}-${contender.id}-${round}.img`);
      await rm(dest, { force: true });
      const tag = `[${spec.id}] ${round === 0 ? 'warm-up' : `${round}/${spec.rounds}`} ${contender.id}`;
      try {
        const sample = await contender.run(dest);
        const info = await stat(dest);
        if (info.size !== spec.image.size) {
          throw new Error(`wrote ${info.size} bytes, expected ${spec.image.size}`);
        }
        if (round === 0 || spec.verifyAll) {
          const digest = await sha256File(dest);
          if (digest !== spec.image.sha256)
            throw new Error(`wrote bytes with SHA-256 ${digest}, expected ${spec.image.sha256}`);
          verified.set(contender.id, (verified.get(contender.id) ?? 0) + 1);
        }
        await contender.check?.(dest);
        if (round > 0) samples.get(contender.id)?.push(sample);
        if (sample.peakRssKiB !== null) {
          peakRss.set(contender.id, Math.max(peakRss.get(contender.id) ?? 0, sample.peakRssKiB));
        }
        const rate = spec.timeOnly ? '' : `, ${mibPerSec(spec.image.size, sample.ms).toFixed(0)} MiB/s`;
        const rss =
          sample.peakRssKiB === null ? '' : `, peak RSS ${(sample.peakRssKiB / 1024).toFixed(0)} MiB`;
        log(`${tag}: ${sample.ms.toFixed(spec.timeOnly ? 2 : 0)} ms${rate}${rss}`);
      } catch (error) {
        const message = (error as Error).message.split('\n').slice(0, 8).join('\n');
        failures.get(contender.id)?.push(`${round === 0 ? 'warm-up' : `round ${round}`}: ${message}`);
        log(`${tag}: FAILED: ${message}`);
      } finally {
        await rm(dest, { force: true });
      }
    }
  }
  load[1] = loadavg()[0] ?? 0;
  const tools = spec.contenders.map((contender): ToolResult => {
    const runs = samples.get(contender.id) ?? [];
    const medianMs = median(runs.map((s) => s.ms));
    return {
      id: contender.id,
      label: contender.label,
      command: contender.command,
      kind: contender.kind,
      samples: runs,
      medianMs,
      mibPerSec: spec.timeOnly || runs.length === 0 ? null : mibPerSec(spec.image.size, medianMs),
      referenceRatio: null,
      peakRssMiB: peakRss.has(contender.id) ? (peakRss.get(contender.id) as number) / 1024 : null,
      verifiedOutputs: verified.get(contender.id) ?? 0,
      failures: failures.get(contender.id) ?? [],
    };
  });
  const reference = tools.find((t) => t.id === spec.reference);
  for (const tool of tools) {
    if (reference && reference.samples.length > 0 && tool.samples.length > 0) {
      tool.referenceRatio = tool.medianMs / reference.medianMs;
    }
  }
  log(
    `[${spec.id}] done (${formatBytes(spec.image.size)} image, load ${load[0].toFixed(2)} -> ${load[1].toFixed(2)})`,
  );
  return {
    id: spec.id,
    title: spec.title,
    description: spec.description,
    bytes: spec.image.size,
    reference: spec.reference,
    rounds: spec.rounds,
    loadAverage: load,
    tools,
  };
}
