// console.log's formatting as Lit's runtime (Deno) prints values: Deno's
// inspect defaults (depth 4, at most 100 items of an iterable, lines broken
// past 80 columns, the innermost 3 levels on one line when they fit, strings
// in double quotes) and Node's layout rules that Deno follows, e.g.
//   [ 2, 0, 2, 3 ]   { a: 1, b: "x" }   Uint8Array(3) [ 1, 2, 3 ]
//   Map(1) { "a" => 1 }   Set(2) { 1, 2 }   [Function: f]   <ref *1> { self: [Circular *1] }
// Arrays of more than six entries are laid out in columns, as Deno does.
// Errors print as their stack, with the action's frames named as in Lit
// (`at <user_provided_script>:LINE:COL`).
// Evaluates to a function of (natives, shared helpers) that returns
// { inspect, formatArgs }.
(function inspectExtension(_native, shared) {
  'use strict';
  const DEPTH = 4;
  const ITEMS = 100;
  const BREAK = 80;
  const COMPACT = 3;
  const objectToString = Object.prototype.toString;
  const fnToString = Function.prototype.toString;
  const { getPrototypeOf, getOwnPropertyDescriptor, keys: ownKeys, getOwnPropertySymbols } = Object;
  const IDENT = /^[a-zA-Z_][a-zA-Z_0-9]*$/;
  const QUOTES = ['"', "'", '`'];
  const ESCAPES = { '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

  function quote(text) {
    const q = QUOTES.find((c) => !text.includes(c)) ?? '"';
    let out = '';
    for (const ch of text) {
      if (ch === q || ch === '\\') out += `\\${ch}`;
      else if (ESCAPES[ch] !== undefined) out += ESCAPES[ch];
      else {
        const code = ch.codePointAt(0);
        if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) out += `\\x${code.toString(16).padStart(2, '0')}`;
        else out += ch;
      }
    }
    return `${q}${out}${q}`;
  }

  const tagOf = (value) => objectToString.call(value).slice(8, -1);

  // The frames of a QuickJS stack as V8 prints them, the action's own named as in Lit.
  function v8Stack(error) {
    let head;
    try {
      head = `${error.name ?? 'Error'}`;
      const message = `${error.message ?? ''}`;
      if (message !== '') head += `: ${message}`;
    } catch (_e) {
      head = 'Error';
    }
    const stack = typeof error.stack === 'string' ? error.stack : '';
    const frames = stack === '' ? '' : shared.userFrames(stack);
    return frames === '' ? head : `${head}\n${frames}`;
  }

  function constructorName(value) {
    let proto = getPrototypeOf(value);
    while (proto !== null) {
      const d = getOwnPropertyDescriptor(proto, 'constructor');
      if (d !== undefined && typeof d.value === 'function' && d.value.name !== '') return d.value.name;
      proto = getPrototypeOf(proto);
    }
    return null;
  }

  // "Foo ", "[Object: null prototype] ", "Foo [tag] " or "" for a plain `fallback`.
  function prefix(ctor, tag, fallback, size = '') {
    if (ctor === null) {
      return tag !== '' && tag !== fallback ? `[${fallback}${size}: null prototype] [${tag}] ` : `[${fallback}${size}: null prototype] `;
    }
    if (tag !== '' && tag !== ctor) return `${ctor}${size} [${tag}] `;
    return `${ctor}${size} `;
  }

  function functionBase(fn, ctor, tag) {
    let source = '';
    try { source = fnToString.call(fn); } catch (_e) { source = ''; }
    if (source.startsWith('class') && /^class\b/.test(source)) {
      return fn.name ? `[class ${fn.name}]` : '[class (anonymous)]';
    }
    let type = 'Function';
    if (tag === 'AsyncFunction' || tag === 'GeneratorFunction' || tag === 'AsyncGeneratorFunction') type = tag;
    let base = `[${type}`;
    if (ctor === null) base += ' (null prototype)';
    base += fn.name === '' ? ' (anonymous)' : `: ${fn.name}`;
    return `${base}]`;
  }

  function formatNumber(n) {
    return Object.is(n, -0) ? '-0' : `${n}`;
  }

  function formatPrimitive(ctx, value) {
    switch (typeof value) {
      case 'string': {
        if (value.length > 16 && value.length > BREAK - ctx.indent - 4 && value.includes('\n')) {
          const lines = value.split(/(?<=\n)/);
          return lines.map(quote).join(` +\n${' '.repeat(ctx.indent + 2)}`);
        }
        return quote(value);
      }
      case 'number': return formatNumber(value);
      case 'bigint': return `${value}n`;
      case 'boolean': return `${value}`;
      case 'undefined': return 'undefined';
      case 'symbol': return value.toString();
      default: return String(value);
    }
  }

  function formatValue(ctx, value, level) {
    if (value === null) return 'null';
    if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(ctx, value);
    const at = ctx.seen.indexOf(value);
    if (at !== -1) {
      let index = ctx.circular.get(value);
      if (index === undefined) {
        index = ctx.circular.size + 1;
        ctx.circular.set(value, index);
      }
      return `[Circular *${index}]`;
    }
    return formatRaw(ctx, value, level);
  }

  function formatProperty(ctx, value, level, key, inArray) {
    let desc = getOwnPropertyDescriptor(value, key);
    if (desc === undefined) desc = { value: value[key], enumerable: true };
    let text;
    if ('value' in desc) {
      ctx.indent += 2;
      text = formatValue(ctx, desc.value, level);
      ctx.indent -= 2;
    } else if (desc.get !== undefined) {
      text = desc.set !== undefined ? '[Getter/Setter]' : '[Getter]';
    } else {
      text = desc.set !== undefined ? '[Setter]' : 'undefined';
    }
    if (inArray) return text;
    let name;
    if (typeof key === 'symbol') name = `[${key.toString()}]`;
    else if (IDENT.test(key)) name = key;
    else name = quote(key);
    return `${name}: ${text}`;
  }

  function isIndex(key) {
    if (key === '') return false;
    const n = Number(key);
    return Number.isInteger(n) && n >= 0 && n < 4294967295 && `${n}` === key;
  }

  function ownEnumerable(value, skipIndices) {
    const names = ownKeys(value).filter((k) => !(skipIndices && isIndex(k)));
    const symbols = getOwnPropertySymbols(value).filter((s) => {
      const d = getOwnPropertyDescriptor(value, s);
      return d !== undefined && d.enumerable;
    });
    return names.concat(symbols);
  }

  function moreItems(n) {
    return `... ${n} more item${n > 1 ? 's' : ''}`;
  }

  function formatArrayLike(ctx, value, level, length, read) {
    const output = [];
    const shown = Math.min(length, ITEMS);
    let holes = 0;
    const flushHoles = () => {
      if (holes > 0) {
        output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
        holes = 0;
      }
    };
    for (let i = 0; i < shown; i++) {
      if (read === null && !Object.prototype.hasOwnProperty.call(value, i)) {
        holes++;
        continue;
      }
      flushHoles();
      if (read !== null) {
        ctx.indent += 2;
        output.push(formatValue(ctx, read(i), level));
        ctx.indent -= 2;
      } else {
        output.push(formatProperty(ctx, value, level, `${i}`, true));
      }
    }
    flushHoles();
    if (length > shown) output.push(moreItems(length - shown));
    return output;
  }

  function formatRaw(ctx, value, level) {
    let ctor;
    let tag;
    try {
      ctor = constructorName(value);
      tag = value[Symbol.toStringTag];
    } catch (_e) {
      ctor = null;
      tag = '';
    }
    if (typeof tag !== 'string') tag = '';
    const kind = tagOf(value);
    let keys = [];
    let base = '';
    let braces;
    let output;
    let arrayLike = false;
    let format = null;

    if (Array.isArray(value)) {
      keys = ownEnumerable(value, true);
      const p = ctor !== 'Array' || tag !== '' ? prefix(ctor, tag, 'Array', `(${value.length})`) : '';
      braces = [`${p}[`, ']'];
      if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
      arrayLike = true;
      format = () => formatArrayLike(ctx, value, level + 1, value.length, null);
    } else if (typeof value === 'function') {
      base = functionBase(value, ctor, tag);
      keys = ownEnumerable(value, false);
      if (keys.length === 0) return base;
      braces = ['{', '}'];
    } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      keys = ownEnumerable(value, true);
      const name = ctor ?? tag;
      braces = [`${prefix(ctor, tag === name ? '' : tag, name, `(${value.length})`)}[`, ']'];
      if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
      arrayLike = true;
      format = () => {
        const out = [];
        const shown = Math.min(value.length, ITEMS);
        for (let i = 0; i < shown; i++) {
          const v = value[i];
          out.push(typeof v === 'bigint' ? `${v}n` : formatNumber(v));
        }
        if (value.length > shown) out.push(moreItems(value.length - shown));
        return out;
      };
    } else if (value instanceof Map) {
      keys = ownEnumerable(value, false);
      braces = [`${prefix(ctor, tag === 'Map' ? '' : tag, 'Map', `(${value.size})`)}{`, '}'];
      if (value.size === 0 && keys.length === 0) return `${braces[0]}}`;
      format = () => {
        const out = [];
        let n = 0;
        ctx.indent += 2;
        for (const [k, v] of value) {
          if (n++ >= ITEMS) break;
          out.push(`${formatValue(ctx, k, level + 1)} => ${formatValue(ctx, v, level + 1)}`);
        }
        ctx.indent -= 2;
        if (value.size > ITEMS) out.push(moreItems(value.size - ITEMS));
        return out;
      };
    } else if (value instanceof Set) {
      keys = ownEnumerable(value, false);
      braces = [`${prefix(ctor, tag === 'Set' ? '' : tag, 'Set', `(${value.size})`)}{`, '}'];
      if (value.size === 0 && keys.length === 0) return `${braces[0]}}`;
      format = () => {
        const out = [];
        let n = 0;
        ctx.indent += 2;
        for (const v of value) {
          if (n++ >= ITEMS) break;
          out.push(formatValue(ctx, v, level + 1));
        }
        ctx.indent -= 2;
        if (value.size > ITEMS) out.push(moreItems(value.size - ITEMS));
        return out;
      };
    } else if (shared.Headers !== undefined && value instanceof shared.Headers) {
      braces = ['Headers {', '}'];
      const entries = [];
      value.forEach((v, k) => entries.push([k, v]));
      if (entries.length === 0) return 'Headers {}';
      format = () => entries.map(([k, v]) => `${IDENT.test(k) ? k : quote(k)}: ${quote(v)}`);
    } else {
      keys = ownEnumerable(value, false);
      if (value instanceof Error || kind === 'Error') {
        base = v8Stack(value);
        keys = keys.filter((k) => k !== 'stack' && k !== 'message');
        if (ctx.indent !== 0) base = base.split('\n').join(`\n${' '.repeat(ctx.indent)}`);
        if (keys.length === 0) return base;
        braces = ['{', '}'];
      } else if (value instanceof Date) {
        base = Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
        if (keys.length === 0) return base;
        braces = ['{', '}'];
      } else if (value instanceof RegExp) {
        base = `${value}`;
        if (keys.length === 0) return base;
        braces = ['{', '}'];
      } else if (value instanceof WeakMap || value instanceof WeakSet) {
        return `${prefix(ctor, tag === ctor ? '' : tag, kind)}{ <items unknown> }`;
      } else if (kind === 'Number' || kind === 'String' || kind === 'Boolean' || kind === 'BigInt' || kind === 'Symbol') {
        const inner = value.valueOf();
        base = `[${kind}: ${formatPrimitive({ indent: 0 }, inner)}]`;
        if (kind === 'String') keys = keys.filter((k) => !isIndex(k));
        if (keys.length === 0) return base;
        braces = ['{', '}'];
      } else if (value instanceof ArrayBuffer) {
        const bytes = new Uint8Array(value);
        const hex = Array.from(bytes.subarray(0, 50), (b) => b.toString(16).padStart(2, '0')).join(' ');
        const more = bytes.length > 50 ? ` ... ${bytes.length - 50} more byte${bytes.length - 50 > 1 ? 's' : ''}` : '';
        braces = [`${prefix(ctor, '', 'ArrayBuffer')}{`, '}'];
        format = () => [`[Uint8Contents]: <${hex}${more}>`, `byteLength: ${bytes.length}`];
      } else if (value instanceof Promise) {
        braces = [`${prefix(ctor, tag === 'Promise' ? '' : tag, 'Promise')}{`, '}'];
        format = () => {
          const state = shared.promiseState ? shared.promiseState(value) : null;
          if (state === null || state[0] === 'pending') return ['<pending>'];
          ctx.indent += 2;
          const text = formatValue(ctx, state[1], level + 1);
          ctx.indent -= 2;
          return [state[0] === 'rejected' ? `<rejected> ${text}` : text];
        };
      } else {
        const p = ctor === 'Object' && (tag === '' || tag === 'Object') ? '' : prefix(ctor, tag, 'Object');
        braces = [`${p}{`, '}'];
        if (keys.length === 0) return `${p}{}`;
      }
    }

    if (level > DEPTH) {
      if (arrayLike && Array.isArray(value)) return '[Array]';
      return `[${ctor === null ? 'Object: null prototype' : ctor}]`;
    }
    const depth = level + 1;
    ctx.seen.push(value);
    ctx.currentDepth = depth;
    try {
      output = format === null ? [] : format();
      for (const k of keys) output.push(formatProperty(ctx, value, depth, k, false));
    } finally {
      ctx.seen.pop();
    }
    let result = reduce(ctx, output, base, braces, arrayLike, depth, value);
    const ref = ctx.circular.get(value);
    if (ref !== undefined) result = `<ref *${ref}> ${result}`;
    return result;
  }

  // Lays out numbers (and other short entries) of a long array in columns.
  function group(ctx, output, value) {
    let count = output.length;
    if (count > ITEMS) count--; // the "... more items" line stays apart
    const lengths = output.slice(0, count).map((s) => s.length);
    const total = lengths.reduce((a, n) => a + n + 2, 0);
    const longest = Math.max(...lengths);
    const cell = longest + 2;
    if (!(cell * 3 + ctx.indent < BREAK && (total / cell > 5 || longest <= 6))) return output;
    const bias = Math.sqrt(cell - total / output.length);
    const biased = Math.max(cell - 3 - bias, 1);
    const columns = Math.min(
      Math.round(Math.sqrt(2.5 * biased * count) / biased),
      Math.floor((BREAK - ctx.indent) / cell),
      COMPACT * 4,
      15,
    );
    if (columns <= 1) return output;
    const widths = [];
    for (let c = 0; c < columns; c++) {
      let w = 0;
      for (let j = c; j < output.length; j += columns) if (lengths[j] > w) w = lengths[j];
      widths.push(w + 2);
    }
    let numeric = true;
    if (value !== undefined) {
      for (let i = 0; i < output.length; i++) {
        if (typeof value[i] !== 'number' && typeof value[i] !== 'bigint') {
          numeric = false;
          break;
        }
      }
    }
    const rows = [];
    for (let i = 0; i < count; i += columns) {
      const end = Math.min(i + columns, count);
      let line = '';
      let j = i;
      for (; j < end - 1; j++) {
        const cellText = `${output[j]}, `;
        line += numeric ? cellText.padStart(widths[j - i], ' ') : cellText.padEnd(widths[j - i], ' ');
      }
      line += numeric ? output[j].padStart(widths[j - i] - 2, ' ') : output[j];
      rows.push(line);
    }
    if (output.length > count) rows.push(output[count]);
    return rows;
  }

  function fitsOnOneLine(ctx, output, start, base) {
    let total = output.length + start;
    if (total + output.length > BREAK) return false;
    for (const entry of output) {
      total += entry.length;
      if (total > BREAK) return false;
    }
    return base === '' || !base.includes('\n');
  }

  function reduce(ctx, output, base, braces, arrayLike, depth, value) {
    const entries = output.length;
    if (arrayLike && entries > 6) output = group(ctx, output, value);
    if (ctx.currentDepth - depth < COMPACT && entries === output.length) {
      const start = output.length + ctx.indent + braces[0].length + base.length + 10;
      if (fitsOnOneLine(ctx, output, start, base)) {
        const joined = output.join(', ');
        if (!joined.includes('\n')) {
          return `${base ? `${base} ` : ''}${braces[0]} ${joined} ${braces[1]}`;
        }
      }
    }
    const indentation = `\n${' '.repeat(ctx.indent)}`;
    return `${base ? `${base} ` : ''}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
  }

  /** Deno's inspect of one value (strings quoted). */
  function inspect(value) {
    return formatValue({ indent: 0, seen: [], circular: new Map(), currentDepth: 0 }, value, 0);
  }

  // A top-level argument: strings as they are, everything else inspected.
  const show = (value) => (typeof value === 'string' ? value : inspect(value));

  /** console.log's line for `args`, with Deno's %s %d %i %f %o %O %c %% substitutions. */
  function formatArgs(args) {
    if (args.length === 0) return '';
    let rest = 0;
    let text;
    if (typeof args[0] === 'string' && args.length > 1 && args[0].includes('%')) {
      const template = args[0];
      rest = 1;
      text = '';
      let last = 0;
      for (let i = 0; i < template.length - 1; i++) {
        if (template[i] !== '%') continue;
        const c = template[i + 1];
        let piece;
        if (c === '%') {
          piece = '%';
        } else if (rest < args.length && 'sdifoOc'.includes(c)) {
          const arg = args[rest++];
          switch (c) {
            case 's': piece = typeof arg === 'string' ? arg : typeof arg === 'bigint' ? `${arg}n` : typeof arg === 'object' && arg !== null ? inspect(arg) : String(arg); break;
            case 'd': case 'i': {
              if (typeof arg === 'bigint') piece = `${arg}n`;
              else if (typeof arg === 'symbol') piece = 'NaN';
              else {
                const n = c === 'i' ? parseInt(arg) : Number(arg);
                piece = typeof arg === 'object' && arg !== null && c === 'd' ? formatNumber(Number(arg)) : formatNumber(n);
              }
              break;
            }
            case 'f': piece = typeof arg === 'symbol' ? 'NaN' : formatNumber(parseFloat(arg)); break;
            case 'o': case 'O': piece = inspect(arg); break;
            default: piece = ''; // %c: CSS, nothing printed
          }
        } else {
          continue;
        }
        text += template.slice(last, i) + piece;
        last = i + 2;
        i++;
      }
      text += template.slice(last);
    } else {
      text = show(args[0]);
      rest = 1;
    }
    for (let i = rest; i < args.length; i++) text += ` ${show(args[i])}`;
    return text;
  }

  return { inspect, formatArgs };
});
