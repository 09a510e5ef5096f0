import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DownloadToFileOptions } from 'image-service';
import type { Contender } from './measure.js';
import { rssFileIn, run, shellQuote } from './process.js';
import type { Sample } from './types.js';

/** The bench's runner script (dist/runner.js, next to this module). */
export const RUNNER = join(dirname(fileURLToPath(import.meta.url)), 'runner.js');

/** The image-service command's entry point (packages/image-service/dist/cli.js). */
export const CLI = join(
  dirname(fileURLToPath(import.meta.resolve('image-service/package.json'))),
  'dist',
  'cli.js',
);

/** What every contender of a run shares. */
export interface RunContext {
  /** Scratch directory (GNU time's output files). */
  workDir: string;
  /** The environment children get (proxies and other drivers' settings removed). */
  env: NodeJS.ProcessEnv;
  /** Kill a run after this long, in ms. */
  timeoutMs: number;
}

/** Runs the bench's runner with `spec` under GNU time; resolves with its JSON output and the run's measurements. */
export async function runRunner<T>(
  context: RunContext,
  spec: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
): Promise<{ output: T; wallMs: number; peakRssKiB: number | null }> {
  const result = await run(process.execPath, [RUNNER, JSON.stringify(spec)], {
    env: { ...context.env, ...env },
    timeoutMs: context.timeoutMs,
    measureRss: rssFileIn(context.workDir),
  });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  return { output: JSON.parse(line) as T, wallMs: result.wallMs, peakRssKiB: result.peakRssKiB };
}

/** image-service's library: `downloadToFile(await getImageService(href), href, dest, options)`, timed in-process. */
export function libraryContender(
  context: RunContext,
  config: {
    id: string;
    label: string;
    href: string;
    options?: DownloadToFileOptions;
    env?: NodeJS.ProcessEnv;
  },
): Contender {
  const options = config.options ?? {};
  const shown = Object.keys(options).length > 0 ? `, ${JSON.stringify(options)}` : '';
  return {
    id: config.id,
    label: config.label,
    kind: 'image-service',
    command: `downloadToFile(service, '${config.href}', <dest>${shown})`,
    async run(dest): Promise<Sample> {
      const { output, wallMs, peakRssKiB } = await runRunner<{ ms: number }>(
        context,
        { op: 'download', href: config.href, dest, options },
        config.env,
      );
      return { ms: output.ms, wallMs, peakRssKiB };
    },
  };
}

/** A command timed by its wall time (start-up included), under GNU time for its peak RSS. */
export function commandContender(
  context: RunContext,
  config: {
    id: string;
    label: string;
    kind: Contender['kind'];
    command: string;
    args: (dest: string) => string[];
    env?: NodeJS.ProcessEnv;
    /** How to show the command (default: the command line with `<dest>`). */
    display?: string;
    destDir?: string;
    check?: (dest: string) => Promise<void>;
  },
): Contender {
  return {
    id: config.id,
    label: config.label,
    kind: config.kind,
    command: config.display ?? [config.command, ...config.args('<dest>')].map(shellQuote).join(' '),
    destDir: config.destDir,
    check: config.check,
    async run(dest): Promise<Sample> {
      const result = await run(config.command, config.args(dest), {
        env: { ...context.env, ...config.env },
        timeoutMs: context.timeoutMs,
        measureRss: rssFileIn(context.workDir),
      });
      return { ms: result.wallMs, wallMs: result.wallMs, peakRssKiB: result.peakRssKiB };
    },
  };
}

/** The `image-service download` command, timed by its wall time (Node's start-up included). */
export function cliContender(
  context: RunContext,
  config: { id?: string; href: string; env?: NodeJS.ProcessEnv; extraArgs?: string[] },
): Contender {
  const extra = config.extraArgs ?? [];
  return commandContender(context, {
    id: config.id ?? 'image-service-cli',
    label: 'image-service command',
    kind: 'image-service',
    command: process.execPath,
    args: (dest) => [CLI, 'download', config.href, dest, '--no-progress', ...extra],
    display: ['image-service', 'download', config.href, '<dest>', '--no-progress', ...extra]
      .map(shellQuote)
      .join(' '),
    env: config.env,
  });
}

/** The environment children get: the bench's, without proxies and without any driver's or cloud's settings. */
export function cleanEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (/^(OS_|AWS_|IMAGE_SERVICE_)|_proxy$/i.test(name)) continue;
    out[name] = value;
  }
  return out;
}
