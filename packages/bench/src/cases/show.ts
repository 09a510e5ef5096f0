import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { CLI, runRunner } from '../contenders.js';
import type { BenchContext } from '../context.js';
import { run, throwIfInterrupted } from '../process.js';
import { mean, median, percentile } from '../stats.js';
import { toolPath } from '../tools.js';
import type { LatencyResult, ShowCase, StartupCase } from '../types.js';
import { serveImage } from './http.js';

function latency(id: string, label: string, samples: number[]): LatencyResult {
  return {
    id,
    label,
    calls: samples.length,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    meanMs: mean(samples),
  };
}

/**
 * show latency against nginx: image-service's library `show` (a HEAD) repeated on one service whose connection stays
 * alive, vs `curl -I`: one process per call (curl's own time_total and the process's wall time), and one curl
 * process asking for the same URL many times over one kept-alive connection.
 */
export async function showCase(context: BenchContext): Promise<ShowCase> {
  const before = loadavg()[0] ?? 0;
  const url = await serveImage(context, context.image.path, `image-service-bench-show-${process.pid}.img`);
  const calls = context.options.showCalls;
  const warmup = Math.min(20, calls);
  const curl = toolPath('curl');
  const curlHead = ['-sS', '--fail', '--noproxy', '*', '-I', '-o', '/dev/null', '-w', '%{time_total}\n'];

  console.error(`[show] library: ${warmup} + ${calls} calls`);
  const { output } = await runRunner<{ samples: number[]; size: number }>(context, {
    op: 'show',
    href: url,
    calls,
    warmup,
  });
  if (output.size !== context.image.size)
    throw new Error(`show said ${output.size} bytes, expected ${context.image.size}`);

  console.error(`[show] curl -I: ${calls} processes`);
  const processTotals: number[] = [];
  const processWalls: number[] = [];
  for (let i = 0; i < warmup + calls; i++) {
    throwIfInterrupted();
    const result = await run(curl, [...curlHead, url], { env: context.env, timeoutMs: 30_000 });
    if (i < warmup) continue;
    processTotals.push(Number(result.stdout.trim()) * 1000);
    processWalls.push(result.wallMs);
  }

  console.error(`[show] curl -I: ${calls} URLs in one process`);
  const many = ['-sS', '--fail', '--noproxy', '*', '-I', '-w', '%{time_total}\n'];
  for (let i = 0; i < warmup + calls; i++) many.push('-o', '/dev/null', url);
  const batch = await run(curl, many, { env: context.env, timeoutMs: 120_000 });
  const batchTotals = batch.stdout
    .trim()
    .split('\n')
    .map((line) => Number(line) * 1000);
  if (batchTotals.length !== warmup + calls || batchTotals.some((v) => !Number.isFinite(v))) {
    throw new Error(`curl printed ${batchTotals.length} timings for ${warmup + calls} URLs`);
  }
  const kept = batchTotals.slice(warmup);
  const perRequestWall = batch.wallMs / (warmup + calls);

  return {
    href: url,
    loadAverage: [before, loadavg()[0] ?? 0],
    results: [
      latency(
        'image-service',
        'image-service library show (one service, connection kept alive)',
        output.samples,
      ),
      latency(
        'curl-keepalive',
        `curl -I, ${warmup + calls} URLs in one process (connection kept alive; curl's time_total)`,
        kept,
      ),
      {
        ...latency(
          'curl-keepalive-wall',
          `curl -I, ${warmup + calls} URLs in one process: process wall time / URLs (start-up included)`,
          [perRequestWall],
        ),
        calls: warmup + calls,
      },
      latency(
        'curl-process',
        "curl -I, one process per call (new connection; curl's time_total)",
        processTotals,
      ),
      latency(
        'curl-process-wall',
        'curl -I, one process per call (process wall time, start-up included)',
        processWalls,
      ),
    ],
  };
}

/** Packages a `file://` show must not load: the other drivers and what they depend on. */
const OTHER_DRIVERS = /^(packages\/(http|s3|glance)|undici|@aws-sdk\/.*|@smithy\/.*)$/;

/** Counts the modules Node's NODE_DEBUG=esm,module trace shows loaded, per workspace package or npm package. */
export function modulesByPackage(trace: string): Record<string, number> {
  const seen = new Set<string>();
  for (const match of trace.matchAll(/Storing file:\/\/(\S+) |MODULE \d+: load "([^"]+)"/g)) {
    seen.add(decodeURIComponent(match[1] ?? match[2] ?? ''));
  }
  const counts: Record<string, number> = {};
  for (const path of seen) {
    const npm = /.*node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    const workspace = /\/(packages\/[^/]+)\//.exec(path);
    const name = npm?.[1] ?? workspace?.[1] ?? (path.startsWith('/') ? 'other files' : 'node builtins');
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** Command start-up: `image-service show file://...` wall time (must not load other drivers), vs `node -e 0`. */
export async function startupCase(context: BenchContext): Promise<StartupCase> {
  const href = pathToFileURL(context.image.path).href;
  const runs = context.options.startupRuns;
  const walls: number[] = [];
  const nodeWalls: number[] = [];
  for (let i = 0; i <= runs; i++) {
    throwIfInterrupted();
    const result = await run(process.execPath, [CLI, 'show', href, '--json'], {
      env: context.env,
      timeoutMs: 30_000,
    });
    const info = JSON.parse(result.stdout) as { size: number };
    if (info.size !== context.image.size)
      throw new Error(`show said ${info.size} bytes, expected ${context.image.size}`);
    const baseline = await run(process.execPath, ['-e', '0'], { env: context.env, timeoutMs: 30_000 });
    if (i === 0) continue;
    walls.push(result.wallMs);
    nodeWalls.push(baseline.wallMs);
  }
  console.error(`[startup] image-service show file://: median ${median(walls).toFixed(0)} ms`);
  const traced = await run(process.execPath, [CLI, 'show', href, '--json'], {
    env: { ...context.env, NODE_DEBUG: 'esm,module' },
    timeoutMs: 30_000,
    keepStderr: 64 * 1024 * 1024,
  });
  const modulesLoaded = modulesByPackage(traced.stderr);
  const otherDriversLoaded = Object.keys(modulesLoaded).filter((name) => OTHER_DRIVERS.test(name));
  return {
    modulesLoaded,
    otherDriversLoaded,
    command: `image-service show ${href} --json`,
    runs,
    medianMs: median(walls),
    maxMs: Math.max(...walls),
    nodeBaselineMs: median(nodeWalls),
  };
}
