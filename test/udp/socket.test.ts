/**
 * The node:dgram-shaped socket API (src/udp/socket.ts) on the virtual link:
 * every error code the API names (with code, errno and syscall as node's),
 * multicast membership and options as seen on the wire and in the ip6
 * group table, rinfo and addresses, connect/disconnect, every send form,
 * implicit binding and close.
 */
import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import type { RemoteInfo, Socket } from '../../src/udp/socket.ts';
import { DAD_DONE_MS, type Host, type Net, RAW_LL, RAW_MAC, RawPort, eq, introduce, makeNet } from '../helpers/stack.ts';

const NXT_UDP = 17;
const MLDV2_REPORT = 143;

type SysErr = Error & { code?: string; errno?: number; syscall?: string; address?: string; port?: number };

async function pump(clock: VirtualClock, ms = 10, rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    clock.advance(ms);
    await new Promise<void>((r) => setImmediate(r));
  }
}

interface Got {
  data: string;
  rinfo: RemoteInfo;
}

/** A socket that records its events in order, messages and errors. */
function watched(s: Stack, opts: { reuseAddr?: boolean } = {}) {
  const sock = s.dgram.createSocket({ type: 'udp6', ...opts });
  const events: string[] = [];
  const got: Got[] = [];
  const errors: SysErr[] = [];
  for (const e of ['listening', 'connect', 'close']) sock.on(e, () => events.push(e));
  sock.on('message', (m, rinfo) => {
    events.push('message');
    got.push({ data: m.toString(), rinfo });
  });
  sock.on('error', (e: SysErr) => {
    events.push('error');
    errors.push(e);
  });
  return { sock, events, got, errors };
}

/** Calls `f` and returns what it threw (code and constructor name), or null. */
function thrown(f: () => unknown): { code: string | undefined; name: string } | null {
  try {
    f();
    return null;
  } catch (e) {
    return { code: (e as SysErr).code, name: (e as Error).name };
  }
}

/** send() with a callback as a promise of its error (null on success). */
function sent(sock: Socket, clock: VirtualClock, ...args: unknown[]): Promise<SysErr | null> {
  const p = new Promise<SysErr | null>((resolve) => (sock.send as (...a: unknown[]) => void)(...args, (e: SysErr | null) => resolve(e)));
  return pump(clock, 0, 1).then(() => p);
}

const ll = (h: Host) => `${formatIn6(h.ll)}%${h.ifp.name}`;

function pair(): { net: Net; a: Host; b: Host } {
  const net = makeNet({ hosts: 2 });
  const [a, b] = net.hosts as [Host, Host];
  return { net, a, b };
}

// ---- error codes --------------------------------------------------------------

test('errors: system errors carry code, negative errno and syscall as node’s do', async (t) => {
  const { net, a } = pair();
  const c = net.clock;
  const first = watched(a.s);
  first.sock.bind(7000);
  await pump(c, 0, 1);
  const dup = watched(a.s);
  dup.sock.bind(7000);
  await pump(c, 0, 1);
  const inUse = dup.errors[0]!;
  t.like(inUse, { code: 'EADDRINUSE', errno: -98, syscall: 'bind', port: 7000 });
  t.true(inUse instanceof Error);
  t.regex(inUse.message, /^bind EADDRINUSE/);
  t.deepEqual(dup.events, ['error'], 'no listening after a failed bind');

  const foreign = watched(a.s);
  foreign.sock.bind(7001, '2001:db8::99');
  const noZone = watched(a.s);
  noZone.sock.bind(7001, formatIn6(a.ll));
  await pump(c, 0, 1);
  t.like(foreign.errors[0], { code: 'EADDRNOTAVAIL', errno: -99, syscall: 'bind' });
  t.like(noZone.errors[0], { code: 'EINVAL', errno: -22, syscall: 'bind' });

  const s = watched(a.s);
  t.like(await sent(s.sock, c, 'x', 9, '2001:db8::1'), { code: 'ENETUNREACH', errno: -101, syscall: 'send' }, 'global destination, no route');
  t.like(await sent(s.sock, c, new Uint8Array(65_528), 9, ll(a)), { code: 'EMSGSIZE', errno: -90, syscall: 'send' });
  t.like(await sent(s.sock, c, 'x', 9, 'fe80::1'), { code: 'EINVAL', syscall: 'send' }, 'link-local destination without a zone');
  t.like(await sent(s.sock, c, 'x', 9, 'not an address'), { code: 'EINVAL', syscall: 'send' });
  t.is(s.errors.length, 0, 'with a callback, send errors go to the callback only');
});

