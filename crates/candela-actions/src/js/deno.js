// The `Deno` global as Lit's action runtime shows it: Deno's API surface with
// every permission but network refused. Each refusal throws (or, for the
// async forms, rejects with) Deno's error class and text, e.g.
//   NotCapable: Requires read access to "a.txt", run again with the --allow-read flag
// `Deno.exit` throws PermissionDenied as Lit's op_exit does; `Deno.version`,
// `Deno.build` and `Deno.permissions` are absent, as Lit deletes them.
// Evaluates to a function of the prelude's shared helpers.
(function deno(_native, _shared) {
  'use strict';
  const { defineProperty, freeze } = Object;

  const errorClass = (name) => {
    const C = { [name]: class extends Error {} }[name];
    defineProperty(C.prototype, 'name', { value: name, writable: true, configurable: true, enumerable: false });
    return C;
  };
  const errors = {};
  for (const name of [
    'NotFound', 'PermissionDenied', 'ConnectionRefused', 'ConnectionReset', 'ConnectionAborted',
    'NotConnected', 'AddrInUse', 'AddrNotAvailable', 'BrokenPipe', 'AlreadyExists', 'InvalidData',
    'TimedOut', 'Interrupted', 'WriteZero', 'WouldBlock', 'UnexpectedEof', 'BadResource', 'Http',
    'Busy', 'NotSupported', 'FilesystemLoop', 'IsADirectory', 'NetworkUnreachable', 'NotADirectory',
    'NotCapable',
  ]) errors[name] = errorClass(name);
  freeze(errors);

  const quote = (v) => JSON.stringify(String(v));
  const denied = (kind, target) =>
    new errors.NotCapable(
      target === undefined
        ? `Requires ${kind} access, run again with the --allow-${kind} flag`
        : `Requires ${kind} access to ${target}, run again with the --allow-${kind} flag`,
    );
  const path = (p) => quote(typeof URL === "function" && p instanceof URL ? p.pathname : p);

  const Deno = {};
  // A synchronous member and its asynchronous twin, both refused.
  const refuse = (names, error) => {
    for (const name of names) {
      defineProperty(Deno, name, {
        enumerable: true,
        configurable: false,
        writable: false,
        value: { [name](...args) {
          const e = error(...args);
          if (name.endsWith('Sync') || /^(cwd|chdir|hostname|osRelease|osUptime|loadavg|systemMemoryInfo|networkInterfaces|uid|gid|kill|dlopen|execPath|umask|consoleSize|watchFs)$/.test(name)) throw e;
          return Promise.reject(e);
        } }[name],
      });
    }
  };
  const both = (base) => [base, `${base}Sync`];

  for (const base of ['readFile', 'readTextFile', 'readDir', 'readLink', 'stat', 'lstat', 'realPath', 'open']) {
    refuse(both(base), (p) => denied('read', path(p)));
  }
  for (const base of ['writeFile', 'writeTextFile', 'mkdir', 'remove', 'create', 'truncate', 'chmod', 'chown', 'utime', 'symlink']) {
    refuse(both(base), (p) => denied('write', path(p)));
  }
  for (const base of ['copyFile', 'rename', 'link']) {
    refuse(both(base), (from) => denied('read', path(from)));
  }
  for (const base of ['makeTempDir', 'makeTempFile']) {
    refuse(both(base), () => denied('write', '<TMP>'));
  }
  refuse(['cwd'], () => denied('read', '<CWD>'));
  refuse(['chdir'], (p) => denied('read', path(p)));
  refuse(['execPath'], () => denied('read', '<exec_path>'));
  for (const name of ['hostname', 'osRelease', 'osUptime', 'loadavg', 'systemMemoryInfo', 'networkInterfaces', 'uid', 'gid']) {
    refuse([name], () => denied('sys', quote(name)));
  }
  refuse(['kill'], () => denied('run'));
  refuse(['dlopen'], (p) => denied('ffi', path(p)));
  refuse(['watchFs'], (p) => denied('read', path(p)));

  defineProperty(Deno, 'env', {
    enumerable: true,
    value: freeze({
      get: (key) => { throw denied('env', quote(key)); },
      set: (key) => { throw denied('env', quote(key)); },
      delete: (key) => { throw denied('env', quote(key)); },
      has: (key) => { throw denied('env', quote(key)); },
      toObject: () => { throw denied('env'); },
    }),
  });
  defineProperty(Deno, 'Command', {
    enumerable: true,
    value: class Command {
      constructor(command) { throw denied('run', quote(command)); }
    },
  });
  defineProperty(Deno, 'exit', {
    enumerable: true,
    value: function exit() {
      throw new errors.PermissionDenied("'Deno.exit' is not allowed in this context.");
    },
  });
  defineProperty(Deno, 'errors', { enumerable: true, value: errors });
  defineProperty(Deno, 'pid', { enumerable: true, get: () => { throw denied('sys', '"pid"'); } });
  defineProperty(Deno, 'args', { enumerable: true, value: freeze([]) });
  defineProperty(Deno, 'noColor', { enumerable: true, value: true });
  defineProperty(Deno, 'mainModule', { enumerable: true, value: 'file:///$lit$actions.js' });
  freeze(Deno);

  return freeze({
    Deno,
    notSupported: (message) => new errors.NotSupported(message),
  });
})
