import test from 'ava';
import fc from 'fast-check';
import { TimerHeap, type TimerEntry } from '../../src/core/timerheap.ts';

/** Runs a fast-check property; fast-check throws (with seed and counterexample) on failure. */
function holds(t: { pass(): void }, p: fc.IProperty<any>, params: fc.Parameters<any> = {}): void {
  fc.assert(p, params);
  t.pass();
}

const entry = (due: number, seq: number): TimerEntry => ({ due, seq, idx: -1, fn: () => {} });

/** White-box: every entry is not earlier than its parent, and knows its own index. */
function checkInvariant(h: TimerHeap): void {
  const arr = (h as unknown as { h: TimerEntry[] }).h;
  arr.forEach((e, i) => {
    if (e.idx !== i) throw new Error(`entry at ${i} says idx ${e.idx}`);
    const p = arr[(i - 1) >> 1]!;
    if (i > 0 && (e.due < p.due || (e.due === p.due && e.seq < p.seq))) throw new Error(`heap order broken at ${i}`);
  });
}

function drain(h: TimerHeap): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let e = h.pop(); e; e = h.pop()) {
    out.push([e.due, e.seq]);
    if (e.idx !== -1) throw new Error('popped entry still has an index');
  }
  return out;
}

test('empty heap', (t) => {
  const h = new TimerHeap();
  t.is(h.size, 0);
  t.is(h.peek(), undefined);
  t.is(h.pop(), undefined);
});

test('pops by due time, ties by seq', (t) => {
  const h = new TimerHeap();
  h.push(entry(30, 0));
  h.push(entry(10, 1));
  h.push(entry(20, 2));
  h.push(entry(10, 3));
  h.push(entry(0, 4));
  t.is(h.size, 5);
  t.is(h.peek()!.seq, 4);
  t.deepEqual(drain(h), [
    [0, 4],
    [10, 1],
    [10, 3],
    [20, 2],
    [30, 0],
  ]);
  t.is(h.size, 0);
});

test('push sets idx; remove clears it; removing twice or a stranger is harmless', (t) => {
  const h = new TimerHeap();
  const es = [entry(5, 0), entry(3, 1), entry(9, 2), entry(1, 3)];
  for (const e of es) h.push(e);
  for (const e of es) t.true(e.idx >= 0);
  h.remove(es[0]!);
  t.is(es[0]!.idx, -1);
  t.is(h.size, 3);
  h.remove(es[0]!);
  t.is(h.size, 3);
  h.remove(entry(1, 99));
  t.is(h.size, 3);
  // A stranger that claims a live index must not evict the entry there.
  const liar = entry(0, 100);
  liar.idx = 0;
  h.remove(liar);
  t.is(h.size, 3);
  t.deepEqual(drain(h), [
    [1, 3],
    [3, 1],
    [9, 2],
  ]);
});

test('removing from one subtree moves the last entry up when it is smaller than the new parent', (t) => {
  // Heap by due: [0, 10, 1, 11, 12, 2, 3]; removing 11 (under 10) moves 3 into its slot,
  // where it must sift up above 10.
  const h = new TimerHeap();
  const es = [0, 10, 1, 11, 12, 2, 3].map((d, i) => entry(d, i));
  for (const e of es) h.push(e);
  t.is(es[3]!.idx, 3, 'layout as intended');
  h.remove(es[3]!);
  t.notThrows(() => checkInvariant(h));
  t.deepEqual(
    drain(h).map(([d]) => d),
    [0, 1, 2, 3, 10, 12],
  );
});

test('removing the last element and the root', (t) => {
  const h = new TimerHeap();
  const a = entry(1, 0);
  const b = entry(2, 1);
  h.push(a);
  h.push(b);
  h.remove(b);
  t.is(h.size, 1);
  h.remove(a);
  t.is(h.size, 0);
  t.is(h.peek(), undefined);
  h.push(b);
  t.is(h.peek(), b);
});

test('property: random pushes and removes pop in sorted (due, seq) order with consistent indices', (t) => {
  holds(
    t,
    fc.property(
      fc.array(
        fc.record({ due: fc.integer({ min: 0, max: 50 }), remove: fc.boolean(), popFirst: fc.boolean(), pick: fc.nat() }),
        { maxLength: 120 },
      ),
      (specs) => {
        const h = new TimerHeap();
        const live = new Set<TimerEntry>();
        const all: TimerEntry[] = [];
        specs.forEach((s, seq) => {
          const e = entry(s.due, seq);
          h.push(e);
          live.add(e);
          all.push(e);
          if (s.popFirst) {
            // Pop must return the minimum of the live set.
            const min = [...live].sort((a, b) => a.due - b.due || a.seq - b.seq)[0]!;
            if (h.pop() !== min) throw new Error('pop did not return the minimum');
            live.delete(min);
          }
          if (s.remove && live.size) {
            const victim = [...live][s.pick % live.size]!;
            h.remove(victim);
            live.delete(victim);
          }
          if (h.size !== live.size) throw new Error('size mismatch');
          checkInvariant(h);
          for (const x of all) if ((x.idx >= 0) !== live.has(x)) throw new Error('idx out of sync with membership');
        });
        const expected = [...live].sort((a, b) => a.due - b.due || a.seq - b.seq).map((e) => [e.due, e.seq]);
        return JSON.stringify(drain(h)) === JSON.stringify(expected);
      },
    ),
  );
});
