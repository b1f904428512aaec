// yargs, loaded through its CommonJS build. Measured on this machine (Node 20): yargs 18 takes ~105 ms to
// import (its string-width reads Unicode tables through Intl.Segmenter), a third of what `persistfs backup`
// costs when nothing changed; yargs 17 ~30 ms. yargs 17's ES module build wraps help text in the middle of
// words (its cliui falls back to a plain wrap there); the CommonJS build wraps at word boundaries.
import { createRequire } from 'node:module';

import type Yargs from 'yargs';
import type * as Helpers from 'yargs/helpers';

const require = createRequire(import.meta.url);

export const yargs = require('yargs') as typeof Yargs;
export const { hideBin } = require('yargs/helpers') as typeof Helpers;
export type { Argv } from 'yargs';
