// The `process` the jwt bundle's node-style modules read: an environment with
// nothing in it, no version (so jsonwebtoken offers no PS algorithms, as in
// Lit's bundle), and nextTick on the microtask queue.
'use strict';
export const process = {
  env: {},
  version: '',
  versions: {},
  browser: true,
  nextTick(fn, ...args) {
    Promise.resolve().then(() => fn(...args));
  },
};
