import { type DownloadResult, defaultRegistry, downloadToFile, type Progress } from '@image-service/core';
import '@image-service/file/register';

/**
 * Copies an image from any href a registered driver serves (here only `file://`) to `destination`, verifying its
 * SHA-256 when one is given and reporting progress.
 */
export async function copyImage(
  href: string,
  destination: string,
  options: { sha256?: string; onProgress?: (progress: Progress) => void; signal?: AbortSignal } = {},
): Promise<DownloadResult> {
  const service = await defaultRegistry.resolve(href);
  return downloadToFile(service, href, destination, {
    signal: options.signal,
    onProgress: options.onProgress,
    checksum: options.sha256 ? { algorithm: 'sha256', value: options.sha256 } : undefined,
    computeChecksum: 'sha256',
  });
}
