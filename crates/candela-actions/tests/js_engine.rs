//! The sandbox behaves like a JavaScript engine users know: a table of
//! snippets about `Date` (setters, getters, parsers, formatting) is evaluated
//! in the Candela sandbox and by the real `node` binary, and every result
//! must agree.
//!
//! How the comparison works:
//! - Every snippet is a JavaScript expression. One harness script wraps each
//!   in an arrow function, evaluates it, and renders the value (or the name of
//!   the error it threw) as a string; the array of strings is the run's
//!   response in the sandbox, and what `node -e` prints (`TZ=UTC`).
//! - Thrown errors are compared by their name (`RangeError`, `TypeError`),
//!   not their message: the wording of engine messages is not part of the
//!   language and differs between engines.
//! - The snippets are timezone-independent: they read UTC fields, compare a
//!   local-time form with another local-time form (`Date.parse("2020-06-15T10:00")`
//!   against `new Date(2020, 5, 15, 10)`), or only check local results that
//!   hold in every timezone (an invalid date, the month of a mid-month date).
//!   So the sandbox (which uses the process's timezone) and node (`TZ=UTC`)
//!   agree whatever the machine's timezone is.
//! - Excluded by design: anything that reads the clock (`Date.now()`,
//!   `new Date()`, `Date()`). In the sandbox the clock is the host's (so a
//!   replay can answer the readings a node recorded), and two processes never
//!   read the same instant anyway. That the clock is read through the host is
//!   checked by the replay tests in `src/replay.rs`.
//! - Left out for the same reason: strings in no standard format and with
//!   no zone (`Date.parse('2020-1-1')`, `Date.parse('12')`), which V8 reads
//!   as local time with heuristics of its own.
//! - `node` must be installed: the test fails (it does not skip) without it.

use std::process::Command;
use std::sync::Arc;

use crate::common::*;
use serde_json::json;

/// A valid start date for the setter matrix: 2020-06-15T12:30:45.678Z.
const VALID: &str = "Date.UTC(2020, 5, 15, 12, 30, 45, 678)";

/// Every `Date.prototype` setter.
const SETTERS: &[&str] = &[
    "setMilliseconds",
    "setUTCMilliseconds",
    "setSeconds",
    "setUTCSeconds",
    "setMinutes",
    "setUTCMinutes",
    "setHours",
    "setUTCHours",
    "setDate",
    "setUTCDate",
    "setMonth",
    "setUTCMonth",
    "setFullYear",
    "setUTCFullYear",
    "setYear",
    "setTime",
];

/// Arguments every setter is called with, on a valid and on an invalid date:
/// non-finite numbers, no argument, and values that coerce to NaN or are
/// out of any date's range. (With these, the result is the same in every
/// timezone: NaN, or unchanged for an invalid date.)
const SETTER_ARGS: &[&str] = &[
    "NaN",
    "Infinity",
    "-Infinity",
    "",
    "undefined",
    "'garbage'",
    "{}",
    "1e20",
];

