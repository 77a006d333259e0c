import test from 'ava';
import { CounterRegistry, CounterSet, counterSet } from '../../src/core/counters.ts';

const mk = () =>
  counterSet('ether', {
    rxShort: 'frames shorter than an Ethernet header',
    rxNotUs: 'frames for another station',
    rxOk: 'frames received',
  });

test('counterSet: name, keys in declaration order, descriptions, all zero', (t) => {
  const s = mk();
  t.true(s instanceof CounterSet);
  t.is(s.name, 'ether');
  t.deepEqual(s.keys, ['rxShort', 'rxNotUs', 'rxOk']);
  t.is(s.descriptions.rxNotUs, 'frames for another station');
  t.deepEqual(s.c, { rxShort: 0, rxNotUs: 0, rxOk: 0 });
});

test('counters are plain fields that increment', (t) => {
  const s = mk();
  s.c.rxShort++;
  s.c.rxShort++;
  s.c.rxOk += 10;
  t.is(s.c.rxShort, 2);
  t.is(s.c.rxNotUs, 0);
  t.is(s.c.rxOk, 10);
  // Type-level: an unknown counter is a compile error.
  // @ts-expect-error 'rxBogus' is not a declared counter
  t.is(s.c.rxBogus, undefined);
});

test('snapshot is a frozen, independent copy', (t) => {
  const s = mk();
  s.c.rxOk = 5;
  const snap = s.snapshot();
  t.true(Object.isFrozen(snap));
  t.deepEqual(snap, { rxShort: 0, rxNotUs: 0, rxOk: 5 });
  s.c.rxOk++;
  t.is(snap.rxOk, 5, 'later increments do not show in the snapshot');
  t.throws(() => {
    (snap as { rxOk: number }).rxOk = 99;
  }, { instanceOf: TypeError });
  t.is(s.c.rxOk, 6);
  t.false(Object.isFrozen(s.c), 'the live counters stay writable');
});

test('reset zeroes every counter and keeps the same object', (t) => {
  const s = mk();
  const c = s.c;
  s.c.rxShort = 3;
  s.c.rxOk = 4;
  s.reset();
  t.is(s.c, c, 'references held by hot paths stay valid');
  t.deepEqual(s.c, { rxShort: 0, rxNotUs: 0, rxOk: 0 });
});

test('sum: all counters, or those a predicate selects', (t) => {
  const s = mk();
  s.c.rxShort = 2;
  s.c.rxNotUs = 3;
  s.c.rxOk = 100;
  t.is(s.sum(), 105);
  t.is(s.sum((k) => k !== 'rxOk'), 5);
  t.is(s.sum((k) => k.startsWith('nope')), 0);
});

test('format: netstat -s lines in declaration order, zeros omitted unless all', (t) => {
  const s = mk();
  t.deepEqual(s.format(), []);
  s.c.rxOk = 12;
  s.c.rxShort = 1;
  t.deepEqual(s.format(), ['\t1 frames shorter than an Ethernet header', '\t12 frames received']);
  t.deepEqual(s.format(true), ['\t1 frames shorter than an Ethernet header', '\t0 frames for another station', '\t12 frames received']);
});

test('an empty set', (t) => {
  const s = counterSet('empty', {});
  t.deepEqual(s.keys, []);
  t.is(s.sum(), 0);
  t.deepEqual(s.format(true), []);
  t.deepEqual(s.snapshot(), {});
});

test('CounterSet constructor works directly', (t) => {
  const s = new CounterSet<'a' | 'b'>('x', { a: 'A', b: 'B' });
  s.c.b++;
  t.deepEqual(s.snapshot(), { a: 0, b: 1 });
});

test('registry: register, get, all in order, unregister', (t) => {
  const reg = new CounterRegistry();
  const a = mk();
  const b = counterSet('ip6', { tooShort: 'packets too short' });
  t.is(reg.register(a), a, 'register returns the set, typed');
  reg.register(b);
  t.is(reg.get('ether'), a as unknown as CounterSet);
  t.is(reg.get('nope'), undefined);
  t.deepEqual(
    reg.all().map((s) => s.name),
    ['ether', 'ip6'],
  );
  reg.unregister('ether');
  t.is(reg.get('ether'), undefined);
  t.deepEqual(
    reg.all().map((s) => s.name),
    ['ip6'],
  );
  reg.unregister('ether'); // harmless
  reg.register(mk()); // the name is free again
  t.deepEqual(
    reg.all().map((s) => s.name),
    ['ip6', 'ether'],
  );
});

test('registry: a duplicate name throws', (t) => {
  const reg = new CounterRegistry();
  reg.register(mk());
  t.throws(() => reg.register(mk()), { message: /ether/ });
  t.is(reg.all().length, 1);
});

test('registry: snapshot is a plain independent copy of every set', (t) => {
  const reg = new CounterRegistry();
  const e = reg.register(mk());
  const i = reg.register(counterSet('ip6', { tooShort: 'packets too short' }));
  e.c.rxOk = 3;
  i.c.tooShort = 1;
  const snap = reg.snapshot();
  t.deepEqual(snap, { ether: { rxShort: 0, rxNotUs: 0, rxOk: 3 }, ip6: { tooShort: 1 } });
  e.c.rxOk++;
  snap['ip6']!['tooShort'] = 50;
  t.is(snap['ether']!['rxOk'], 3);
  t.is(i.c.tooShort, 1);
  t.deepEqual(JSON.parse(JSON.stringify(snap)), snap, 'JSON-safe for the control socket');
});
