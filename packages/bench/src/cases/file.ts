import { stat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { commandContender, libraryContender } from '../contenders.js';
import type { BenchContext } from '../context.js';
import { measureThroughput } from '../measure.js';
import { toolPath } from '../tools.js';
import type { ThroughputCase } from '../types.js';

/** Throws unless `dest` is (or, with `same` false, is not) the image's own inode. */
async function sameInode(source: string, dest: string, same: boolean): Promise<void> {
  const [a, b] = await Promise.all([stat(source), stat(dest)]);
  const linked = a.ino === b.ino && a.dev === b.dev;
  if (linked !== same)
    throw new Error(same ? `${dest} is a copy, not a hard link` : `${dest} is a hard link, not a copy`);
}

/**
 * file, copy: the image on the local disk copied to tmpfs (another file system, so no hard link is possible) by
 * image-service's file driver (default options: it tries the hard link, then lets the kernel copy) and by cp.
 */
export async function fileCopyCase(context: BenchContext): Promise<ThroughputCase> {
  const { image } = context;
  const href = pathToFileURL(image.path).href;
  return measureThroughput({
    id: 'file-copy',
    title: 'file: copy across file systems (local disk to tmpfs)',
    description:
      `The image on the local disk copied to ${context.otherFsDir} (tmpfs) by the file driver with its default ` +
      'options (a hard link fails across file systems, so it copies with the kernel) and by cp.',
    image,
    reference: 'image-service',
    rounds: context.options.rounds,
    destDir: context.otherFsDir,
    verifyAll: context.options.verifyAll,
    contenders: [
      {
        ...libraryContender(context, { id: 'image-service', label: 'image-service library', href }),
        check: (dest) => sameInode(image.path, dest, false),
      },
      commandContender(context, {
        id: 'cp',
        label: 'cp',
        kind: 'peer',
        command: toolPath('cp'),
        args: (dest) => [image.path, dest],
        check: (dest) => sameInode(image.path, dest, false),
      }),
    ],
  });
}

/** file, hard link: the image "downloaded" within its own file system, where the file driver hard links it; vs ln. */
export async function fileLinkCase(context: BenchContext): Promise<ThroughputCase> {
  const { image } = context;
  const href = pathToFileURL(image.path).href;
  return measureThroughput({
    id: 'file-link',
    title: 'file: hard link within one file system',
    description:
      'The image downloaded to a path on its own file system: the file driver hard links it (constant time whatever ' +
      'the size; each output is checked to be the same inode). ln, a process of its own, for scale.',
    image,
    reference: 'image-service',
    rounds: context.options.rounds,
    destDir: context.destDir,
    verifyAll: context.options.verifyAll,
    timeOnly: true,
    contenders: [
      {
        ...libraryContender(context, {
          id: 'image-service',
          label: 'image-service library (hard link)',
          href,
        }),
        check: (dest) => sameInode(image.path, dest, true),
      },
      commandContender(context, {
        id: 'ln',
        label: 'ln',
        kind: 'peer',
        command: '/usr/bin/ln',
        args: (dest) => [image.path, dest],
        check: (dest) => sameInode(image.path, dest, true),
      }),
    ],
  });
}
