import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

// In a fresh Node process (the built package, as an app loads it): which AWS SDK modules are loaded after importing
// the package, after registering it, and after the first operation.
const script = `
import { createRequire } from 'node:module';
const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((p) => /[\\\\/]@(aws-sdk|smithy)[\\\\/]/.test(p)).length;
const s3 = await import(${JSON.stringify(dist)});
const core = await import('@image-service/core');
const counts = { imported: loaded() };
const registry = new core.ImageServiceRegistry();
s3.register(registry, { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1,
  credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'not-a-real-secret' } });
const service = await registry.resolve('s3://images/disk.img');
counts.registered = loaded();
await service.show('s3://images/disk.img').catch(() => {});
counts.used = loaded();
console.log(JSON.stringify(counts));
`;

describe('loading @image-service/s3', () => {
  it('does not load the AWS SDK until an s3:// href is used', async () => {
    expect(existsSync(dist), 'build the package first (pnpm test builds it)').toBe(true);
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    const counts = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    expect(counts.imported).toBe(0);
    expect(counts.registered).toBe(0);
    expect(counts.used).toBeGreaterThan(0);
  });
});
