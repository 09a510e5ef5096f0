import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Paths the process may not read, checked as an unprivileged user (root reads everything): the tests run as root in CI,
 * so the driver runs in a child process switched to `nobody` with setpriv (or runuser).
 */

const script = fileURLToPath(new URL('./fixtures/probe-as-user.mjs', import.meta.url));
const NOBODY = 65534;

interface Outcome {
  ok: boolean;
  name?: string;
  code?: string;
  message?: string;
}
interface Probe {
  href: string;
  show: Outcome;
  validate: Outcome;
  download: Outcome;
}

/** The command that runs node as `nobody` when this process is root, else node as it is. */
function asUnprivileged(args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [process.execPath, args];
  if (existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv')) {
    return [
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...args],
    ];
  }
  return ['runuser', ['-u', 'nobody', '--', process.execPath, ...args]];
}

function probe(destination: string, hrefs: string[]): Promise<Probe[]> {
  const [command, args] = asUnprivileged([script, destination, ...hrefs]);
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else
        resolve(
          stdout
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as Probe),
        );
    });
  });
}

let root = '';
const href = (...parts: string[]) => pathToFileURL(join(root, ...parts)).href;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'image-service-perms-'));
  await chmod(root, 0o755);
  for (const [dir, mode] of [
    ['open', 0o755],
    ['locked', 0o700],
    ['list-only', 0o744],
    ['out', 0o777],
  ] as const) {
    await mkdir(join(root, dir));
    await writeFile(join(root, dir, 'image.img'), 'image bytes');
    await chmod(join(root, dir), mode);
  }
  await writeFile(join(root, 'open', 'private.img'), 'private bytes', { mode: 0o600 });
  await symlink(join(root, 'locked', 'image.img'), join(root, 'open', 'into-locked.img'));
  await rm(join(root, 'out', 'image.img'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('paths the process cannot read', () => {
  it('refuse with ImageRefValidationFailed saying why, from show, validateHref and downloadToFile; nothing is written', async () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'a directory it cannot enter',
        href('locked', 'image.img'),
        /permission denied on the way to .*\/locked\/image\.img/,
      ],
      [
        'a directory it can list but not enter',
        href('list-only', 'image.img'),
        /permission denied on the way to .*\/list-only\/image\.img/,
      ],
      [
        'a file it cannot read',
        href('open', 'private.img'),
        /permission denied reading .*\/open\/private\.img/,
      ],
      [
        'a symlink into a directory it cannot enter',
        href('open', 'into-locked.img'),
        /permission denied on the way to .*\/open\/into-locked\.img/,
      ],
    ];
    const results = await probe(join(root, 'out'), [href('open', 'image.img'), ...cases.map(([, h]) => h)]);
    const [readable, ...refused] = results;
    // The same user can read an ordinary file, so the refusals below come from the permissions alone.
    expect(readable).toMatchObject({ show: { ok: true }, validate: { ok: true }, download: { ok: true } });
    for (const [index, [what, , reason]] of cases.entries()) {
      const result = refused[index]!;
      for (const outcome of [result.show, result.validate, result.download]) {
        expect(outcome, what).toMatchObject({
          ok: false,
          name: 'ImageRefValidationFailed',
          code: 'IMAGE_REF_VALIDATION_FAILED',
        });
        expect(outcome.message, what).toMatch(
          /^Validation of image href file:\/\/\/.* failed, reason: Specified image file not found: /,
        );
        expect(outcome.message, what).toMatch(reason);
      }
    }
    expect(await readdir(join(root, 'out'))).toEqual(['image-0.img']);
  });
});
