import {
  type DownloadResult,
  defaultRegistry,
  downloadToFile,
  type ImageInfo,
  type Progress,
} from '@image-service/core';
import '@image-service/s3/register';

/** What an s3:// object is: size, ETag, last change, content type, metadata (a HeadObject). */
export async function showObject(href: string): Promise<ImageInfo> {
  const service = await defaultRegistry.resolve(href);
  return service.show(href);
}

/** Downloads an s3:// object to `destination` atomically, computing its SHA-256 and reporting progress. */
export async function downloadObject(
  href: string,
  destination: string,
  onProgress?: (progress: Progress) => void,
): Promise<DownloadResult> {
  const service = await defaultRegistry.resolve(href);
  return downloadToFile(service, href, destination, { onProgress, computeChecksum: 'sha256' });
}
