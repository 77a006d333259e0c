/**
 * `tap6 netstat` with TCP: connections and listeners next to the UDP
 * sockets, with their queues (Recv-Q: received and not read; Send-Q: in the
 * send buffer, not acknowledged), -v with RTT, RTO, cwnd, ssthresh, MSS,
 * congestion control and listen queues, --json with all of it, -p tcp|udp,
 * and netstat -s -p tcp.
 */
import test from 'ava';
import { formatIn6 } from '../../src/ip6/addr.ts';
import type { VirtualPort } from '../../src/link/vlink.ts';
import type { Socket } from '../../src/tcp/socket.ts';
import { runClientCommand } from '../../tools/cli.ts';
import { formatSockets } from '../../tools/format.ts';
import type { SocketRow, SocketsResult } from '../../tools/handlers.ts';
import { until } from './raw.ts';
import { type Rig, capture, rig } from './rig.ts';

const run = (argv: string[], io = capture()) => runClientCommand(argv[0]!, argv.slice(1), io).then((code) => ({ code, io }));

/**
 * Stack a listens on 8080 and does not read; b connects and sends 1,000
 * bytes; a answers 100 bytes (acknowledged: an RTT sample), then b is
 * unplugged and a writes 5,000 bytes that stay unacknowledged.
 */
async function busyConnection(r: Rig): Promise<{ accepted: Socket; client: Socket }> {
  const server = r.a.net.createServer();
  let accepted: Socket | null = null;
  server.on('connection', (s: Socket) => (accepted = s));
  await new Promise<void>((res) => server.listen(8080, () => res()));
  const aLl = `${formatIn6(r.a.ip6.if6Of(r.ifa)!.linkLocal()!.addr)}%veth0`;
  const client = r.b.net.connect({ host: aLl, port: 8080 });
  client.on('error', () => {});
  await new Promise<void>((res) => client.once('connect', () => res()));
  client.write(Buffer.alloc(1000, 0x61));
  const conn = () => r.a.tcp.connections().find((c) => c.lport === 8080);
  if (!(await until(() => accepted !== null && conn()?.rcvQueued === 1000))) throw new Error('the 1,000 bytes did not arrive');
  const a = accepted as unknown as Socket;
  a.on('error', () => {});
  a.write(Buffer.alloc(100, 0x62));
  if (!(await until(() => conn()!.snd.length === 0 && conn()!.rtt.srtt !== undefined))) throw new Error('the 100 bytes were not acknowledged');
  (r.ifb.driver as VirtualPort).connected = false;
  a.write(Buffer.alloc(5000, 0x63));
  return { accepted: a, client };
}

test('netstat lists TCP connections and listeners with their queues, then UDP; --json has every field', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const u = r.a.dgram.createSocket('udp6');
  t.teardown(() => u.close());
  await new Promise<void>((res) => u.bind(5353, () => res()));
  await busyConnection(r);

  const { code, io } = await run(['netstat', '--ctl', r.path]);
  t.is(code, 0);
  t.deepEqual(io.errs, []);
  t.is(io.lines[0], 'Active Internet connections (including servers)');
  t.regex(io.lines[1]!, /^Proto Recv-Q Send-Q Local Address +Foreign Address +\(state\)$/);
  const est = io.lines.findIndex((l) => /^tcp6 +1000 +5000 fe80::ff:fe00:1%tap0\.8080 +fe80::ff:fe00:2%tap0\.\d+ +ESTABLISHED$/.test(l));
  const listen = io.lines.findIndex((l) => /^tcp6 +0 +0 \*\.8080 +\*\.\* +LISTEN$/.test(l));
  const udp = io.lines.findIndex((l) => /^udp6 +0 +0 \*\.5353 +\*\.\*$/.test(l));
  t.true(est > 1 && listen > est && udp > listen, io.text);

  const j = JSON.parse((await run(['netstat', '--json', '--ctl', r.path])).io.text) as SocketsResult;
  const conn = j.sockets.find((s) => s.state === 'ESTABLISHED')!;
  t.like(conn, { proto: 'tcp6', recvQ: 1000, sendQ: 5000, local: 'fe80::ff:fe00:1%tap0.8080' });
  t.regex(conn.foreign, /^fe80::ff:fe00:2%tap0\.\d+$/);
  const tcp = conn.tcp!;
  t.is(typeof tcp.srtt, 'number');
  t.true(tcp.srtt! >= 0);
  t.is(typeof tcp.rttvar, 'number');
  t.true(tcp.rto >= 200, `rto ${tcp.rto}`);
  t.true(tcp.cwnd >= tcp.mss);
  t.true(tcp.ssthresh === null || tcp.ssthresh > 0);
  t.is(tcp.cc, 'cubic');
  t.true(tcp.mss >= 1200 && tcp.mss <= 1440, `mss ${tcp.mss}`);
  t.true(tcp.flight > 0, 'the 5,000 bytes are in flight');
  t.true(tcp.rcvWnd > 0);
  t.is(conn.listen, undefined);
  const l = j.sockets.find((s) => s.state === 'LISTEN')!;
  t.deepEqual(l, { proto: 'tcp6', recvQ: 0, sendQ: 0, local: '*.8080', foreign: '*.*', state: 'LISTEN', listen: { synQueue: 0, acceptQueue: 0, backlog: 511 } });
  t.like(
    j.sockets.find((s) => s.proto === 'udp6'),
    { recvQ: 0, sendQ: 0, local: '*.5353', foreign: '*.*', state: '' },
  );
});