/// Hand-written snippets: setters with finite and partly invalid arguments,
/// getters, parsers, `Date.UTC`, the constructor, formatting, and the shape
/// of the `Date` global.
const SNIPPETS: &[&str] = &[
    // -- the reported bug and its relatives
    "new Date(0).setUTCFullYear(NaN)",
    "__set(0, 'setUTCFullYear', NaN)",
    "isNaN(__after(0, 'setUTCFullYear', NaN).getTime())",
    "__set(0, 'setUTCFullYear', 2021, NaN)",
    "__set(0, 'setUTCFullYear', 2021, 1, NaN)",
    "__set(0, 'setUTCHours', 1, NaN)",
    "__set(0, 'setUTCHours', 1, 2, 3, Infinity)",
    "__set(0, 'setUTCMinutes', 1, 2, NaN)",
    "__set(0, 'setUTCSeconds', 1, NaN)",
    "__set(0, 'setUTCMonth', 1, NaN)",
    "__set(0, 'setFullYear', 2021, 1, NaN)",
    "__set(0, 'setHours', 1, 2, 3, NaN)",
    // -- finite, out-of-range and fractional arguments (UTC setters)
    "__set(0, 'setUTCFullYear', 2021)",
    "__set(0, 'setUTCFullYear', 2021, 1, 29)",
    "__set(0, 'setUTCFullYear', 2020.9)",
    "__set(0, 'setUTCFullYear', -1)",
    "__set(0, 'setUTCFullYear', 275760, 8, 13)",
    "__set(0, 'setUTCFullYear', 275760, 8, 14)",
    "__set(0, 'setUTCFullYear', -271821, 3, 20)",
    "__set(0, 'setUTCFullYear', -271821, 3, 19)",
    "__set(0, 'setUTCFullYear', '2020')",
    "__set(0, 'setUTCFullYear', null)",
    "__set(0, 'setUTCFullYear', true)",
    "__set(0, 'setUTCMonth', 12)",
    "__set(0, 'setUTCMonth', -1)",
    "__set(0, 'setUTCMonth', 1, 31)",
    "__set(0, 'setUTCDate', 0)",
    "__set(0, 'setUTCDate', 32)",
    "__set(0, 'setUTCDate', -0.5)",
    "__set(0, 'setUTCHours', 24)",
    "__set(0, 'setUTCHours', -1)",
    "__set(0, 'setUTCHours', 1, 61, 61, 1001)",
    "__set(0, 'setUTCMinutes', -1)",
    "__set(0, 'setUTCSeconds', 86400)",
    "__set(0, 'setUTCMilliseconds', 1000)",
    "__set(0, 'setUTCMilliseconds', -1)",
    "__set(0, 'setUTCMilliseconds', 1.9)",
    "__set(0, 'setUTCMilliseconds', -1.9)",
    "__set(8.64e15, 'setUTCMilliseconds', 1)",
    "__set(-8.64e15, 'setUTCMilliseconds', -1)",
    "__set(0, 'setTime', 8.64e15)",
    "__set(0, 'setTime', 8.64e15 + 1)",
    "__set(0, 'setTime', -8.64e15)",
    "__set(0, 'setTime', 1.5)",
    "__set(0, 'setTime', -0.5)",
    "Object.is(new Date(0).setTime(-0.5), 0)",
    "__set(0, 'setTime', '5')",
    "__set(0, 'setTime', null)",
    "__set(0, 'setYear', 99)",
    "__set(0, 'setYear', 0)",
    "__set(0, 'setYear', 100)",
    "__set(0, 'setYear', 2000)",
    "__set(0, 'setYear', -1)",
    "__set(0, 'setYear', 99.5)",
    // -- setters on an invalid date: only setFullYear revives it
    "__set(NaN, 'setUTCFullYear', 2020)",
    "__set(NaN, 'setUTCFullYear', 2020, 5, 15)",
    "__set(NaN, 'setUTCMonth', 1)",
    "__set(NaN, 'setUTCDate', 1)",
    "__set(NaN, 'setUTCHours', 1)",
    "__set(NaN, 'setTime', 5)",
    "__set(NaN, 'setYear', 99)",
    // -- local setters, read back through local getters (any timezone)
    "__local(new Date(2020, 5, 15, 10), 'setHours', 25)",
    "__local(new Date(2020, 5, 15, 10), 'setDate', 31)",
    "__local(new Date(2020, 5, 15, 10), 'setDate', 0)",
    "__local(new Date(2020, 5, 15, 10), 'setMonth', 13)",
    "__local(new Date(2020, 5, 15, 10), 'setMonth', -1, 10)",
    "__local(new Date(2020, 5, 15, 10), 'setFullYear', 2021, 1, 29)",
    "__local(new Date(2020, 5, 15, 10), 'setMinutes', 90)",
    "__local(new Date(2020, 5, 15, 10), 'setSeconds', 3600)",
    "__local(new Date(2020, 5, 15, 10), 'setMilliseconds', 1500)",
    "__local(new Date(2020, 5, 15, 10), 'setFullYear', 99)",
    "__local(new Date(NaN), 'setFullYear', 2020)",
    // -- argument coercion is observable, in order, even when the result is NaN
    "(() => { const log = []; const a = (v) => ({ valueOf() { log.push(v); return v; } }); const d = new Date(0); d.setUTCHours(a(NaN), a(1), a(2), a(3)); return [log.join(' '), d.getTime()]; })()",
    "(() => { let n = 0; new Date(NaN).setUTCHours({ valueOf() { n++; return 1; } }); return n; })()",
    "(() => { let n = 0; new Date(0).setUTCHours(1, 2, 3, 4, { valueOf() { n++; return 1; } }); return n; })()",
    "(() => { try { new Date(0).setUTCHours({ valueOf() { throw new SyntaxError('x'); } }); } catch (e) { return e.name; } })()",
    "(() => { const d = new Date(0); try { d.setUTCHours({ valueOf() { throw new SyntaxError('x'); } }); } catch (e) {} return d.getTime(); })()",
    // -- setters and getters need a Date receiver
    "Date.prototype.setUTCFullYear.call({}, 2020)",
    "Date.prototype.setTime.call(0, 1)",
    "Date.prototype.getTime.call({})",
    "Date.prototype.getUTCFullYear.call(Object.create(Date.prototype))",
    "Date.prototype.toISOString.call({})",
    // -- getters, valid and invalid
    "__getters(Date.UTC(2020, 5, 15, 12, 30, 45, 678))",
    "__getters(Date.UTC(1969, 11, 31, 23, 59, 59, 999))",
    "__getters(Date.UTC(-1, 0, 1))",
    "__getters(Date.UTC(275760, 8, 13))",
    "__getters(-8.64e15)",
    "__getters(NaN)",
    "__localGetters(NaN)",
    "new Date(NaN).getTimezoneOffset()",
    "typeof new Date(0).getTimezoneOffset()",
    "new Date(Date.UTC(2020, 5, 15, 12)).getFullYear()",
    "new Date(Date.UTC(2020, 5, 15, 12)).getMonth()",
    "new Date(Date.UTC(2020, 5, 15, 12)).getYear()",
    "new Date(5).valueOf()",
    "+new Date(5)",
    "new Date(5) - 0",
    "typeof (new Date(0) + 0)",
    "new Date(5)[Symbol.toPrimitive]('number')",
    "typeof new Date(5)[Symbol.toPrimitive]('default')",
    "new Date(5)[Symbol.toPrimitive]('string') === new Date(5).toString()",
    "new Date(5)[Symbol.toPrimitive]('bad')",
    "new Date(5) < new Date(6)",
    // -- Date.parse and new Date(string): ISO forms
    "Date.parse('2020-01-01')",
    "Date.parse('2020-01')",
    "Date.parse('2020')",
    "Date.parse('2020-01-01T00:00:00Z')",
    "Date.parse('2020-01-01T00:00:00.000Z')",
    "Date.parse('2020-01-01T00:00:00.1Z')",
    "Date.parse('2020-01-01T00:00:00.12Z')",
    "Date.parse('2020-01-01T00:00:00.123Z')",
    "Date.parse('2020-01-01T00:00Z')",
    "Date.parse('2020-01-01T12:34:56+05:30')",
    "Date.parse('2020-01-01T12:34:56-08:00')",
    "Date.parse('2020-01-01T12:34:56.789+00:00')",
    "Date.parse('2020-01-01T24:00:00Z')",
    "Date.parse('2020-01-01T24:00:00.000Z')",
    "Date.parse('2020-12-31T23:59:59.999Z')",
    "Date.parse('+002020-01-01T00:00:00Z')",
    "Date.parse('-000001-01-01T00:00:00Z')",
    "Date.parse('+275760-09-13T00:00:00.000Z')",
    "Date.parse('+275760-09-13T00:00:00.001Z')",
    "Date.parse('-271821-04-20T00:00:00.000Z')",
    "Date.parse('-271821-04-19T23:59:59.999Z')",
    "Date.parse('1970-01-01T00:00:00.000Z')",
    "Date.parse('0000-01-01T00:00:00Z')",
    // -- date-only forms are UTC, date-time forms without an offset are local
    "Date.parse('2020-06-15') === Date.UTC(2020, 5, 15)",
    "Date.parse('2020-06') === Date.UTC(2020, 5)",
    "Date.parse('2020-06-15T10:00') === new Date(2020, 5, 15, 10).getTime()",
    "Date.parse('2020-06-15T10:00:30') === new Date(2020, 5, 15, 10, 0, 30).getTime()",
    "Date.parse('2020-06-15T10:00:30.250') === new Date(2020, 5, 15, 10, 0, 30, 250).getTime()",
    "new Date('2020-06-15').getTime() === Date.UTC(2020, 5, 15)",
    "new Date('2020-06-15T00:00').getTime() === new Date(2020, 5, 15).getTime()",
    // -- invalid ISO forms and garbage
    "Date.parse('garbage')",
    "Date.parse('')",
    "Date.parse(' ')",
    "Date.parse('2020-13-01')",
    "Date.parse('2020-00-01')",
    "Date.parse('2020-01-32')",
    "Date.parse('2020-01-00')",
    "Date.parse('2020-01-01T25:00:00Z')",
    "Date.parse('2020-01-01T24:00:01Z')",
    "Date.parse('2020-01-01T23:60:00Z')",
    "Date.parse('2020-01-01T23:59:60Z')",
    "Date.parse('2020-01-01T00:00:00+24:00')",
    "Date.parse('-000000-01-01T00:00:00Z')",
    "Date.parse('2020-01-01T')",
    "Date.parse('T10:00:00Z')",
    "Date.parse('2020-01-01T10Z')",
    "Date.parse('2020-02-30')",
    "Date.parse('2019-02-29')",
    "Date.parse('2020-04-31')",
    "Date.parse('2020-01-01 10:00:00Z')",
    "Date.parse('2020-01-01t10:00:00z')",
    "Date.parse('2020-01-01T10:00:00.123456Z')",
    "Date.parse('2020-01-01T10:00:00,5Z')",
    "Date.parse('2020-01-01T10:00:00+0530')",
    "Date.parse('2020-01-01T10:00:00+05')",
    "Date.parse('2020-01-01T10:00:00 Z')",
    "Date.parse('2020-01-01Z')",
    "Date.parse('2020-06-15T10:00:00.Z')",
    "Date.parse('20200101')",
    "Date.parse('2020/01/01 00:00:00Z')",
    "Date.parse('01/02/2020 00:00:00Z')",
    "Date.parse('June 15, 2020 12:30:45 UTC')",
    "Date.parse('15 June 2020 UTC')",
    "Date.parse('2020-06-15T10:00:00.000+00:00 ')",
    "Date.parse('  2020-06-15T10:00:00Z')",
    "Date.parse('2020-06-15T10:00:00Z garbage')",
    "Date.parse('2020-00-00')",
    "Date.parse('2020-00')",
    "Date.parse('0000-00-00T00:00:00Z')",
    "Date.parse('2020-06-15T10:00:00.000ZZ')",
    "Date.parse('Mon, 15 Jun 2020 12:30:45 EST')",
    "Date.parse('Mon, 15 Jun 2020 12:30:45 GMT+0100')",
    "Date.parse('Sun, 15 Jun 2020 12:30:45 GMT')",
    "Date.parse('Mon Jun 15 2020 12:30:45 GMT+0000 (Coordinated Universal Time)')",
    "Date.parse('Mon Jun 15 2020 12:30:45 GMT+0200')",
    "Date.parse('2020-06-15T10:00:00.000-00:00')",
    "Date.parse('+020200-01-01T00:00:00Z')",
    "Date.parse('020200-01-01T00:00:00Z')",
    "Date.parse(undefined)",
    "Date.parse(null)",
    "Date.parse('NaN')",
    "Date.parse('Invalid Date')",
    "new Date('garbage').getTime()",
    "String(new Date('garbage'))",
    "isNaN(new Date('garbage'))",
    "new Date('') .getTime()",
    "new Date('2020-13-45').getTime()",
    "new Date('2020-00-01').getTime()",
    "new Date('2020-01-01t10:00:00z').getTime()",
    "new Date('2020-01-01T10:00:00,5Z').getTime()",
    "Date.parse({ toString() { return '2020-00-01'; } })",
    "Date.parse({ toString() { return '2020-06-15T10:00:00Z'; } })",
    "Date.parse(Symbol())",
    // -- what date-fns parseISO('garbage') relies on
    "(() => { const d = new Date(0); d.setFullYear(NaN, NaN, NaN); d.setHours(0, 0, 0, 0); return d.getTime(); })()",
    "(() => { const d = new Date(NaN); d.setUTCFullYear(NaN); return isNaN(d); })()",
    // -- round trips through the engine's own formats
    "Date.parse(new Date(Date.UTC(2020, 5, 15, 12, 30, 45, 678)).toISOString())",
    "Date.parse(new Date(Date.UTC(2020, 5, 15, 12, 30, 45, 678)).toUTCString())",
    "Date.parse(new Date(Date.UTC(2020, 5, 15, 12, 30, 45, 678)).toString())",
    "Date.parse(new Date(Date.UTC(-50, 0, 1)).toISOString())",
    "Date.parse(new Date(Date.UTC(12345, 0, 1)).toISOString())",
    "Date.parse(new Date(8.64e15).toISOString())",
    // -- RFC 2822 / toUTCString forms, commonly sent by HTTP servers
    "Date.parse('Thu, 01 Jan 1970 00:00:00 GMT')",
    "Date.parse('Mon, 15 Jun 2020 12:30:45 GMT')",
    "Date.parse('15 Jun 2020 12:30:45 GMT')",
    "Date.parse('Mon, 15 Jun 2020 12:30:45 +0000')",
    "Date.parse('Mon, 15 Jun 2020 12:30:45 +0200')",
    "Date.parse('Mon, 15 Jun 2020 12:30:45 UTC')",
    "Date.parse('Mon, 15 Jun 2020 12:30:45 Z')",
    // -- Date.UTC
    "Date.UTC()",
    "Date.UTC(2020)",
    "Date.UTC(2020, 0)",
    "Date.UTC(2020, 1, 29)",
    "Date.UTC(2019, 1, 29)",
    "Date.UTC(99)",
    "Date.UTC(100)",
    "Date.UTC(0)",
    "Date.UTC(-1)",
    "Date.UTC(2020, 12)",
    "Date.UTC(2020, -1)",
    "Date.UTC(2020, 0, 1, 25, 61, 61, 1001)",
    "Date.UTC(2020.9, 0.9, 1.9)",
    "Date.UTC(NaN)",
    "Date.UTC(2020, NaN)",
    "Date.UTC(2020, 0, Infinity)",
    "Date.UTC('2020', '1')",
    "Date.UTC(275760, 8, 13)",
    "Date.UTC(275760, 8, 13, 0, 0, 0, 1)",
    "Date.UTC(-271821, 3, 20)",
    "Date.UTC(-271821, 3, 19, 23, 59, 59, 999)",
    "Object.is(Date.UTC(1970, 0, 1, 0, 0, 0, -0), 0)",
    // -- the constructor with a time value or another date
    "new Date(0).getTime()",
    "new Date(8.64e15).getTime()",
    "new Date(8.64e15 + 1).getTime()",
    "new Date(-8.64e15 - 1).getTime()",
    "new Date(1.9).getTime()",
    "new Date(-1.9).getTime()",
    "Object.is(new Date(-0).getTime(), 0)",
    "new Date(NaN).getTime()",
    "new Date(Infinity).getTime()",
    "new Date(undefined).getTime()",
    "new Date(null).getTime()",
    "new Date(true).getTime()",
    "new Date('5e3').getTime() === 5000",
    "new Date({ valueOf() { return 7; } }).getTime()",
    "new Date({ [Symbol.toPrimitive]() { return '1970-01-01T00:00:00.009Z'; } }).getTime()",
    "new Date(new Date(5)).getTime()",
    "new Date(10n)",
    "new Date(Symbol())",
    // -- the constructor with fields (local time, read back locally)
    "__fields(new Date(2020, 5, 15, 10, 20, 30, 400))",
    "__fields(new Date(2020, 5))",
    "__fields(new Date(99, 0))",
    "__fields(new Date(100, 0))",
    "__fields(new Date(2020, 12, 1))",
    "__fields(new Date(2020, 1, 30))",
    "__fields(new Date(2020.7, 5.9, 15.9))",
    "new Date(NaN, 0).getTime()",
    "new Date(2020, Infinity).getTime()",
    "new Date(2020, 0, 1, NaN).getTime()",
    "new Date(275761, 0).getTime()",
    // -- formatting
    "new Date(0).toISOString()",
    "new Date(Date.UTC(2020, 5, 15, 12, 30, 45, 678)).toISOString()",
    "new Date(Date.UTC(-1, 0, 1)).toISOString()",
    "new Date(Date.UTC(0, 0, 1)).toISOString()",
    "new Date(Date.UTC(10000, 0, 1)).toISOString()",
    "new Date(8.64e15).toISOString()",
    "new Date(-8.64e15).toISOString()",
    "new Date(-1).toISOString()",
    "new Date(NaN).toISOString()",
    "new Date(NaN).toJSON()",
    "new Date(0).toJSON()",
    "JSON.stringify({ d: new Date(0), n: new Date(NaN) })",
    "Date.prototype.toJSON.call({ toISOString() { return 'mine'; } })",
    "Date.prototype.toJSON.call({ valueOf() { return NaN; }, toISOString() { return 'x'; } })",
    "new Date(0).toUTCString()",
    "new Date(Date.UTC(2020, 5, 15, 12, 30, 45, 678)).toUTCString()",
    "new Date(Date.UTC(-1, 0, 1)).toUTCString()",
    "new Date(Date.UTC(12345, 0, 1)).toUTCString()",
    "new Date(NaN).toUTCString()",
    "Date.prototype.toGMTString === Date.prototype.toUTCString",
    "String(new Date(NaN))",
    "new Date(NaN).toString()",
    "new Date(NaN).toDateString()",
    "new Date(NaN).toTimeString()",
    "`${new Date(NaN)}`",
    "new Date(NaN) + ''",
    "typeof new Date(0).toString()",
    "new Date(0).toString() === String(new Date(0))",
    "Object.prototype.toString.call(new Date(0))",
    // -- the Date global itself
    "typeof Date",
    "Date.name",
    "Date.length",
    "Date.prototype.constructor === Date",
    "new Date(0) instanceof Date",
    "new Date(0).constructor === Date",
    "Object.getPrototypeOf(new Date(0)) === Date.prototype",
    "Object.getOwnPropertyNames(Date).sort()",
    "Object.keys(Date)",
    "(() => { const d = Object.getOwnPropertyDescriptor(Date, 'prototype'); return [d.value === Date.prototype, d.writable, d.enumerable, d.configurable]; })()",
    "['now', 'parse', 'UTC'].map((k) => JSON.stringify(Object.getOwnPropertyDescriptor(Date, k), (key, v) => typeof v === 'function' ? 'function' : v))",
    "[Date.now.name, Date.now.length, Date.parse.name, Date.parse.length, Date.UTC.name, Date.UTC.length]",
    "typeof Date.now()",
    "typeof Date()",
    "Date(0) === Date()",
    "Object.getOwnPropertyNames(Date.prototype).sort()",
    "__setterShapes()",
    "Object.getOwnPropertyDescriptor(Date.prototype, 'setUTCFullYear').enumerable",
    "new Date.prototype.setUTCFullYear(1)",
    "Reflect.construct(Date, [5]).getTime()",
    "(() => { class D extends Date { twice() { return this.getTime() * 2; } } const d = new D(21); return [d.twice(), d instanceof Date, d instanceof D, Object.prototype.toString.call(d)]; })()",
    "(() => { class D extends Date {} return new D(NaN).setUTCFullYear(NaN); })()",
    "(() => { function F() {} return Reflect.construct(Date, [5], F) instanceof F; })()",
];