test('errors: without a callback a send error is emitted as "error"', async (t) => {
  const { net, a } = pair();
  const s = watched(a.s);
  s.sock.send('x', 9, '2001:db8::1');
  await pump(net.clock);
  t.is(s.errors.length, 1);
  t.is(s.errors[0]!.code, 'ENETUNREACH');
});

test('errors: the ERR_* state and argument errors are thrown synchronously', async (t) => {
  const { net, a } = pair();
  t.like(thrown(() => a.s.dgram.createSocket('udp4')), { code: 'ERR_SOCKET_BAD_TYPE', name: 'Error' });
  t.like(thrown(() => a.s.dgram.createSocket({ type: 'udp4' })), { code: 'ERR_SOCKET_BAD_TYPE' });
  const s = watched(a.s);
  t.like(thrown(() => s.sock.bind(70_000)), { code: 'ERR_SOCKET_BAD_PORT' });
  t.like(thrown(() => s.sock.send('x', 0, '::1')), { code: 'ERR_SOCKET_BAD_PORT' });
  t.like(thrown(() => s.sock.send('x', 65_536, '::1')), { code: 'ERR_SOCKET_BAD_PORT' });
  t.like(thrown(() => s.sock.connect(0, '::1')), { code: 'ERR_SOCKET_BAD_PORT' });
  t.like(thrown(() => s.sock.disconnect()), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  t.like(thrown(() => s.sock.remoteAddress()), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  s.sock.connect(9, '::1');
  await pump(net.clock, 0, 1);
  t.like(thrown(() => s.sock.connect(9, '::1')), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  t.like(thrown(() => s.sock.send('x', 0, 1, 9, '::1')), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  t.like(thrown(() => s.sock.bind(0)), { code: 'ERR_SOCKET_ALREADY_BOUND' });
  s.sock.close();
  for (const [what, f] of [
    ['send', () => s.sock.send('x', 9, '::1')],
    ['bind', () => s.sock.bind(0)],
    ['connect', () => s.sock.connect(9, '::1')],
    ['address', () => s.sock.address()],
    ['close', () => s.sock.close()],
    ['addMembership', () => s.sock.addMembership('ff12::1', 'vl0')],
  ] as const) {
    t.like(thrown(f), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }, `${what} after close`);
  }
});

test('errors: option values out of range are EINVAL (hop limits) or ERR_SOCKET_BUFFER_SIZE', (t) => {
  const { a } = pair();
  const s = watched(a.s);
  s.sock.bind(0);
  t.like(thrown(() => s.sock.setTTL(256)), { code: 'EINVAL' });
  t.like(thrown(() => s.sock.setMulticastTTL(-1)), { code: 'EINVAL' });
  t.like(thrown(() => s.sock.setRecvBufferSize(0)), { code: 'ERR_SOCKET_BUFFER_SIZE' });
  t.like(thrown(() => s.sock.setSendBufferSize(1.5)), { code: 'ERR_SOCKET_BUFFER_SIZE' });
  t.like(thrown(() => s.sock.addMembership('2001:db8::1', 'vl0')), { code: 'EINVAL' });
  t.like(thrown(() => s.sock.setMulticastInterface('nosuch0')), { code: 'EADDRNOTAVAIL' });
  t.like(thrown(() => s.sock.dropMembership('ff12::1', 'vl0')), { code: 'EADDRNOTAVAIL' }, 'not a member');
});

// ---- multicast --------------------------------------------------------------------

const GROUP = 'ff12::4242';

test('multicast: addMembership joins at the ip6 layer (refcounted, MLD report on the wire); dropMembership and close leave', async (t) => {
  const { net, a } = pair();
  const st = a.s.ip6.if6Of(a.ifp)!;
  const g = in6(GROUP);
  const reports = () => net.raw.frames.filter((f) => f.icmp?.type === MLDV2_REPORT && eq(f.ethSrc, a.mac) && containsGroup(f.icmp.body, g));
  const s1 = watched(a.s);
  const s2 = watched(a.s);
  s1.sock.bind(6000);
  s2.sock.bind(6001);
  t.false(st.isMember(g));
  s1.sock.addMembership(GROUP, 'vl0');
  net.run();
  t.true(st.isMember(g));
  t.is(st.groups.get(g)?.refs, 1);
  t.true(reports().length >= 1, 'an MLDv2 report names the group');
  t.like(thrown(() => s1.sock.addMembership(GROUP, 'vl0')), { code: 'EADDRINUSE' }, 'joining twice');
  s2.sock.addMembership(GROUP, 'vl0');
  t.is(st.groups.get(g)?.refs, 2);
  const nReports = reports().length;
  s1.sock.dropMembership(GROUP, 'vl0');
  net.run();
  t.is(st.groups.get(g)?.refs, 1);
  t.is(reports().length, nReports, 'still a member: nothing to report');
  s2.sock.close();
  net.run();
  t.false(st.isMember(g), 'closing the last member leaves the group');
  t.true(reports().length > nReports, 'and MLD reports the change');
});

test('multicast: closing a socket that joined without binding leaves the group too', async (t) => {
  const { net, a } = pair();
  const st = a.s.ip6.if6Of(a.ifp)!;
  const s = watched(a.s);
  s.sock.addMembership(GROUP, 'vl0');
  t.true(st.isMember(in6(GROUP)));
  s.sock.close();
  await pump(net.clock);
  t.false(st.isMember(in6(GROUP)));
});

/** Whether an MLDv2 report body (after type/code/checksum) has a record for `g`. */
function containsGroup(body: Uint8Array, g: Uint8Array): boolean {
  const n = (body[2]! << 8) | body[3]!;
  let off = 4;
  for (let i = 0; i < n && off + 20 <= body.length; i++) {
    if (eq(body.subarray(off + 4, off + 20), g)) return true;
    off += 20 + body[off + 1]! * 4 + (((body[off + 2]! << 8) | body[off + 3]!) * 16);
  }
  return false;
}

test('multicast: a member gets what another stack sends to the group; a non-member socket on the port does not', async (t) => {
  const net = makeNet({ hosts: 3 });
  const [a, b, c] = net.hosts as [Host, Host, Host];
  const member = watched(b.s);
  member.sock.bind(6100);
  member.sock.addMembership(GROUP, 'vl0');
  const bystander = watched(c.s);
  bystander.sock.bind(6100);
  // c is in the group at the ip6 layer (another socket joined it), but not on this port.
  const other = watched(c.s);
  other.sock.bind(6101);
  other.sock.addMembership(GROUP, 'vl0');
  await pump(net.clock);
  const tx = watched(a.s);
  t.is(await sent(tx.sock, net.clock, 'to the group', 6100, `${GROUP}%vl0`), null);
  await pump(net.clock);
  t.deepEqual(member.got.map((g) => g.data), ['to the group']);
  t.is(member.got[0]!.rinfo.address, ll(a));
  t.is(bystander.got.length, 0);
  t.is(other.got.length, 0);
  t.is(c.s.udp.stats.c.noportmcast, 1);
  t.is(c.s.udp.stats.c.noport, 0);
  t.is(c.s.icmp6.stats.c.errSent, 0);
});

test('multicast: local copies loop back by default; setMulticastLoopback(false) suppresses them, not the wire copy', async (t) => {
  const { net, a } = pair();
  const rx = watched(a.s);
  rx.sock.bind(6200);
  rx.sock.addMembership(GROUP, 'vl0');
  const tx = watched(a.s);
  tx.sock.bind(0);
  await pump(net.clock);
  const onWire = () => net.raw.ip6().filter((f) => f.ip6!.nxt === NXT_UDP).length;
  await sent(tx.sock, net.clock, 'loop', 6200, `${GROUP}%vl0`);
  await pump(net.clock);
  t.deepEqual(rx.got.map((g) => g.data), ['loop']);
  t.is(onWire(), 1);
  t.is(tx.sock.setMulticastLoopback(false), false);
  await sent(tx.sock, net.clock, 'no loop', 6200, `${GROUP}%vl0`);
  await pump(net.clock);
  t.deepEqual(rx.got.map((g) => g.data), ['loop']);
  t.is(onWire(), 2);
});

test('multicast: setMulticastInterface picks the outgoing interface', async (t) => {
  const clock = new VirtualClock();
  const s = new Stack({ clock, rng: new SeededRng(3) });
  const raws = [0, 1].map((i) => {
    const link = new VirtualLink({ clock });
    const raw = new RawPort(link.port('raw'), RAW_MAC, () => clock.now());
    const ifp = s.addEthernet({ name: `vl${i}`, driver: link.port('h'), mac: Uint8Array.of(2, 0, 0, 0, 1, i) });
    s.rtr.config(ifp).acceptRtadv = false;
    s.up(ifp);
    return raw;
  });
  clock.advance(DAD_DONE_MS);
  const udpOn = (i: number) => raws[i]!.ip6().filter((f) => f.ip6!.nxt === NXT_UDP);
  const tx = watched(s);
  tx.sock.bind(0);
  tx.sock.setMulticastInterface('::%vl1');
  t.is(await sent(tx.sock, clock, 'one', 6300, GROUP), null, 'no zone needed once the interface is set');
  await pump(clock);
  t.deepEqual([udpOn(0).length, udpOn(1).length], [0, 1]);
  tx.sock.setMulticastInterface('vl0');
  await sent(tx.sock, clock, 'zero', 6300, GROUP);
  await pump(clock);
  t.deepEqual([udpOn(0).length, udpOn(1).length], [1, 1]);
  // The source is the link-local address of the chosen interface.
  t.true(eq(udpOn(0)[0]!.ip6!.src, s.ip6.selectSource(in6(GROUP), s.ifnet('vl0')!)!.addr));
});

test('hop limits: setMulticastTTL for multicast (default 1), setTTL for unicast (default 64), as written on the wire', async (t) => {
  const { net, a } = pair();
  introduce(net, a);
  const tx = watched(a.s);
  tx.sock.bind(0);
  const last = () => net.raw.ip6().filter((f) => f.ip6!.nxt === NXT_UDP).at(-1)!.ip6!.hlim;
  const raw = `${formatIn6(RAW_LL)}%vl0`;
  await sent(tx.sock, net.clock, 'm', 6400, `${GROUP}%vl0`);
  await sent(tx.sock, net.clock, 'u', 6400, raw);
  await pump(net.clock);
  const hl = net.raw.ip6().filter((f) => f.ip6!.nxt === NXT_UDP).map((f) => f.ip6!.hlim);
  t.deepEqual(hl, [1, 64]);
  t.is(tx.sock.setMulticastTTL(7), 7);
  await sent(tx.sock, net.clock, 'm', 6400, `${GROUP}%vl0`);
  await pump(net.clock);
  t.is(last(), 7);
  t.is(tx.sock.setTTL(33), 33);
  await sent(tx.sock, net.clock, 'u', 6400, raw);
  await pump(net.clock);
  t.is(last(), 33);
  await sent(tx.sock, net.clock, 'm', 6400, `${GROUP}%vl0`);
  await pump(net.clock);
  t.is(last(), 7, 'setTTL leaves multicast alone');
});

// ---- addresses, rinfo, connect ---------------------------------------------------

test('rinfo: address with %zone for link-local, family, port, size, scopeid; global sources have no zone', async (t) => {
  const { net, a, b } = pair();
  for (const [h, g] of [
    [a, '2001:db8::a'],
    [b, '2001:db8::b'],
  ] as const) {
    t.true(h.s.ip6.addAddress(h.ifp, in6(g), 64).ok);
  }
  net.run(DAD_DONE_MS);
  const rx = watched(b.s);
  rx.sock.bind(6500);
  const tx = watched(a.s);
  tx.sock.bind(41_000);
  await sent(tx.sock, net.clock, 'via ll', 6500, ll(b));
  await sent(tx.sock, net.clock, 'via global', 6500, '2001:db8::b');
  await pump(net.clock);
  t.deepEqual(rx.got[0], { data: 'via ll', rinfo: { address: ll(a), family: 'IPv6', port: 41_000, size: 6, scopeid: a.ifp.index } });
  t.deepEqual(rx.got[1], { data: 'via global', rinfo: { address: '2001:db8::a', family: 'IPv6', port: 41_000, size: 10, scopeid: 0 } });
  // Replying to rinfo.address works as is.
  rx.sock.on('message', (m, r) => rx.sock.send(`re: ${m}`, r.port, r.address));
  await sent(tx.sock, net.clock, 'ping', 6500, ll(b));
  await pump(net.clock);
  t.deepEqual(tx.got.map((g) => g.data), ['re: ping']);
});

test('address(), remoteAddress(), connect and disconnect', async (t) => {
  const { net, a, b } = pair();
  const peer = watched(b.s);
  peer.sock.bind(6600);
  const other = watched(b.s);
  other.sock.bind(6601);
  const s = watched(a.s);
  s.sock.bind(40_000, ll(a));
  await pump(net.clock, 0, 1);
  t.deepEqual(s.sock.address(), { address: ll(a), family: 'IPv6', port: 40_000 });
  let connectCb = 0;
  s.sock.connect(6600, ll(b), () => connectCb++);
  await pump(net.clock, 0, 1);
  t.is(connectCb, 1);
  t.deepEqual(s.events, ['listening', 'connect']);
  t.deepEqual(s.sock.remoteAddress(), { address: ll(b), family: 'IPv6', port: 6600 });
  // Only the peer is heard while connected.
  await sent(peer.sock, net.clock, 'from peer', 40_000, ll(a));
  await sent(other.sock, net.clock, 'from other', 40_000, ll(a));
  await pump(net.clock);
  t.deepEqual(s.got.map((g) => g.data), ['from peer']);
  s.sock.disconnect();
  t.like(thrown(() => s.sock.remoteAddress()), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  await sent(other.sock, net.clock, 'from other again', 40_000, ll(a));
  await pump(net.clock);
  t.deepEqual(s.got.map((g) => g.data), ['from peer', 'from other again']);
  t.like(thrown(() => s.sock.send('needs a port')), { code: 'ERR_SOCKET_BAD_PORT' }, 'after disconnect a send needs a destination again');
});

test('connect on an unbound socket binds it (listening, then connect) to an ephemeral port', async (t) => {
  const { net, a, b } = pair();
  const s = watched(a.s);
  s.sock.connect(6700, ll(b));
  await pump(net.clock, 0, 1);
  t.deepEqual(s.events, ['listening', 'connect']);
  t.true(s.sock.address().port >= 49152);
});

test('address() of an unbound socket throws EBADF, as node’s getsockname does', (t) => {
  const { a } = pair();
  const s = watched(a.s);
  t.like(thrown(() => s.sock.address()), { code: 'EBADF' });
});

// ---- send forms ----------------------------------------------------------------------

test('send forms: (msg, port, address, cb), (msg, offset, length, port, address, cb), arrays, strings, DataView, connected (msg, cb)', async (t) => {
  const { net, a, b } = pair();
  const rx = watched(b.s);
  rx.sock.bind(6800);
  const tx = watched(a.s);
  const c = net.clock;
  const to = ll(b);
  const results: (SysErr | null)[] = [];
  const buf = Buffer.from('0123456789');
  results.push(await sent(tx.sock, c, Buffer.from('buffer'), 6800, to));
  results.push(await sent(tx.sock, c, buf, 2, 3, 6800, to));
  results.push(await sent(tx.sock, c, 'a string', 6800, to));
  results.push(await sent(tx.sock, c, 'string slice', 7, 5, 6800, to));
  results.push(await sent(tx.sock, c, [Buffer.from('ar'), new Uint8Array([0x72, 0x61]), 'y'], 6800, to));
  results.push(await sent(tx.sock, c, new DataView(new TextEncoder().encode('xxdataview').buffer, 2), 6800, to));
  results.push(await sent(tx.sock, c, new Uint8Array(0), 6800, to));
  tx.sock.connect(6800, to);
  await pump(c, 0, 1);
  results.push(await sent(tx.sock, c, 'connected'));
  results.push(await sent(tx.sock, c, buf, 8, 2));
  await pump(c);
  t.deepEqual(results, new Array(9).fill(null));
  t.deepEqual(rx.got.map((g) => g.data), ['buffer', '234', 'a string', 'slice', 'array', 'dataview', '', 'connected', '89']);
  t.deepEqual(rx.got.map((g) => g.rinfo.size), [6, 3, 8, 5, 5, 8, 0, 9, 2]);
  let bytes: number | undefined;
  tx.sock.send('count me', (e, n) => {
    t.is(e, null);
    bytes = n;
  });
  await pump(c, 0, 1);
  t.is(bytes, 8, 'the callback gets the byte count');
  t.like(thrown(() => tx.sock.send(buf, 5, 6)), { code: 'ERR_OUT_OF_RANGE' });
});

test('the first send binds implicitly: listening fires, address() shows the ephemeral port, replies come back to it', async (t) => {
  const { net, a, b } = pair();
  const echo = watched(b.s);
  echo.sock.bind(6900);
  echo.sock.on('message', (m, r) => echo.sock.send(m, r.port, r.address));
  const s = watched(a.s);
  t.like(thrown(() => s.sock.address()), { code: 'EBADF' });
  s.sock.send('hi', 6900, ll(b));
  await pump(net.clock);
  t.deepEqual(s.events, ['listening', 'message']);
  const port = s.sock.address().port;
  t.true(port >= 49152 && port <= 65535);
  t.deepEqual(s.sock.address(), { address: '::', family: 'IPv6', port });
  t.is(echo.got[0]!.rinfo.port, port);
  t.is(s.got[0]!.data, 'hi');
});

test('close emits close (and calls its callback), stops delivery, and frees the port', async (t) => {
  const { net, a } = pair();
  const s = watched(a.s);
  s.sock.bind(7100);
  await pump(net.clock, 0, 1);
  let cb = 0;
  s.sock.close(() => cb++);
  await pump(net.clock, 0, 1);
  t.deepEqual(s.events, ['listening', 'close']);
  t.is(cb, 1);
  const again = watched(a.s);
  again.sock.bind(7100);
  await pump(net.clock, 0, 1);
  t.deepEqual(again.events, ['listening']);
  t.is(again.sock.address().port, 7100);
  // What was queued for a socket closed in the same turn is not delivered.
  const tx = watched(a.s);
  tx.sock.send('late', 7100, '::1');
  net.run(0);
  again.sock.close();
  await pump(net.clock);
  t.is(a.s.udp.stats.c.delivered, 1, 'it had reached the socket’s queue');
  t.is(again.got.length, 0);
});

test('createSocket accepts a message listener; ref/unref are chainable no-ops; buffer sizes default to 212992', async (t) => {
  const { net, a } = pair();
  const got: string[] = [];
  const s = a.s.dgram.createSocket('udp6', (m) => got.push(m.toString()));
  t.is(s.ref(), s);
  t.is(s.unref(), s);
  t.is(s.getRecvBufferSize(), 212_992);
  t.is(s.getSendBufferSize(), 212_992);
  t.is(s.getSendQueueSize(), 0);
  t.is(s.getSendQueueCount(), 0);
  const o = a.s.dgram.createSocket({ type: 'udp6', recvBufferSize: 4096, sendBufferSize: 2048 });
  t.is(o.getRecvBufferSize(), 4096);
  t.is(o.getSendBufferSize(), 2048);
  s.bind(7200);
  const tx = a.s.dgram.createSocket('udp6');
  tx.send('to myself', 7200, '::1');
  await pump(net.clock);
  t.deepEqual(got, ['to myself']);
});
