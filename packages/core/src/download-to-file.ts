import { randomBytes } from 'node:crypto';
import { constants, type FileHandle, lstat, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { abortedError, throwIfAborted } from './abort.js';
import type { BaseImageService } from './base.js';
import { ImageDownloadFailed, isImageServiceError } from './errors.js';
import { FileSink, type FileSinkOptions } from './sinks.js';
import { asDownloadFailed, writeFailed } from './transfer.js';
import type { DownloadOptions, DownloadResult } from './types.js';

/** Options of {@link downloadToFile}. */
export interface DownloadToFileOptions extends DownloadOptions {
  /** How the file is written: batch size and writes in flight. */
  fileSink?: FileSinkOptions;
  /** Permission bits of the new file (before the umask). Default 0o644. */
  mode?: number;
}

const PARTIAL_SUFFIX = '.image-service-partial';

/** The temporary file a download to `path` writes into: hidden, next to it, naming this process. */
export function partialPathFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}${PARTIAL_SUFFIX}`,
  );
}

/**
 * Downloads an image to `path` atomically: it is written to a temporary file in the same directory, flushed to disk and
 * renamed over `path` only once complete and verified. On any failure (or abort) the destination is untouched (an
 * existing file stays as it was) and the temporary file is removed. Temporary files left by a process that died are
 * removed by the next download to the same path.
 */
export async function downloadToFile(
  service: BaseImageService,
  imageHref: string,
  path: string,
  options: DownloadToFileOptions = {},
): Promise<DownloadResult> {
  throwIfAborted(options.signal, imageHref);
  const destination = resolve(path);
  await checkDestination(imageHref, destination);
  await removeAbandonedPartials(destination);
  const partial = partialPathFor(destination);
  let file: FileHandle | undefined;
  try {
    let result = service.downloadToPath ? await service.downloadToPath(imageHref, partial, options) : null;
    if (result) {
      file = await open(partial, constants.O_RDONLY);
    } else {
      file = await openPartial(imageHref, partial, options.mode ?? 0o644);
      const sink = new FileSink(file, options.fileSink);
      result = await service.transfer(imageHref, sink, options);
      await sink.flush().catch((error) => {
        throw writeFailed(imageHref, error);
      });
    }
    await file.sync().catch((error) => {
      throw writeFailed(imageHref, error);
    });
    await file.close();
    file = undefined;
    throwIfAborted(options.signal, imageHref);
    await rename(partial, destination).catch((error) => {
      throw writeFailed(imageHref, error);
    });
    await syncDirectory(dirname(destination));
    return result;
  } catch (error) {
    await file?.close().catch(() => {});
    await unlink(partial).catch(() => {});
    if (options.signal?.aborted) throw abortedError(options.signal, imageHref);
    throw isImageServiceError(error) ? error : asDownloadFailed(imageHref, error);
  }
}

async function openPartial(imageHref: string, partial: string, mode: number): Promise<FileHandle> {
  try {
    return await open(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? `the destination directory ${dirname(partial)} does not exist`
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? `the destination directory ${dirname(partial)} is not writable (${code})`
          : `cannot create a file in ${dirname(partial)} (${code ?? String(error)})`;
    throw new ImageDownloadFailed({ imageHref, reason, cause: error });
  }
}

async function checkDestination(imageHref: string, destination: string): Promise<void> {
  const info = await lstat(destination).catch(() => undefined);
  const target = info?.isSymbolicLink() ? await stat(destination).catch(() => undefined) : info;
  if (target?.isDirectory()) {
    throw new ImageDownloadFailed({ imageHref, reason: `the destination ${destination} is a directory` });
  }
  if (target && !target.isFile()) {
    throw new ImageDownloadFailed({
      imageHref,
      reason: `the destination ${destination} is not a regular file`,
    });
  }
}

/** Removes temporary files of earlier downloads to `destination` whose process is gone. */
async function removeAbandonedPartials(destination: string): Promise<void> {
  const prefix = `.${basename(destination)}.`;
  const names = await readdir(dirname(destination)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(PARTIAL_SUFFIX)) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) {
      await unlink(join(dirname(destination), name)).catch(() => {});
    }
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY).catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => {});
  await handle.close().catch(() => {});
}
