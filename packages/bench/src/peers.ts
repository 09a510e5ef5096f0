import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run } from './process.js';

/** A real peer of scripts/peers/. */
export type PeerName = 'nginx' | 'ceph' | 'openstack';

/** What scripts/peers/nginx/start.sh writes (the fields the bench uses). */
export interface NginxInfo {
  httpUrl: string;
  docroot: string;
}

/** What scripts/peers/ceph/start.sh writes (the fields the bench uses). */
export interface CephInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** What scripts/peers/openstack/start.sh writes (the fields the bench uses). */
export interface OpenstackInfo {
  glanceNoAuth: { url: string };
}

async function answers(url: string, ok: (status: number) => boolean): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    return ok(response.status);
  } catch {
    return false;
  }
}

/** Starts the peers the bench needs (those not already answering) and stops, at the end, only those it started. */
export class Peers {
  /** The peers this bench started (and will stop). */
  readonly started: PeerName[] = [];
  readonly #scripts: string;
  readonly #dir: string;

  constructor(repoRoot: string) {
    this.#scripts = join(repoRoot, 'scripts', 'peers');
    this.#dir = resolve(process.env.IMAGE_SERVICE_PEERS_DIR ?? join(repoRoot, '.peers'));
  }

  /** The JSON the peer's start script wrote. */
  info<T>(name: PeerName): T {
    return JSON.parse(readFileSync(join(this.#dir, `${name}.json`), 'utf8')) as T;
  }

  /** Whether the peer runs and answers (its JSON alone is not enough: stop.sh leaves it behind). */
  async isUp(name: PeerName): Promise<boolean> {
    let info: Record<string, unknown>;
    try {
      info = this.info(name);
    } catch {
      return false;
    }
    switch (name) {
      case 'nginx':
        return answers(`${(info as unknown as NginxInfo).httpUrl}/healthz`, (s) => s === 200);
      case 'ceph':
        return answers((info as unknown as CephInfo).endpoint, (s) => s < 500);
      case 'openstack':
        return answers(
          `${(info as unknown as OpenstackInfo).glanceNoAuth.url}/v2/images?limit=1`,
          (s) => s === 200,
        );
    }
  }

  /** Starts, in parallel, each of `names` that is not up; throws with the start log's tail when one fails. */
  async ensure(names: readonly PeerName[]): Promise<void> {
    const down: PeerName[] = [];
    for (const name of names) {
      if (await this.isUp(name)) console.error(`bench: peer ${name} already running; leaving it running`);
      else down.push(name);
    }
    const failures: string[] = [];
    await Promise.all(
      down.map(async (name) => {
        console.error(`bench: starting peer ${name}`);
        try {
          const result = await run('bash', [join(this.#scripts, name, 'start.sh')], { timeoutMs: 600_000 });
          this.started.push(name);
          const last = result.stdout.trim().split('\n').pop();
          console.error(`bench: ${last ?? `${name} started`}`);
        } catch (error) {
          this.started.push(name); // start.sh stops what it started on failure; stop.sh again is harmless.
          failures.push(`${name}: ${(error as Error).message}`);
        }
      }),
    );
    if (failures.length > 0) throw new Error(`peers failed to start:\n${failures.join('\n')}`);
    for (const name of names) {
      if (!(await this.isUp(name))) throw new Error(`peer ${name} does not answer after its start`);
    }
  }

  /** Stops the peers this bench started. */
  async stopStarted(): Promise<void> {
    for (const name of this.started.splice(0)) {
      console.error(`bench: stopping peer ${name}`);
      await run('bash', [join(this.#scripts, name, 'stop.sh')], { timeoutMs: 120_000 }).catch((error) => {
        console.error(`bench: stopping ${name} failed: ${(error as Error).message}`);
      });
    }
  }
}
