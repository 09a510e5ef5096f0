/** Side-effect entry: registers the s3 driver (options from the environment) in the default registry, unless a driver already serves `s3`. */
import { defaultRegistry } from '@image-service/core';
import { register, S3_SCHEMES } from './index.js';

if (!S3_SCHEMES.some((scheme) => defaultRegistry.has(scheme))) register();
