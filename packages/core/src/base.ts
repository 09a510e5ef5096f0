import { Writable } from 'node:stream';
import { ImageDownloadFailed } from './errors.js';
import type { ParallelOptions } from './parallel.js';
import { isTransientError } from './retry.js';
import { StreamSink } from './sinks.js';
import { type ImageSink, type ImageStream, type ReadRequest, transfer } from './transfer.js';
import type { DownloadOptions, DownloadResult, ImageInfo, ShowOptions, ValidateOptions } from './types.js';

/**
 * Provides retrieval of disk images: the contract every driver implements (the seed's `BaseImageService`).
 *
 * A driver implements `validateHref`, `show` and `openRead` (how to open a byte range of an image); the core then does
 * the shared work of `download` once: streaming with backpressure, counting, checksums, progress, retries and resume.
 * A driver with a faster way may override `download`, or implement `downloadToPath` for `downloadToFile`.
 */
export abstract class BaseImageService {
  /** A short name for the driver, such as `file` or `http`. */
  abstract readonly name: string;

  /**
   * Checks that the href is well formed and that its image can be reached. Resolves with what the driver learned (for
   * http, the HEAD response); rejects with `ImageRefValidationFailed` (or a subclass).
   */
  abstract validateHref(imageHref: string, options?: ValidateOptions): Promise<unknown>;

  /** The image's size, last change and properties. Rejects with `ImageRefValidationFailed` (or a subclass). */
  abstract show(imageHref: string, options?: ShowOptions): Promise<ImageInfo>;

  /**
   * Opens a byte range of the image. The core calls it with offset 0 to start a download and again with a later
   * offset (and the first stream's validator) to resume one. Drivers that override `download` need not implement it.
   */
  protected openRead(imageHref: string, _request: ReadRequest): Promise<ImageStream> {
    return Promise.reject(
      new ImageDownloadFailed({ imageHref, reason: `the ${this.name} driver cannot open byte ranges` }),
    );
  }

  /**
   * The driver's parallel ranged-fetch settings for large images (part size, concurrency, threshold), or false to
   * always use one request. Callers override them with the `parallel` download option. Default false.
   */
  protected parallelDefaults(): ParallelOptions | false {
    return false;
  }

  /** Whether a failure may be retried; the default knows network failures and image-service errors marked transient. */
  protected isTransientError(error: unknown): boolean {
    return isTransientError(error);
  }

  /**
   * Downloads the image into `imageFile` (the seed's `download`). The stream is ended once the image is written (unless
   * `end: false`) and destroyed on failure. Rejects with `ImageRefValidationFailed`, `ImageDownloadFailed`,
   * `ImageChecksumError` or `ImageOperationAborted`.
   */
  async download(
    imageHref: string,
    imageFile: NodeJS.WritableStream,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    const sink = new StreamSink(imageFile);
    const end = options.end !== false;
    try {
      const result = await this.transfer(imageHref, sink, options);
      await sink.finish(end);
      return result;
    } catch (error) {
      sink.abandon(error, end);
      throw error;
    }
  }

  /**
   * Streams the image into a sink. `downloadToFile` uses it to write through its own fast file sink. Drivers that
   * implement `openRead` get the core's transfer; those that only override `download` are driven through it.
   */
  async transfer(imageHref: string, sink: ImageSink, options: DownloadOptions = {}): Promise<DownloadResult> {
    if (this.openRead === BaseImageService.prototype.openRead) {
      return this.download(imageHref, sinkAsWritable(sink), { ...options, end: true });
    }
    return transfer({
      imageHref,
      open: (request) => this.openRead(imageHref, request),
      sink,
      options,
      isTransient: (error) => this.isTransientError(error),
      parallel: this.parallelDefaults(),
    });
  }

  /**
   * Optionally places the image at `path` by a faster means than streaming (a hard link, a copy-on-write clone).
   * `downloadToFile` calls it with a temporary path that does not exist yet; resolving null means "stream instead".
   */
  downloadToPath?(imageHref: string, path: string, options: DownloadOptions): Promise<DownloadResult | null>;
}

function sinkAsWritable(sink: ImageSink): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Uint8Array, _encoding, callback) {
      try {
        const pending = sink.write(chunk);
        if (pending) pending.then(() => callback(), callback);
        else callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
