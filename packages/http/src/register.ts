/** Side-effect entry: registers the http(s) driver in the default registry, unless a driver already serves http or https. */
import { defaultRegistry } from '@image-service/core';
import { HTTP_SCHEMES, register } from './index.js';

if (!HTTP_SCHEMES.some((scheme) => defaultRegistry.has(scheme))) register();
