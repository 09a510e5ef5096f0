/** Side-effect entry: registers the glance driver (options from the environment) in the default registry, unless a driver already serves `glance`. */
import { defaultRegistry } from '@image-service/core';
import { GLANCE_SCHEMES, register } from './index.js';

if (!GLANCE_SCHEMES.some((scheme) => defaultRegistry.has(scheme))) register();