/// The harness run by both engines. `__SNIPPETS__` becomes one arrow
/// function per snippet; `__EMIT__` hands the JSON array of results over.
const HARNESS: &str = r#"
function __fmt(v) {
  if (typeof v === 'number') return Object.is(v, -0) ? 'number -0' : 'number ' + String(v);
  if (typeof v === 'string') return 'string ' + JSON.stringify(v);
  if (v instanceof Date) return 'Date ' + String(v.getTime());
  if (Array.isArray(v)) return '[' + v.map(__fmt).join(', ') + ']';
  if (v === null || typeof v !== 'object') return typeof v + ' ' + String(v);
  return 'object ' + JSON.stringify(v);
}
function __show(f) {
  let v;
  try { v = f(); } catch (e) { return 'throws ' + (e instanceof Error ? e.name : typeof e); }
  try { return __fmt(v); } catch (e) { return 'cannot show the result: ' + e.name; }
}
function __after(start, name, ...args) { const d = new Date(start); d[name](...args); return d; }
function __set(start, name, ...args) { const d = new Date(start); const r = d[name](...args); return [r, d.getTime()]; }
function __local(d, name, ...args) { const r = d[name](...args); return [isNaN(r) ? 'NaN' : 'number', isNaN(d.getTime()) ? 'NaN' : 'number', d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()]; }
function __fields(d) { return [d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds(), d.getDay()]; }
function __getters(t) { const d = new Date(t); return [d.getTime(), d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCDay(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]; }
function __localGetters(t) { const d = new Date(t); return [d.getFullYear(), d.getMonth(), d.getDate(), d.getDay(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds(), d.getYear()]; }
function __setterShapes() { return Object.getOwnPropertyNames(Date.prototype).filter((k) => k.startsWith('set')).sort().map((k) => k + '/' + Date.prototype[k].name + '/' + Date.prototype[k].length); }
const __cases = [
__SNIPPETS__
];
const __results = __cases.map(__show);
__EMIT__
"#;

/// The setter matrix and the hand-written table, in order.
fn snippets() -> Vec<String> {
    let mut all = Vec::new();
    for setter in SETTERS {
        for arg in SETTER_ARGS {
            for start in [VALID, "NaN"] {
                all.push(format!("__set({start}, '{setter}', {arg})").replace(", )", ")"));
            }
        }
    }
    all.extend(SNIPPETS.iter().map(|s| (*s).to_owned()));
    all
}

/// The harness with `snippets` in it, ending with `emit` (which must hand
/// `__results` over).
fn harness(snippets: &[String], emit: &str) -> String {
    let cases: Vec<String> = snippets
        .iter()
        .map(|s| format!("  () => (\n{s}\n),"))
        .collect();
    HARNESS
        .replace("__SNIPPETS__", &cases.join("\n"))
        .replace("__EMIT__", emit)
}

/// What the real `node` prints for `snippets`, in the UTC timezone.
fn node_results(snippets: &[String]) -> Vec<String> {
    let script = harness(snippets, "process.stdout.write(JSON.stringify(__results));");
    let output = Command::new("node")
        .arg("-e")
        .arg(&script)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| {
            panic!("this test compares the sandbox with node, which could not be run: {e}")
        });
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("node printed a JSON array of strings")
}

/// What the Candela sandbox answers for `snippets`.
async fn sandbox_results(snippets: &[String]) -> Vec<String> {
    let code = harness(
        snippets,
        "Lit.Actions.setResponse({ response: JSON.stringify(__results) });",
    );
    let host = Arc::new(TestHost::new());
    let out = run(&host, &code, json!({}))
        .await
        .expect("the harness runs in the sandbox");
    serde_json::from_str(&out.response).expect("the sandbox answered a JSON array of strings")
}

#[tokio::test]
async fn date_setters_getters_parsers_and_formatting_agree_with_node() {
    let snippets = snippets();
    assert!(
        snippets.len() >= 100,
        "the table has {} snippets",
        snippets.len()
    );
    let expected = node_results(&snippets);
    let actual = sandbox_results(&snippets).await;
    assert_eq!(
        expected.len(),
        snippets.len(),
        "node answered every snippet"
    );
    assert_eq!(
        actual.len(),
        snippets.len(),
        "the sandbox answered every snippet"
    );
    let differences: Vec<String> = snippets
        .iter()
        .zip(expected.iter().zip(&actual))
        .filter(|(_, (node, candela))| node != candela)
        .map(|(snippet, (node, candela))| {
            format!("  {snippet}\n      node:    {node}\n      candela: {candela}")
        })
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} snippets differ from node:\n{}",
        differences.len(),
        snippets.len(),
        differences.join("\n")
    );
}
