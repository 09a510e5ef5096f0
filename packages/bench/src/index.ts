/**
 * `pnpm bench`: image-service against curl, wget, aria2c, the AWS CLI and cp on the real peers. See `--help` and
 * docs/benchmarks/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem, type } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileCopyCase, fileLinkCase } from './cases/file.js';
import { glanceCase } from './cases/glance.js';
import { httpCase } from './cases/http.js';
import { memoryCase } from './cases/memory.js';
import { s3Case } from './cases/s3.js';
import { showCase, startupCase } from './cases/show.js';
import { cleanEnv } from './contenders.js';
import { type BenchContext, Cleanup } from './context.js';
import { hashSpeeds, makeRandomImage } from './images.js';
import { type BenchOptions, type CaseName, parseOptions, USAGE } from './options.js';
import { type PeerName, Peers } from './peers.js';
import { canMeasureRss, interrupt, isInterrupted, throwIfInterrupted } from './process.js';
import { writeReport } from './report.js';
import { formatBytes } from './stats.js';
import { evaluateTargets } from './targets.js';
import { ensureTools, toolVersions } from './tools.js';
import type { BenchResults, MachineInfo } from './types.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const PEERS_OF: Record<CaseName, PeerName[]> = {
  http: ['nginx'],
  s3: ['ceph'],
  glance: ['openstack'],
  file: [],
  show: ['nginx'],
  startup: [],
  memory: ['nginx'],
};

const TOOLS_OF: Record<CaseName, string[]> = {
  http: ['curl', 'wget', 'aria2c'],
  s3: ['aws'],
  glance: ['curl'],
  file: ['cp'],
  show: ['curl'],
  startup: [],
  memory: [],
};

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** Notes every report carries, whatever the run measured. */
function standingNotes(options: BenchOptions): string[] {
  return [
    'The page cache is not dropped (that would disturb everything else on the machine): the images are read from ' +
      'the page cache by the servers, and every run writes a fresh destination file that is deleted after it.',
    "image-service's downloadToFile fsyncs the file (and its directory) before renaming it into place, so its time " +
      'includes writing the bytes to the disk; curl, wget, aria2c, aws and cp return with the data still in the page ' +
      'cache. The "curl, then sync" row shows what durability costs the same bytes with curl.',
    'Library rows are timed inside a fresh Node process around downloadToFile (module loading excluded); the ' +
      'image-service command and the other tools by the wall time of their process (start-up included).',
    'aria2c runs with --file-allocation=none (its default, prealloc, writes the whole file before downloading) and ' +
      '-k1M so that small images split into 4 ranges too.',
    'The Glance case uses the Glance API without Keystone (noauth), so no token is sent by either tool.',
    `The results come from one machine shared with other work; the load average is recorded per case. ${
      options.quick ? 'This is a quick run: small images, few rounds, no 4 GiB memory run.' : ''
    }`.trim(),
    ...(canMeasureRss ? [] : ['/usr/bin/time (GNU time) is missing: peak RSS was not measured.']),
  ];
}

async function main(): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const started = Date.now();
  const date = new Date().toISOString();
  const loadStart = loadavg();
  const outDir = resolve(
    options.outDir ??
      (options.quick ? join(repoRoot, 'bench-results') : join(repoRoot, 'docs', 'benchmarks')),
  );
  const cleanup = new Cleanup();
  const peers = new Peers(repoRoot);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(130);
    console.error(`bench: ${signal}: stopping and cleaning up (again to quit at once)`);
    interrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const wanted = options.cases;
    await ensureTools([...new Set(wanted.flatMap((c) => TOOLS_OF[c]))]);
    const workDir = await mkdtemp(join(options.workRoot ?? tmpdir(), 'image-service-bench-'));
    cleanup.add(`remove ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
    const otherFsDir = await mkdtemp(join('/dev/shm', 'image-service-bench-'));
    cleanup.add(`remove ${otherFsDir}`, () => rm(otherFsDir, { recursive: true, force: true }));
    const destDir = join(workDir, 'out');
    await mkdir(destDir);

    const needed = [...new Set(wanted.flatMap((c) => PEERS_OF[c]))];
    cleanup.add('stop the peers the bench started', () => peers.stopStarted());
    await peers.ensure(needed);

    console.error(`bench: writing a ${formatBytes(options.size)} random image`);
    const image = await makeRandomImage(join(workDir, 'image.img'), options.size);
    const context: BenchContext = {
      options,
      peers,
      image,
      workDir,
      destDir,
      otherFsDir,
      cleanup,
      notes: standingNotes(options),
      env: cleanEnv(),
      timeoutMs:
        120_000 + Math.ceil(Math.max(options.size, options.bigSize ?? 0) / (10 * 1024 * 1024)) * 1000,
    };

    const results: Omit<BenchResults, 'targets' | 'machine' | 'durationSeconds'> = {
      date,
      mode: options.quick ? 'quick' : 'full',
      settings: {
        imageBytes: options.size,
        bigImageBytes: wanted.includes('memory') ? options.bigSize : null,
        rounds: options.rounds,
        warmupRounds: 1,
      },
      cases: [],
      notes: context.notes,
    };
    const failed: string[] = [];
    const attempt = async (name: string, body: () => Promise<void>) => {
      try {
        await body();
      } catch (error) {
        if (isInterrupted()) throw error;
        failed.push(`${name}: ${(error as Error).message}`);
        console.error(`bench: case ${name} failed: ${(error as Error).message}`);
      }
    };
    for (const name of wanted) {
      throwIfInterrupted();
      switch (name) {
        case 'http':
          await attempt('http', async () => void results.cases.push(await httpCase(context)));
          break;
        case 's3':
          await attempt('s3', async () => void results.cases.push(await s3Case(context)));
          break;
        case 'glance':
          await attempt('glance', async () => void results.cases.push(await glanceCase(context)));
          break;
        case 'file':
          await attempt('file copy', async () => void results.cases.push(await fileCopyCase(context)));
          await attempt('file link', async () => void results.cases.push(await fileLinkCase(context)));
          break;
        case 'show':
          await attempt('show', async () => {
            results.show = await showCase(context);
          });
          break;
        case 'startup':
          await attempt('startup', async () => {
            results.startup = await startupCase(context);
          });
          break;
        case 'memory':
          await attempt('memory', async () => {
            results.memory = await memoryCase(context);
          });
          break;
      }
    }
    for (const failure of failed) context.notes.push(`Case failed: ${failure}`);

    const machine: MachineInfo = {
      cores: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      os: `${type()} ${release()} ${process.arch}`,
      node: process.version,
      tools: await toolVersions(),
      commit: commit(),
      loadAverage: { start: loadStart, end: loadavg() },
      hashMiBPerSec: hashSpeeds(),
      peersStarted: [...peers.started],
    };
    const partial = { ...results, machine, durationSeconds: (Date.now() - started) / 1000 };
    const full: BenchResults = { ...partial, targets: evaluateTargets(partial) };
    await writeReport(outDir, full, join(repoRoot, 'node_modules', '.bin', 'biome'));
    console.error(
      `bench: wrote ${outDir}/{results.json,README.md,chart.svg} in ${Math.round(full.durationSeconds)} s`,
    );
    for (const t of full.targets) console.error(`  ${t.status.padEnd(12)} ${t.target}: ${t.measured}`);
    return failed.length > 0 ? 1 : 0;
  } catch (error) {
    if (isInterrupted()) return 130;
    console.error(`bench: ${(error as Error).message}`);
    return 1;
  } finally {
    await cleanup.run();
  }
}

process.exitCode = await main();
