/** Side-effect entry: registers the s3 driver (options from the environment) into the default registry. */
import { register } from './index.js';

register();
