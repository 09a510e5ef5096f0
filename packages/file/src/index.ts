import { constants, createReadStream } from 'node:fs';
import { copyFile, type FileHandle, link, open, readlink, realpath, stat, unlink } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BaseImageService,
  createHasher,
  type DownloadOptions,
  type DownloadResult,
  defaultRegistry,
  formatChecksum,
  ImageChecksumError,
  ImageDownloadFailed,
  type ImageInfo,
  ImageRefValidationFailed,
  type ImageServiceRegistry,
  type ImageStream,
  normalizeChecksum,
  type ReadRequest,
  type ShowOptions,
  throwIfAborted,
  type ValidateOptions,
} from '@image-service/core';

/** The scheme this driver serves. */
export const FILE_SCHEME = 'file';

/** Directories a file URL may never reach, whatever `allowedPaths` says (the reference's list). */
export const BLOCKED_PATHS: readonly string[] = ['/dev', '/sys', '/proc', '/boot', '/etc', '/run'];

/** Options of {@link FileImageService}. */
export interface FileOptions {
  /**
   * Absolute directories images may be served from (checked on the real path, symlinks resolved; `/srv/images` does
   * not admit `/srv/images2`). Unset: every path outside {@link BLOCKED_PATHS} is allowed.
   */
  allowedPaths?: readonly string[];
  /** Hard link the image to the destination when `downloadToFile` can (the reference's behaviour). Default true. */
  hardLink?: boolean;
}

/** A file the driver opened and checked: its descriptor, real path and size. */
interface CheckedFile {
  handle: FileHandle;
  realPath: string;
  size: number;
  mtime: Date;
  validator: string;
}

/** Whether `path` is `directory` or inside it (sibling-safe: /a/b does not contain /a/bc). */
function within(path: string, directory: string): boolean {
  const dir = directory.endsWith(sep) ? directory.slice(0, -1) : directory;
  return dir === '' || path === dir || path.startsWith(`${dir}${sep}`);
}

/** Provides retrieval of disk images available locally (the seed's `FileImageService`), confined and symlink-safe. */
export class FileImageService extends BaseImageService {
  readonly name = 'file';
  readonly #allowedPaths: readonly string[] | undefined;
  readonly #hardLink: boolean;

  constructor(options: FileOptions = {}) {
    super();
    if (options.allowedPaths) {
      for (const dir of options.allowedPaths) {
        if (!isAbsolute(dir))
          throw new TypeError(`allowedPaths entries must be absolute directories, got "${dir}"`);
      }
      this.#allowedPaths = options.allowedPaths.map((dir) => resolve(dir));
    }
    this.#hardLink = options.hardLink ?? true;
  }

  /** The local path a file href names, percent-decoded; throws `ImageRefValidationFailed` for any other form. */
  pathOf(imageHref: string, secret?: boolean): string {
    const fail = (reason: string) => new ImageRefValidationFailed({ imageHref, reason, secret });
    if (typeof imageHref !== 'string' || !/^file:/i.test(imageHref))
      throw fail('A file URL must start with file://.');
    let url: URL;
    try {
      url = new URL(imageHref);
    } catch {
      throw fail('It is not a valid file URL.');
    }
    if (!/^file:\/\//i.test(imageHref)) throw fail('A file URL must be file:///<absolute path>.');
    if (url.hostname !== '' && url.hostname !== 'localhost') {
      throw fail(
        `A file URL names a local path: file:///<path> or file://localhost/<path>, not a host ("${url.hostname}"); ` +
          'for a path, use three slashes.',
      );
    }
    if (url.search || url.hash) throw fail('A file URL has no query or fragment.');
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (error) {
      throw fail(`Its path cannot be decoded: ${(error as Error).message}`);
    }
    if (path.includes('\0')) throw fail('Its path contains a NUL byte.');
    return path;
  }

  #checkBlocked(imageHref: string, path: string, secret?: boolean): void {
    if (BLOCKED_PATHS.some((blocked) => within(path, blocked))) {
      throw new ImageRefValidationFailed({
        imageHref,
        secret,
        reason: `Security: The path ${path} is not permitted in file URLs`,
      });
    }
  }

