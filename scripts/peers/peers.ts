import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder the peer scripts write their state and `<name>.json` into. */
export const peersDir: string = resolve(
  process.env.IMAGE_SERVICE_PEERS_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.peers'),
);

/**
 * What `scripts/peers/<name>/start.sh` wrote about its running peer. Throws (never skips) when the peer was not started:
 * peer tests run through `pnpm test:peers`, which starts them.
 */
export function peer<T = Record<string, unknown>>(name: 'nginx' | 'ceph' | 'openstack'): T {
  const file = join(peersDir, `${name}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (error) {
    throw new Error(
      `The ${name} peer is not running (${file}: ${(error as Error).message}). Run the peer tests with \`pnpm test:peers\`, which starts it.`,
    );
  }
}
