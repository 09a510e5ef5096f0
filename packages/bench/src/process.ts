import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const GNU_TIME = '/usr/bin/time';

/** Whether GNU time is there to measure children's peak RSS. */
export const canMeasureRss: boolean = existsSync(GNU_TIME);

/** Child process groups still running, killed when the bench is interrupted. */
const running = new Set<ChildProcess>();

let interrupted = false;

/** Whether the bench was interrupted: measurements stop starting new runs (cleanup still may). */
export function isInterrupted(): boolean {
  return interrupted;
}

/** Throws when the bench was interrupted; measurement loops call it before each run. */
export function throwIfInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

/** Marks the bench interrupted and kills every child it started that still runs (its whole process group). */
export function interrupt(): void {
  interrupted = true;
  killRunningChildren();
}

/** Kills every child the bench started and that still runs (its whole process group). */
function killRunningChildren(): void {
  for (const child of running) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
  }
  running.clear();
}

/** How to run a child. */
export interface RunOptions {
  /** The child's environment. Default: the bench's. */
  env?: NodeJS.ProcessEnv;
  /** The working directory. */
  cwd?: string;
  /** Kill the child (and its group) after this long, in ms, and fail. Default 10 minutes. */
  timeoutMs?: number;
  /** How much of the end of standard error to keep, in characters. Default 64 Ki. */
  keepStderr?: number;
}

/** What a finished child left. */
export interface RunResult {
  /** Its standard output, at most 1 MiB kept. */
  stdout: string;
  /** The end of its standard error (`keepStderr`). */
  stderr: string;
  /** The wall time from spawn to exit, in ms. */
  wallMs: number;
  /** The peak RSS in KiB, when measured with GNU time. */
  peakRssKiB: number | null;
}

/** A failed child: the command, its exit status and the end of its standard error. */
export class CommandFailed extends Error {
  constructor(
    readonly command: string,
    readonly status: string,
    readonly stderr: string,
  ) {
    super(
      `${command} failed (${status})${stderr.trim() ? `:\n${stderr.trim().split('\n').slice(-15).join('\n')}` : ''}`,
    );
  }
}

/** Quotes an argument for display (and for sh). */
export function shellQuote(arg: string): string {
  if (/^<\w+>$/.test(arg)) return arg; // a placeholder such as <dest>, shown as it is
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `command args...` in its own process group, to completion; rejects with {@link CommandFailed} on a non-zero
 * exit, a signal or the timeout. With `measureRss`, it runs under GNU time and reports the peak RSS.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions & { measureRss?: string | false } = {},
): Promise<RunResult> {
  const rssFile = options.measureRss && canMeasureRss ? options.measureRss : undefined;
  const argv = rssFile ? [GNU_TIME, '-f', '%M', '-o', rssFile, command, ...args] : [command, ...args];
  const display = [command, ...args].map(shellQuote).join(' ');
  const started = performance.now();
  const child = spawn(argv[0] as string, argv.slice(1), {
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    if (stdout.length < 1024 * 1024) stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-(options.keepStderr ?? 64 * 1024));
  });
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  }).finally(() => {
    clearTimeout(timer);
    running.delete(child);
  });
  const wallMs = performance.now() - started;
  let peakRssKiB: number | null = null;
  if (rssFile) {
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    await unlink(rssFile).catch(() => {});
    // GNU time writes "Command exited with non-zero status N" before the value when the command fails.
    const last = text.trim().split('\n').pop() ?? '';
    peakRssKiB = /^\d+$/.test(last) ? Number(last) : null;
  }
  if (timedOut) throw new CommandFailed(display, `killed after ${Math.round(timeoutMs / 1000)} s`, stderr);
  if (code !== 0) throw new CommandFailed(display, signal ? `signal ${signal}` : `exit ${code}`, stderr);
  return { stdout, stderr, wallMs, peakRssKiB };
}

/** Runs a command and returns its trimmed standard output, or undefined when it fails. */
export async function outputOf(command: string, args: readonly string[], env?: NodeJS.ProcessEnv) {
  try {
    const result = await run(command, args, { timeoutMs: 30_000, env });
    return `${result.stdout}\n${result.stderr}`.trim();
  } catch {
    return undefined;
  }
}

/** The file GNU time writes a run's peak RSS into. */
export function rssFileIn(directory: string): string {
  return join(directory, `rss-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
}
