import { defineConfig } from 'vitest/config';

/** Tests against the real peers (nginx, Ceph radosgw, Glance and Keystone) that scripts/peers/run.sh starts. */
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.peers.test.ts', 'examples/*/test/**/*.peers.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    reporters: ['default', ['json', { outputFile: '.vitest-peers-results.json' }]],
  },
});
