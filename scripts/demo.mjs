// The main job on a built-in default: makes a 256 MiB disk image, shows it and downloads it through its file:// href
// with the image-service command (progress bar, SHA-256 verified while streaming). No server is needed.
// Usage: pnpm demo [<href> <destination>]
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/image-service/dist/cli.js');
const run = (...args) => {
  console.log(`\n$ image-service ${args.join(' ')}`);
  const { status } = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? 1);
};

const [givenHref, givenDest] = process.argv.slice(2).filter((arg) => arg !== '--');
if (givenHref) {
  run('show', givenHref);
  run('download', givenHref, givenDest ?? join(root, '.demo', 'out', 'image.img'));
  process.exit(0);
}

const demo = join(root, '.demo');
const image = join(demo, 'images', 'demo.img');
const dest = join(demo, 'out', 'demo.img');
mkdirSync(dirname(image), { recursive: true });
mkdirSync(dirname(dest), { recursive: true });
const size = 256 * 1024 * 1024;
const hash = createHash('sha256');
if (!existsSync(`${image}.sha256`) || !existsSync(image)) {
  console.log(`making a ${size / 1024 / 1024} MiB demo image at ${image}`);
  const fd = openSync(image, 'w');
  for (let written = 0; written < size; written += 8 * 1024 * 1024) {
    const chunk = randomBytes(8 * 1024 * 1024);
    hash.update(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  const digest = hash.digest('hex');
  const out = openSync(`${image}.sha256`, 'w');
  writeSync(out, digest);
  closeSync(out);
}
const sha256 = readFileSync(`${image}.sha256`, 'utf8').trim();
const href = pathToFileURL(image).href;

run('schemes');
run('show', href);
run('download', href, dest, '--no-hard-link', '--checksum', `sha256:${sha256}`);
console.log(
  `\nThe image is at ${dest}. Try an http(s), s3 or glance href next: pnpm demo <href> <destination>`,
);
