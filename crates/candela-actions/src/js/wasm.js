// `WebAssembly`: the JavaScript API's shapes over the native interpreter
// (src/wasm.rs, the wasmi crate). Modules are compiled, validated and run in
// Rust, inside the run's limits (wall time through fuel checks, memory
// through the run's byte budget). Imports are not supported: a module that
// imports anything fails to instantiate with a LinkError saying so. An
// exported memory's `buffer` is a copy of the memory as it is when read.
// Evaluates to a function of (natives, shared helpers).
(function wasm(native, shared) {
  'use strict';
  const { defineProperty, freeze } = Object;
  const PromiseCtor = Promise;

  const errorClass = (name) => {
    const C = { [name]: class extends Error {} }[name];
    defineProperty(C.prototype, 'name', { value: name, writable: true, configurable: true, enumerable: false });
    return C;
  };
  const CompileError = errorClass('CompileError');
  const LinkError = errorClass('LinkError');
  const RuntimeError = errorClass('RuntimeError');
  const ERRORS = { CompileError, LinkError, RuntimeError, RangeError, TypeError };

  // Natives throw an Error whose message starts with the class to use: "LinkError: …".
  function rethrow(e) {
    const m = /^(CompileError|LinkError|RuntimeError|RangeError|TypeError): ([\s\S]*)$/.exec(e && e.message);
    if (m && e.name === 'Error') throw new ERRORS[m[1]](m[2]);
    throw e;
  }
  const guarded = (f) => (...args) => {
    try {
      return f(...args);
    } catch (e) {
      return rethrow(e);
    }
  };

  function bytesOfSource(value, where) {
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return shared.bytesOf(value);
    throw new TypeError(`${where}: Argument 0 must be a buffer source`);
  }

  const internal = Symbol('candela.wasm');
  const handles = new WeakMap();

  class Module {
    constructor(bytes) {
      if (bytes === internal) return;
      handles.set(this, guarded(native.compile)(bytesOfSource(bytes, 'WebAssembly.Module()')));
    }
    static exports(module) {
      return native.moduleExports(handleOf(module, 'WebAssembly.Module.exports()')).map(([name, kind]) => ({ name, kind }));
    }
    static imports(module) {
      return native.moduleImports(handleOf(module, 'WebAssembly.Module.imports()')).map(([mod, name, kind]) => ({ module: mod, name, kind }));
    }
    get [Symbol.toStringTag]() { return 'WebAssembly.Module'; }
  }
  function handleOf(module, where) {
    if (!(module instanceof Module) || !handles.has(module)) throw new TypeError(`${where}: Argument 0 must be a WebAssembly.Module`);
    return handles.get(module);
  }

  class Memory {
    #instance;
    #name;
    constructor(token, instance, name) {
      if (token !== internal) throw new TypeError('WebAssembly.Memory(): creating memories is not supported in Candela (only exported memories)');
      this.#instance = instance;
      this.#name = name;
    }
    get buffer() { return native.memoryBuffer(this.#instance, this.#name); }
    grow(delta) { return guarded(native.memoryGrow)(this.#instance, this.#name, Number(delta)); }
    get [Symbol.toStringTag]() { return 'WebAssembly.Memory'; }
  }

  class Global {
    #instance;
    #name;
    constructor(token, instance, name) {
      if (token !== internal) throw new TypeError('WebAssembly.Global(): creating globals is not supported in Candela (only exported globals)');
      this.#instance = instance;
      this.#name = name;
    }
    get value() { return native.globalGet(this.#instance, this.#name); }
    set value(v) { guarded(native.globalSet)(this.#instance, this.#name, v); }
    valueOf() { return this.value; }
    get [Symbol.toStringTag]() { return 'WebAssembly.Global'; }
  }

  // An exported function: arguments past the wasm function's arity are
  // dropped, missing ones are undefined (as the JavaScript API says), and
  // traps become RuntimeError. The common arities avoid building an array.
  function exportedFunction(index, arity) {
    const call = native.call;
    switch (arity) {
      case 0: return function () { try { return call(index); } catch (e) { return rethrow(e); } };
      case 1: return function (a) { try { return call(index, a); } catch (e) { return rethrow(e); } };
      case 2: return function (a, b) { try { return call(index, a, b); } catch (e) { return rethrow(e); } };
      case 3: return function (a, b, c) { try { return call(index, a, b, c); } catch (e) { return rethrow(e); } };
      case 4: return function (a, b, c, d) { try { return call(index, a, b, c, d); } catch (e) { return rethrow(e); } };
      default: return function (...args) { try { return call(index, ...args); } catch (e) { return rethrow(e); } };
    }
  }

  class Instance {
    constructor(module, importObject) {
      const handle = handleOf(module, 'WebAssembly.Instance()');
      if (importObject !== undefined && (importObject === null || typeof importObject !== 'object')) {
        throw new TypeError('WebAssembly.Instance(): Argument 1 must be an object');
      }
      const instance = guarded(native.instantiate)(handle);
      const exports = Object.create(null);
      for (const [name, kind, index, arity] of native.instanceExports(instance)) {
        let value;
        if (kind === 'function') {
          value = exportedFunction(index, arity);
          defineProperty(value, 'name', { value: String(index) });
          defineProperty(value, 'length', { value: arity });
        } else if (kind === 'memory') {
          value = new Memory(internal, instance, name);
        } else if (kind === 'global') {
          value = new Global(internal, instance, name);
        } else {
          value = freeze({ kind });
        }
        defineProperty(exports, name, { value, enumerable: true });
      }
      defineProperty(this, 'exports', { value: freeze(exports), enumerable: true });
    }
    get [Symbol.toStringTag]() { return 'WebAssembly.Instance'; }
  }
  const later = (f) => (...args) => {
    try {
      return PromiseCtor.resolve(f(...args));
    } catch (e) {
      return PromiseCtor.reject(e);
    }
  };

  const WebAssembly = {
    Module,
    Instance,
    Memory,
    Global,
    CompileError,
    LinkError,
    RuntimeError,
    validate(bytes) {
      return native.validate(bytesOfSource(bytes, 'WebAssembly.validate()'));
    },
    compile: later((bytes) => new Module(bytes)),
    instantiate: later((source, importObject) => {
      if (source instanceof Module) return new Instance(source, importObject);
      const module = new Module(source);
      return { module, instance: new Instance(module, importObject) };
    }),
  };
  defineProperty(WebAssembly, Symbol.toStringTag, { value: 'WebAssembly' });
  return freeze(WebAssembly);
})