  #checkAllowed(
    imageHref: string,
    path: string,
    allowed: readonly string[] | undefined,
    secret?: boolean,
  ): void {
    if (allowed && !allowed.some((dir) => within(path, dir))) {
      throw new ImageRefValidationFailed({
        imageHref,
        secret,
        reason: `Security: Path ${path} is not allowed for image source file URLs`,
      });
    }
  }

  async #allowedRealPaths(): Promise<readonly string[] | undefined> {
    if (!this.#allowedPaths) return undefined;
    return Promise.all(this.#allowedPaths.map((dir) => realpath(dir).catch(() => dir)));
  }

  /**
   * Resolves, checks and opens the file: the blocked list and the allow-list are applied to the path as given and to its
   * real path (so no symlink escapes), only a regular file is opened (never a device or FIFO, which could hang), and the
   * opened descriptor is checked again (so a link swapped in between is caught).
   */
  async #openChecked(imageHref: string, secret?: boolean): Promise<CheckedFile> {
    const path = this.pathOf(imageHref, secret);
    this.#checkBlocked(imageHref, path, secret);
    this.#checkAllowed(imageHref, path, this.#allowedPaths, secret);
    const notFound = (detail?: string) =>
      new ImageRefValidationFailed({
        imageHref,
        secret,
        reason: detail ? `Specified image file not found: ${detail}` : 'Specified image file not found.',
      });
    let real: string;
    try {
      real = await realpath(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw notFound(`permission denied on the way to ${path}`);
      if (code === 'ELOOP') throw notFound(`too many levels of symbolic links at ${path}`);
      throw notFound();
    }
    const allowed = await this.#allowedRealPaths();
    this.#checkRealPath(imageHref, real, allowed, secret);
    const info = await stat(real).catch(() => undefined);
    if (!info) throw notFound();
    if (!info.isFile()) throw notFound(`${path} is ${describeKind(info)}, not a regular file`);
    let handle: FileHandle;
    try {
      handle = await open(
        real,
        constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY,
      );
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw notFound(
        code === 'EACCES' ? `permission denied reading ${path}` : `${path} cannot be opened (${code})`,
      );
    }
    try {
      const opened = await handle.stat();
      if (!opened.isFile()) throw notFound(`${path} is ${describeKind(opened)}, not a regular file`);
      const openedPath = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
      if (openedPath !== undefined) {
        this.#checkRealPath(imageHref, openedPath, allowed, secret);
      } else if (opened.ino !== info.ino || opened.dev !== info.dev) {
        throw notFound(`${path} changed while it was being opened`);
      }
      return {
        handle,
        realPath: openedPath ?? real,
        size: opened.size,
        mtime: opened.mtime,
        validator: `${opened.dev}:${opened.ino}:${opened.size}:${opened.mtimeMs}`,
      };
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  #checkRealPath(
    imageHref: string,
    real: string,
    allowed: readonly string[] | undefined,
    secret?: boolean,
  ): void {
    this.#checkBlocked(imageHref, real, secret);
    this.#checkAllowed(imageHref, real, allowed, secret);
  }

  /** Checks the href and that it names an allowed regular file; resolves with its real path and size. */
  async validateHref(
    imageHref: string,
    options: ValidateOptions = {},
  ): Promise<{ path: string; size: number }> {
    throwIfAborted(options.signal, imageHref, options.secret);
    const file = await this.#openChecked(imageHref, options.secret);
    await file.handle.close();
    return { path: file.realPath, size: file.size };
  }

  /** Size, `updatedAt` from the file's mtime, empty properties and `noCache: true` (as the reference). */
  async show(imageHref: string, options: ShowOptions = {}): Promise<ImageInfo> {
    throwIfAborted(options.signal, imageHref);
    const file = await this.#openChecked(imageHref);
    await file.handle.close();
    return { size: file.size, updatedAt: file.mtime, properties: {}, noCache: true };
  }

  protected override async openRead(imageHref: string, request: ReadRequest): Promise<ImageStream> {
    throwIfAborted(request.signal, imageHref);
    const file = await this.#openChecked(imageHref);
    if (request.validator !== undefined && request.validator !== file.validator) {
      await file.handle.close();
      throw new ImageDownloadFailed({
        imageHref,
        reason: 'the file changed during the download',
        mustRestart: true,
        transient: true,
      });
    }
    const end =
      request.length === undefined ? file.size : Math.min(file.size, request.offset + request.length);
    if (request.offset >= end) {
      await file.handle.close();
      return {
        body: (async function* () {})(),
        size: file.size,
        validator: file.validator,
        rangesSupported: true,
      };
    }
    const body = createReadStream('', {
      fd: file.handle,
      start: request.offset,
      end: end - 1,
      highWaterMark: 1024 * 1024,
      signal: request.signal,
    });
    return { body, size: file.size, validator: file.validator, rangesSupported: true };
  }

  /**
   * For `downloadToFile`: hard links the image to the temporary path when allowed and possible (verifying a digest by
   * reading it once, with progress); otherwise, when a digest is wanted, lets the core stream it (one pass that reads,
   * hashes and writes); else clones or copies it with the kernel.
   */
  override async downloadToPath(
    imageHref: string,
    path: string,
    options: DownloadOptions,
  ): Promise<DownloadResult | null> {
    throwIfAborted(options.signal, imageHref);
    const file = await this.#openChecked(imageHref);
    await file.handle.close();
    const wantsDigest = options.checksum !== undefined || options.computeChecksum !== undefined;
    const linked =
      this.#hardLink &&
      (await link(file.realPath, path).then(
        () => true,
        () => false,
      ));
    if (!linked && wantsDigest) return null;
    options.onProgress?.({ bytes: 0, total: file.size });
    try {
      if (!linked) {
        await copyFile(file.realPath, path, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE).catch(
          (error) => {
            throw new ImageDownloadFailed({
              imageHref,
              reason: `copying ${file.realPath} failed (${(error as NodeJS.ErrnoException).code ?? error})`,
              cause: error,
            });
          },
        );
      }
      throwIfAborted(options.signal, imageHref);
      const placed = await stat(path);
      if (placed.size !== file.size) {
        throw new ImageDownloadFailed({
          imageHref,
          reason: `the copy has ${placed.size} of ${file.size} bytes`,
        });
      }
      const checksum = wantsDigest ? await this.#digestOf(imageHref, path, file.size, options) : undefined;
      options.onProgress?.({ bytes: file.size, total: file.size });
      return checksum ? { bytes: file.size, checksum } : { bytes: file.size };
    } catch (error) {
      await unlink(path).catch(() => {});
      throw error;
    }
  }

  async #digestOf(imageHref: string, path: string, size: number, options: DownloadOptions) {
    const expected = options.checksum ? normalizeChecksum(options.checksum) : undefined;
    const algorithm = expected?.algorithm ?? options.computeChecksum;
    if (!algorithm) return undefined;
    const hasher = createHasher(algorithm);
    let bytes = 0;
    for await (const chunk of createReadStream(path, {
      highWaterMark: 1024 * 1024,
      signal: options.signal,
    })) {
      hasher.update(chunk as Buffer);
      bytes += (chunk as Buffer).byteLength;
      if (bytes < size) options.onProgress?.({ bytes, total: size });
    }
    const actual = hasher.digest();
    if (expected && expected.value !== actual.value) {
      throw new ImageChecksumError({
        imageHref,
        reason: `the expected ${algorithm} digest is ${expected.value} but the image's bytes give ${actual.value}`,
        expected: formatChecksum(expected),
        actual: formatChecksum(actual),
      });
    }
    return actual;
  }
}

function describeKind(info: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** File driver settings from the environment: `IMAGE_SERVICE_FILE_ALLOWED_PATHS` (`:`-separated) and `IMAGE_SERVICE_FILE_HARD_LINK` (`0` to copy). */
export function fileOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): FileOptions {
  const options: FileOptions = {};
  const allowed = env.IMAGE_SERVICE_FILE_ALLOWED_PATHS;
  if (allowed) options.allowedPaths = allowed.split(':').filter(Boolean);
  const hardLink = env.IMAGE_SERVICE_FILE_HARD_LINK;
  if (hardLink !== undefined && hardLink !== '') options.hardLink = !/^(0|false|no|off)$/i.test(hardLink);
  return options;
}

/** Registers the file driver (one shared instance, made on first use) for `file` hrefs in `registry`. */
export function register(
  registry: ImageServiceRegistry = defaultRegistry,
  options: FileOptions = {},
  registerOptions: { override?: boolean } = {},
): void {
  let service: FileImageService | undefined;
  registry.register(FILE_SCHEME, () => (service ??= new FileImageService(options)), registerOptions);
}
