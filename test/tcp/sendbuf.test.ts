import test from 'ava';
import { SendBuffer } from '../../src/tcp/sendbuf.ts';

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

test('the ring keeps the bytes in order across wrap-around, drops from the front, and honours the limit', (t) => {
  const sb = new SendBuffer(100);
  t.is(sb.write(pattern(80, 1)), 80);
  sb.drop(60);
  t.is(sb.write(pattern(200, 2)), 80, 'only up to the limit');
  t.is(sb.length, 100);
  t.is(sb.free, 0);
  const out = new Uint8Array(100);
  sb.copyOut(0, 100, out, 0);
  t.deepEqual([...out.subarray(0, 20)], [...pattern(80, 1).subarray(60)]);
  t.deepEqual([...out.subarray(20)], [...pattern(80, 2)]);
  t.throws(() => sb.copyOut(90, 11, out, 0), { instanceOf: RangeError });
});

test('a limit raised a little at a time (autotuning) grows the ring by doubling, not on every write', (t) => {
  const sb = new SendBuffer(64 * 1024);
  const written: number[] = [];
  let total = 0;
  let grows = 0;
  let lastCap = (sb as unknown as { buf: Uint8Array }).buf.length;
  for (let i = 0; i < 2000; i++) {
    sb.limit += 1448; // as each ACK raises it
    const chunk = pattern(1448, i);
    total += sb.write(chunk);
    written.push(i);
    const cap = (sb as unknown as { buf: Uint8Array }).buf.length;
    if (cap !== lastCap) grows++;
    lastCap = cap;
  }
  t.is(sb.length, total);
  t.true(grows <= 8, `${grows} reallocations for ${total} bytes`);
  // Contents intact after the reallocations.
  const out = new Uint8Array(1448);
  sb.copyOut(1448 * 1500, 1448, out, 0);
  t.deepEqual([...out], [...pattern(1448, 1500)]);
});
