import { parseArgs } from 'node:util';
import { formatBytes, parseSize } from './stats.js';

/** Every case the bench knows, in the order it runs them. */
export const CASES = ['http', 's3', 'glance', 'file', 'show', 'startup', 'memory'] as const;

/** A case's name. */
export type CaseName = (typeof CASES)[number];

/** The settings of one run. */
export interface BenchOptions {
  /** Small images and fewer rounds. */
  quick: boolean;
  /** The image size, bytes. */
  size: number;
  /** The large image of the memory case, bytes; null to skip it. */
  bigSize: number | null;
  /** Measured rounds per throughput case (after one warm-up round). */
  rounds: number;
  /** `show` calls measured per way of asking. */
  showCalls: number;
  /** Command start-up runs measured. */
  startupRuns: number;
  /** The cases to run. */
  cases: CaseName[];
  /** Where results.json, README.md and chart.svg go. */
  outDir: string | undefined;
  /** Check every output's SHA-256, not only each tool's warm-up output. */
  verifyAll: boolean;
  /** The scratch directory's parent (must be a local disk, not tmpfs). */
  workRoot: string | undefined;
}

/** The command's help. */
export const USAGE = `Usage: pnpm bench [--quick] [options]

Measures image-service against curl, wget, aria2c, the AWS CLI and cp on the real peers (started with
scripts/peers/*/start.sh unless already running, stopped again at the end) and writes results.json, README.md and
chart.svg into docs/benchmarks/ (a --quick run into bench-results/).

Options:
  --quick             ${formatBytes(64 * 1024 * 1024)} images, 3 rounds, no 4 GiB memory run (under 3 minutes)
  --size <n>          image size, e.g. 512M, 1G (default 1G; quick 64M)
  --big-size <n>      the memory case's large image (default 4G; none in quick mode); 0 skips it
  --rounds <n>        measured rounds per case after one warm-up round (default 5; quick 3)
  --show-calls <n>    show calls measured per way of asking (default 200; quick 100)
  --cases <list>      comma-separated subset of: ${CASES.join(', ')}
  --out <dir>         where the results go
  --work-dir <dir>    parent of the scratch directory (default the OS temp directory; must not be tmpfs)
  --verify-all        check the SHA-256 of every output, not only each tool's warm-up output
  -h, --help          this help`;

/** Parses the bench's arguments; throws a TypeError on a bad one. */
export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      size: { type: 'string' },
      'big-size': { type: 'string' },
      rounds: { type: 'string' },
      'show-calls': { type: 'string' },
      cases: { type: 'string' },
      out: { type: 'string' },
      'work-dir': { type: 'string' },
      'verify-all': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const count = (name: string, text: string | undefined, fallback: number, min: number) => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < min)
      throw new TypeError(`--${name} takes a whole number >= ${min}`);
    return Number(text);
  };
  const bigText = values['big-size'];
  const cases = values.cases
    ?.split(',')
    .map((c) => c.trim())
    .filter(Boolean) ?? [...CASES];
  for (const name of cases) {
    if (!(CASES as readonly string[]).includes(name)) {
      throw new TypeError(`--cases: unknown case "${name}" (known: ${CASES.join(', ')})`);
    }
  }
  return {
    quick,
    size: values.size ? parseSize(values.size) : (quick ? 64 : 1024) * 1024 * 1024,
    bigSize: bigText === '0' ? null : bigText ? parseSize(bigText) : quick ? null : 4 * 1024 * 1024 * 1024,
    rounds: count('rounds', values.rounds, quick ? 3 : 5, 1),
    showCalls: count('show-calls', values['show-calls'], quick ? 100 : 200, 10),
    startupRuns: quick ? 5 : 10,
    cases: CASES.filter((name) => cases.includes(name)),
    outDir: values.out,
    verifyAll: values['verify-all'] ?? false,
    workRoot: values['work-dir'],
  };
}
