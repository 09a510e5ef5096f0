/** Side-effect entry: registers the file driver in the default registry, unless a driver already serves `file`. */
import { defaultRegistry } from '@image-service/core';
import { FILE_SCHEME, register } from './index.js';

if (!defaultRegistry.has(FILE_SCHEME)) register();
