import { isImageServiceError } from '@image-service/core';
import { downloadObject, showObject } from './fetch-object.js';

const [href, destination] = process.argv.slice(2);
if (!href) {
  console.error('usage: node dist/index.js <s3://bucket/key> [destination]');
  process.exit(2);
}
try {
  const info = await showObject(href);
  console.log(JSON.stringify(info, null, 2));
  if (destination) {
    const result = await downloadObject(href, destination, ({ bytes, total }) => {
      process.stderr.write(`\r${bytes} / ${total ?? '?'} bytes`);
    });
    process.stderr.write('\n');
    console.log(`downloaded ${result.bytes} bytes to ${destination}, sha256 ${result.checksum?.value}`);
  }
} catch (error) {
  console.error(isImageServiceError(error) ? `${error.code}: ${error.message}` : error);
  process.exit(1);
}
