import { copyFile, link, unlink } from 'node:fs/promises';
import type { RunContext } from './contenders.js';
import type { Image } from './images.js';
import type { BenchOptions } from './options.js';
import type { Peers } from './peers.js';

/** Undo actions run at the end, last registered first, whatever happened. */
export class Cleanup {
  readonly #actions: Array<{ what: string; action: () => Promise<unknown> }> = [];

  /** Registers an action. */
  add(what: string, action: () => Promise<unknown>): void {
    this.#actions.push({ what, action });
  }

  /** Runs every action once, newest first; reports (not throws) failures. */
  async run(): Promise<void> {
    while (this.#actions.length > 0) {
      const { what, action } = this.#actions.pop()!;
      try {
        await action();
      } catch (error) {
        console.error(`bench: cleanup "${what}" failed: ${(error as Error).message}`);
      }
    }
  }
}

/** What every case gets. */
export interface BenchContext extends RunContext {
  /** The run's settings. */
  options: BenchOptions;
  /** The peers (already started for the selected cases). */
  peers: Peers;
  /** The main random image, on local disk. */
  image: Image;
  /** Where outputs go: a fresh directory on the local disk. */
  destDir: string;
  /** A fresh directory on another file system (tmpfs), for the file case's copy. */
  otherFsDir: string;
  /** Undo actions. */
  cleanup: Cleanup;
  /** Caveats collected for the report. */
  notes: string[];
}

/** Places `source` at `target` (a hard link when possible, else a copy) and registers its removal. */
export async function placeImage(context: BenchContext, source: string, target: string): Promise<void> {
  await unlink(target).catch(() => {});
  await link(source, target).catch(() => copyFile(source, target));
  context.cleanup.add(`remove ${target}`, () => unlink(target));
}
