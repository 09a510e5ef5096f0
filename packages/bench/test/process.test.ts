import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandFailed, canMeasureRss, rssFileIn, run, shellQuote } from '../src/process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-process-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('run', () => {
  it('returns the output and, with GNU time, the peak RSS (removing its file)', async () => {
    const result = await run(process.execPath, ['-e', 'process.stdout.write("hi")'], {
      measureRss: rssFileIn(dir),
    });
    expect(result.stdout).toBe('hi');
    if (canMeasureRss) expect(result.peakRssKiB).toBeGreaterThan(1000);
    else expect(result.peakRssKiB).toBeNull();
    expect(await readdir(dir)).toEqual([]);
  });

  it('rejects with the exit status and the end of standard error', async () => {
    const failing = run(process.execPath, ['-e', 'console.error("boom"); process.exit(3)'], {
      measureRss: rssFileIn(dir),
    });
    await expect(failing).rejects.toBeInstanceOf(CommandFailed);
    await expect(failing).rejects.toThrow(/exit 3[\s\S]*boom/);
  });

  it('kills the whole process group after the timeout', async () => {
    const pidFile = join(dir, 'pid');
    await expect(
      run('bash', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`], { timeoutMs: 500 }),
    ).rejects.toThrow(/killed after/);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await rm(pidFile);
    // The background sleep is gone (or a zombie waiting for init to reap it).
    const state = await readFile(`/proc/${pid}/stat`, 'utf8').then(
      (text) => text.split(' ')[2],
      () => 'gone',
    );
    expect(['gone', 'Z']).toContain(state);
  });
});

describe('shellQuote', () => {
  it('quotes what a shell would split or expand, and leaves placeholders', () => {
    expect(shellQuote('/usr/bin/curl')).toBe('/usr/bin/curl');
    expect(shellQuote('*')).toBe("'*'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('<dest>')).toBe('<dest>');
  });
});
