import { isImageServiceError } from '@image-service/core';
import { copyImage } from './copy-image.js';

const [href, destination, sha256] = process.argv.slice(2);
if (!href || !destination) {
  console.error('usage: node dist/index.js <file:// href> <destination> [sha256]');
  process.exit(2);
}
try {
  const result = await copyImage(href, destination, {
    sha256,
    onProgress: ({ bytes, total }) => process.stderr.write(`\r${bytes} / ${total ?? '?'} bytes`),
  });
  process.stderr.write('\n');
  console.log(`copied ${result.bytes} bytes, sha256 ${result.checksum?.value}`);
} catch (error) {
  console.error(isImageServiceError(error) ? `${error.code}: ${error.message}` : error);
  process.exit(1);
}
