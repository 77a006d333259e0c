/**
 * inetd's internal UDP services (src/inetd.ts) between two stacks on the
 * virtual link: echo (RFC 862), discard (RFC 863), daytime (RFC 867) from
 * the clock's wall time, chargen (RFC 864) and the loop check that keeps two
 * services from answering each other forever. (The TCP services:
 * test/tools/inetd-tcp.test.ts.)
 */
import test from 'ava';
import type { VirtualClock } from '../../src/core/clock.ts';
import { formatIn6 } from '../../src/ip6/addr.ts';
import { Inetd, SERVICE_PORTS, type ServiceName, parseServices } from '../../src/inetd.ts';
import { type Host, makeNet } from '../helpers/stack.ts';
import { checkChargen } from '../tools/chargen.ts';

async function pump(clock: VirtualClock, ms = 10, rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    clock.advance(ms);
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** Stack `srv` runs every service; `cli` gets a socket (bound to `clientPort`, 0 for ephemeral) that records replies. */
async function rig(clientPort = 0) {
  const net = makeNet({ hosts: 2 });
  const [srv, cli] = net.hosts as [Host, Host];
  const inetd = new Inetd(srv.s);
  await inetd.start(['echo', 'discard', 'daytime', 'chargen']);
  const sock = cli.s.dgram.createSocket('udp6');
  const replies: { from: number; data: Buffer }[] = [];
  sock.on('message', (data, rinfo) => replies.push({ from: rinfo.port, data }));
  sock.bind(clientPort);
  await pump(net.clock, 0, 1);
  const to = `${formatIn6(srv.ll)}%vl0`;
  const ask = async (service: ServiceName, msg: string | Uint8Array = 'x') => {
    const before = replies.length;
    sock.send(msg, SERVICE_PORTS[service], to);
    await pump(net.clock);
    return replies.slice(before);
  };
  return { net, srv, cli, inetd, sock, replies, ask };
}

test('echo returns the datagram unchanged, to the port it came from', async (t) => {
  const { ask, inetd } = await rig();
  const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const r = await ask('echo', data);
  t.is(r.length, 1);
  t.is(r[0]!.from, 7);
  t.deepEqual(new Uint8Array(r[0]!.data), data);
  const empty = await ask('echo', '');
  t.is(empty.length, 1);
  t.is(empty[0]!.data.length, 0, 'an empty datagram is echoed empty');
  t.like(inetd.stats.c, { requests: 2, replies: 2, loopsRefused: 0 });
  t.deepEqual(inetd.running().sort(), ['chargen', 'daytime', 'discard', 'echo']);
});

test('discard answers nothing but counts the request', async (t) => {
  const { ask, inetd, net } = await rig();
  t.deepEqual(await ask('discard', 'into the void'), []);
  t.like(inetd.stats.c, { requests: 1, replies: 0 });
  const udpOrError = net.raw.ip6().filter((f) => f.ip6!.nxt === 17 || f.icmp?.type === 1);
  t.is(udpOrError.length, 1, 'only the request went over the link: no reply, no ICMPv6 error');
});

test('daytime is a ctime(3)-style line from the stack clock’s wall time', async (t) => {
  const { ask, net } = await rig();
  // The virtual clock's wall time starts at 2026-01-01T00:00:00Z (a Thursday); move to 01:02:03 on Jan 1st.
  net.clock.advance(3_723_000 - net.clock.now() - 10);
  const r = await ask('daytime');
  t.is(r.length, 1);
  t.is(r[0]!.data.toString(), 'Thu Jan  1 01:02:03 2026\r\n');
  // Two weeks and a bit later: a two-digit day and a weekday past the week boundary.
  net.clock.advance(14 * 86_400_000 + 1000 - 40);
  t.is((await ask('daytime'))[0]!.data.toString(), 'Thu Jan 15 01:02:04 2026\r\n');
});

test('chargen answers 0 to 512 printable characters in the RFC 864 pattern', async (t) => {
  const { ask, inetd } = await rig();
  const sizes: number[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await ask('chargen');
    t.is(r.length, 1);
    const s = r[0]!.data.toString('latin1');
    sizes.push(s.length);
    t.is(checkChargen(s), null, JSON.stringify(s.slice(0, 80)));
  }
  t.true(sizes.every((n) => n >= 0 && n <= 512));
  t.true(new Set(sizes).size > 10, 'sizes vary');
  t.true(sizes.some((n) => n > 150), 'some answers span several lines');
  t.is(inetd.stats.c.replies, 30);
  // The checker itself rejects a broken pattern.
  t.not(checkChargen(`${'!'.repeat(72)}\r\n`), null);
});

for (const port of [7, 19]) {
  test(`loop check: a datagram from source port ${port} is not answered, and counted`, async (t) => {
    const { ask, inetd, replies } = await rig(port);
    t.deepEqual(await ask('echo'), []);
    t.deepEqual(await ask('chargen'), []);
    t.deepEqual(await ask('daytime'), []);
    t.like(inetd.stats.c, { requests: 3, replies: 0, loopsRefused: 3 });
    t.is(replies.length, 0);
  });
}

test('close stops the services and frees their ports', async (t) => {
  const { srv, inetd, ask } = await rig();
  t.is(srv.s.udp.pcbs().length, 4);
  inetd.close();
  t.is(srv.s.udp.pcbs().length, 0);
  t.deepEqual(inetd.running(), []);
  t.deepEqual(await ask('echo'), []);
  t.is(srv.s.udp.stats.c.noport, 1, 'the port is closed now: Port Unreachable');
});

test('parseServices accepts a comma list and rejects unknown names; start fails when a port is taken', async (t) => {
  t.deepEqual(parseServices('echo, discard,echo'), ['echo', 'discard']);
  t.throws(() => parseServices('echo,finger'), { message: /unknown service 'finger'/ });
  const net = makeNet();
  const s = net.hosts[0]!.s;
  const squatter = s.dgram.createSocket('udp6');
  squatter.bind(7);
  await pump(net.clock, 0, 1);
  const inetd = new Inetd(s);
  const err = await inetd.start(['echo']).then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  t.is(err?.code, 'EADDRINUSE');
});
