// Free globals the jwt bundle's node-style modules read, injected by esbuild:
// a `process` with an empty environment, no version (so jsonwebtoken offers
// no PS algorithms, as in Lit's bundle) and nextTick on the microtask queue;
// and node's `Buffer` (from the npm `buffer` package). Neither becomes a
// global of the sandbox.
import { Buffer } from 'buffer';

export { Buffer };
export const process = {
  env: {},
  version: '',
  versions: {},
  browser: true,
  nextTick(fn, ...args) {
    Promise.resolve().then(() => fn(...args));
  },
};
