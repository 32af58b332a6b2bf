// Holds the native functions the sandbox hands to the jwt bundle's factory.
'use strict';
let current = null;
exports.set = (native) => {
  current = native;
};
exports.get = () => {
  if (current === null) throw new Error('candela: jwt natives are not installed');
  return current;
};
