/**
 * A stack built with `ipsec: false` (the "compiled out" baseline of
 * bench/ipsec.bench.ts): nothing of IPsec in the data path — no hook on
 * ip6, ESP and AH unknown next headers — and setkey refuses to load SAs or
 * policies that would have no effect, saying why.
 */
import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { unwrap } from '../../src/core/result.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import { applySetkey } from '../../tools/setkey-run.ts';
import { settle } from '../helpers/stack.ts';

const A = '2001:db8::a';
const B = '2001:db8::b';
const GCM = '0x0102030405060708090a0b0c0d0e0f10a1a2a3a4';

function pair(): { clock: VirtualClock; a: Stack; b: Stack } {
  const clock = new VirtualClock();
  const rng = new SeededRng(3);
  const link = new VirtualLink({ clock });
  const mk = (mac: number, addr: string, ipsec: false | undefined): Stack => {
    const s = new Stack({ clock, rng: rng.fork(), ...(ipsec === false ? { ipsec } : {}) });
    const ifp = s.addEthernet({ name: 'vl0', driver: link.port(), mac: Uint8Array.of(2, 0, 0, 0, 0, mac) });
    s.rtr.config(ifp).acceptRtadv = false;
    s.up(ifp);
    unwrap(s.ip6.addAddress(ifp, in6(addr), 64, { flags: IN6_IFF.NODAD }));
    return s;
  };
  const r = { clock, a: mk(1, A, undefined), b: mk(2, B, false) };
  clock.advance(3000);
  return r;
}

test('ipsec: false leaves ip6 without the hook and ESP/AH out of the protocol switch', async (t) => {
  const { clock, a, b } = pair();
  t.true(a.ipsecAttached);
  t.not(a.ip6.ipsec, null);
  t.false(b.ipsecAttached);
  t.is(b.ip6.ipsec, null);
  // Without policies the two talk.
  t.truthy(await settle(clock, a.ping({ dst: in6(B), seq: 1, timeoutMs: 1000 })));
  t.truthy(await settle(clock, b.ping({ dst: in6(A), seq: 2, timeoutMs: 1000 })));
  // ESP from the attached stack is an unknown next header on the other.
  const r = applySetkey(a, `add ${A} ${B} esp 0x1000 -E aes-gcm-16 ${GCM};\nspdadd ${A} ${B} any -P out ipsec esp/transport//require;`);
  t.is(r.error, undefined);
  const before = b.ip6.stats.c.noProto;
  t.is(await settle(clock, a.ping({ dst: in6(B), seq: 3, timeoutMs: 1000 })), null);
  t.is(b.ip6.stats.c.noProto - before, 1, 'ESP counted as an unknown next header');
  t.is(b.ipsec.stats.c.inEsp, 0);
  a.close();
  b.close();
});

test('ipsec: false: setkey refuses SAs and policies (line named), reading and flushing still work', (t) => {
  const { b } = pair();
  const add = applySetkey(b, `flush;\nadd ${A} ${B} esp 0x1000 -E aes-gcm-16 ${GCM};`);
  t.deepEqual(add.error, { line: 2, message: 'IPsec is not in this stack (built with ipsec: false)' });
  t.is(add.applied, 0, 'nothing applied');
  const spd = applySetkey(b, `spdadd ${A} ${B} any -P in ipsec esp/transport//require;`);
  t.is(spd.error?.line, 1);
  t.is(b.ipsec.spd.active, false);
  t.is(applySetkey(b, 'flush;\nspdflush;\ndump;\nspddump;').error, undefined);
  b.close();
});
