import test from 'ava';
import { RxBurst } from '../../src/core/burst.ts';

test('atEnd refuses outside a burst; inside, callbacks run in order when the burst ends', (t) => {
  const b = new RxBurst();
  const log: number[] = [];
  t.false(b.active);
  t.false(b.atEnd(() => log.push(0)));
  b.enter();
  t.true(b.active);
  t.true(b.atEnd(() => log.push(1)));
  t.true(b.atEnd(() => log.push(2)));
  t.deepEqual(log, []);
  b.leave();
  t.deepEqual(log, [1, 2]);
  t.false(b.active);
  b.leave(); // unbalanced leave is harmless
  t.false(b.active);
});

test('nested bursts run the queue once, at the outermost end; a callback may start and end a burst of its own', (t) => {
  const b = new RxBurst();
  const log: string[] = [];
  b.enter();
  b.atEnd(() => {
    log.push('outer');
    b.enter();
    b.atEnd(() => log.push('inner-of-callback'));
    b.leave();
  });
  b.enter();
  b.atEnd(() => log.push('nested'));
  b.leave();
  t.deepEqual(log, []);
  b.leave();
  t.deepEqual(log, ['outer', 'inner-of-callback', 'nested']);
});

test('a throwing callback does not stop the others; the first error is rethrown after all ran', (t) => {
  const b = new RxBurst();
  const log: number[] = [];
  b.enter();
  b.atEnd(() => {
    throw new Error('first');
  });
  b.atEnd(() => log.push(2));
  b.atEnd(() => {
    throw new Error('second');
  });
  t.throws(() => b.leave(), { message: 'first' });
  t.deepEqual(log, [2]);
  t.false(b.active);
});

test('the queue is bounded: past MAX_QUEUED atEnd refuses', (t) => {
  const b = new RxBurst();
  b.enter();
  let n = 0;
  for (let i = 0; i < RxBurst.MAX_QUEUED; i++) t.true(b.atEnd(() => n++));
  t.false(b.atEnd(() => n++));
  b.leave();
  t.is(n, RxBurst.MAX_QUEUED);
});
