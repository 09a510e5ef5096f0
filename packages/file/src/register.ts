import { defaultRegistry } from '@image-service/core';
import { FILE_SCHEME, register } from './index.js';

if (!defaultRegistry.has(FILE_SCHEME)) register();