test('netstat -v adds RTT, RTO, cwnd, ssthresh, MSS, CC, and the listen queues; -p tcp|udp keeps one kind', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const u = r.a.dgram.createSocket('udp6');
  t.teardown(() => u.close());
  await new Promise<void>((res) => u.bind(5353, () => res()));
  await busyConnection(r);

  const v = await run(['netstat', '-v', '--ctl', r.path]);
  t.is(v.code, 0);
  t.regex(v.io.lines[1]!, /^Proto Recv-Q Send-Q Local Address +Foreign Address +\(state\) +RTT +RTO +cwnd +ssthresh +MSS CC +Listen$/);
  const est = v.io.lines.find((l) => l.includes('ESTABLISHED'))!;
  t.regex(est, /ESTABLISHED +\d+(\.\d+)?ms +\d+ms +\d+ +(\d+|-) +\d{4} cubic$/);
  t.regex(v.io.lines.find((l) => l.includes('LISTEN'))!, /LISTEN +0\/0\/511$/);
  t.regex(v.io.lines.find((l) => l.startsWith('udp6'))!, /^udp6 +0 +0 \*\.5353 +\*\.\*$/);

  const tcpOnly = await run(['netstat', '-p', 'tcp', '--ctl', r.path]);
  t.true(tcpOnly.io.lines.slice(2).every((l) => l.startsWith('tcp6')));
  t.is(tcpOnly.io.lines.length, 4);
  const udpOnly = await run(['netstat', '-p', 'udp', '--json', '--ctl', r.path]);
  t.deepEqual(
    (JSON.parse(udpOnly.io.text) as SocketsResult).sockets.map((s) => s.proto),
    ['udp6'],
  );
  const bad = await run(['netstat', '-p', 'icmp6', '--ctl', r.path]);
  t.is(bad.code, 1);
  t.is(bad.io.errs[0], "tap6: netstat: unknown protocol 'icmp6' for the socket list (tcp or udp)");
  const usage = await run(['netstat', '-s', '-v', '--ctl', r.path]);
  t.is(usage.code, 64);
  t.is(usage.io.errs[0], 'tap6: netstat: -v goes with the socket list (no -s or -r)');
});

test('netstat -s -p tcp prints the TCP counters', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  await busyConnection(r);
  const { code, io } = await run(['netstat', '-s', '-p', 'tcp', '--ctl', r.path]);
  t.is(code, 0);
  t.is(io.lines[0], 'tcp:');
  t.true(io.lines.includes('\t1 connections accepted'), io.text);
  t.true(io.lines.some((l) => /^\t\d+ segments received$/.test(l)), io.text);
  t.true(io.lines.some((l) => /^\t\d+ data bytes sent$/.test(l)), io.text);
});

test('formatSockets: columns sized to the widest cell; -v cells blank where they do not apply', (t) => {
  const rows: SocketRow[] = [
    {
      proto: 'tcp6',
      recvQ: 12,
      sendQ: 345678,
      local: '2001:db8::1.80',
      foreign: '2001:db8::2.50000',
      state: 'ESTABLISHED',
      tcp: { srtt: 0.25, rttvar: 0.1, rto: 200, cwnd: 14280, ssthresh: null, cc: 'newreno', mss: 1428, sndWnd: 65535, rcvWnd: 1 << 20, flight: 1428, rexmits: 0, softError: null },
    },
    { proto: 'tcp6', recvQ: 0, sendQ: 0, local: '*.80', foreign: '*.*', state: 'LISTEN', listen: { synQueue: 2, acceptQueue: 1, backlog: 511 } },
    { proto: 'udp6', recvQ: 0, sendQ: 0, local: '*.7', foreign: '*.*', state: '' },
  ];
  t.deepEqual(formatSockets(rows), [
    'Active Internet connections (including servers)',
    'Proto Recv-Q Send-Q Local Address  Foreign Address   (state)',
    'tcp6      12 345678 2001:db8::1.80 2001:db8::2.50000 ESTABLISHED',
    'tcp6       0      0 *.80           *.*               LISTEN',
    'udp6       0      0 *.7            *.*',
  ]);
  t.deepEqual(formatSockets(rows, { verbose: true }).slice(1), [
    'Proto Recv-Q Send-Q Local Address  Foreign Address   (state)         RTT   RTO  cwnd ssthresh  MSS CC      Listen',
    'tcp6      12 345678 2001:db8::1.80 2001:db8::2.50000 ESTABLISHED 0.250ms 200ms 14280        - 1428 newreno',
    'tcp6       0      0 *.80           *.*               LISTEN                                                2/1/511',
    'udp6       0      0 *.7            *.*',
  ]);
});
