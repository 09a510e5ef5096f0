import { defaultRegistry } from '@image-service/core';
import { HTTP_SCHEMES, register } from './index.js';

if (!HTTP_SCHEMES.some((scheme) => defaultRegistry.has(scheme))) register();
