import { existsSync } from 'node:fs';
import { outputOf, run } from './process.js';

/** The AWS CLI the bench measures: Debian's v2 (a pip-installed v1 may come first on PATH). */
export const AWS_CLI = '/usr/bin/aws';

/** The peer tools, where they live and the Debian package that has them. */
const TOOLS: Record<string, { path: string; debian: string }> = {
  curl: { path: '/usr/bin/curl', debian: 'curl' },
  wget: { path: '/usr/bin/wget', debian: 'wget' },
  aria2c: { path: '/usr/bin/aria2c', debian: 'aria2' },
  aws: { path: AWS_CLI, debian: 'awscli' },
  cp: { path: '/usr/bin/cp', debian: 'coreutils' },
};

/** The absolute path of a peer tool. */
export function toolPath(name: keyof typeof TOOLS | string): string {
  const tool = TOOLS[name];
  if (!tool) throw new Error(`unknown tool ${name}`);
  return tool.path;
}

/**
 * Makes sure the named tools are installed, installing the missing ones' Debian packages with apt-get (as root, as
 * scripts/peers/install.sh does). Throws a message saying what to install when that is not possible.
 */
export async function ensureTools(names: readonly string[]): Promise<void> {
  const missing = names.filter((name) => !existsSync(toolPath(name)));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((name) => TOOLS[name]!.debian))];
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the bench needs ${missing.map(toolPath).join(', ')}; install them as root first: ` +
        `apt-get install -y --no-install-recommends ${packages.join(' ')}`,
    );
  }
  console.error(`bench: installing ${packages.join(' ')} (for ${missing.join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], {
      env,
      timeoutMs: 900_000,
    });
  try {
    await install();
  } catch {
    await run('apt-get', ['update', '-q'], { env, timeoutMs: 600_000 });
    await install();
  }
  const still = names.filter((name) => !existsSync(toolPath(name)));
  if (still.length > 0)
    throw new Error(`installing ${packages.join(' ')} did not provide ${still.map(toolPath).join(', ')}`);
}

/** The first line of each tool's version output (and the peers' servers), for the results. */
export async function toolVersions(): Promise<Record<string, string>> {
  const first = (text: string | undefined) =>
    text
      ?.split('\n')
      .find((line) => line.trim())
      ?.trim() ?? 'unknown';
  const probes: Array<[string, string, string[]]> = [
    ['curl', toolPath('curl'), ['--version']],
    ['wget', toolPath('wget'), ['--version']],
    ['aria2c', toolPath('aria2c'), ['--version']],
    ['aws', AWS_CLI, ['--version']],
    ['cp', toolPath('cp'), ['--version']],
    ['nginx', 'nginx', ['-v']],
    ['radosgw', 'radosgw', ['--version']],
    ['glance-api', 'glance-api', ['--version']],
  ];
  const entries = await Promise.all(
    probes.map(async ([name, command, args]) => [name, first(await outputOf(command, args))] as const),
  );
  return Object.fromEntries(entries);
}
