import test from 'ava';
import { err, ok, unwrap, type Result } from '../../src/core/result.ts';

test('ok carries a value and narrows on .ok', (t) => {
  const r: Result<number> = ok(42);
  t.true(r.ok);
  if (r.ok) t.is(r.value, 42);
  t.deepEqual(r, { ok: true, value: 42 });
});

test('err carries a typed reason', (t) => {
  const r: Result<number, 'tooShort' | 'badVersion'> = err('tooShort');
  t.false(r.ok);
  if (!r.ok) t.is(r.error, 'tooShort');
  t.deepEqual(r, { ok: false, error: 'tooShort' });
});

test('unwrap returns the value of an Ok', (t) => {
  t.is(unwrap(ok('x')), 'x');
  t.is(unwrap(ok(undefined)), undefined);
  const obj = { a: 1 };
  t.is(unwrap(ok(obj)), obj);
});

test('unwrap throws on an Err, naming the reason', (t) => {
  const e = t.throws(() => unwrap(err('badChecksum')));
  t.regex(e.message, /badChecksum/);
  const e2 = t.throws(() => unwrap(err(7)));
  t.regex(e2.message, /7/);
});

test('a falsy value is still Ok', (t) => {
  t.is(unwrap(ok(0)), 0);
  t.is(unwrap(ok('')), '');
  t.is(unwrap(ok(false)), false);
});
