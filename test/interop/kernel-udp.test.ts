/**
 * UDP against the Linux kernel (issue 6): node:dgram running in the
 * namespace on the kernel side of the TAP talks to tap6's echo service on
 * the link-local and a global address (0 to 60,000 bytes: the large ones are
 * fragmented both ways and must come back byte for byte); a tap6 socket
 * talks to a node:dgram server in the namespace; tap6 joins ff12::1234 and
 * receives what the kernel sends to that group on the TAP.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { Inetd } from '../../src/inetd.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { kernelRig } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';

const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;
const SIZES = [0, 1, 7, 8, 100, 1232, 1233, 1452, 1453, 3000, 9000, 20000, 40000, 60000];

/** A node:dgram client run by the kernel-side node: sends each size, waits for the echo, reports. */
const CLIENT = `
import dgram from 'node:dgram';
const [target, port, sizes] = [process.argv[2], Number(process.argv[3]), process.argv[4].split(',').map(Number)];
const s = dgram.createSocket({ type: 'udp6', recvBufferSize: 1 << 20 });
const results = [];
for (const n of sizes) {
  const msg = Buffer.alloc(n, 0);
  for (let i = 0; i < n; i++) msg[i] = (i * 31 + n) & 0xff;
  const got = await new Promise((resolve) => {
    const t = setTimeout(() => { s.off('message', on); resolve(null); }, 3000);
    const on = (m) => { clearTimeout(t); s.off('message', on); resolve(m); };
    s.on('message', on);
    s.send(msg, port, target);
  });
  results.push({ n, ok: got !== null && Buffer.compare(got, msg) === 0, len: got ? got.length : -1 });
}
console.log(JSON.stringify(results));
s.close();
`;

const SERVER = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.on('message', (m, r) => { console.log(JSON.stringify({ text: m.toString(), from: r.address, port: r.port })); s.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address); });
s.bind(Number(process.argv[2]), () => console.log('ready'));
`;

const MCAST_SENDER = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.bind(0, () => {
  s.setMulticastInterface('::%' + process.argv[2]);
  s.send('to the group', Number(process.argv[3]), 'ff12::1234', (e) => { if (e) console.error(e.message); s.close(); });
});
`;

function scripts(t: { teardown(f: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-udp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const w = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  return { client: w('client.mjs', CLIENT), server: w('server.mjs', SERVER), mcast: w('mcast.mjs', MCAST_SENDER) };
}

maybe('node:dgram in the kernel namespace gets every datagram back from tap6 echo, 0 to 60,000 bytes, link-local and global', async (t) => {
  const r = await kernelRig(t);
  const files = scripts(t);
  const inetd = new Inetd(r.stack);
  t.teardown(() => inetd.close());
  await inetd.start(['echo']);
  const g = r.stack.ip6.addAddress(r.ifp, in6('2001:db8:7::1'), 64);
  t.true(g.ok);
  await r.ns.exec(['ip', '-6', 'addr', 'add', '2001:db8:7::2/64', 'dev', r.tapName, 'nodad']);
  await waitFor('the global address to pass DAD', () => (g.ok && !(g.value.flags & IN6_IFF.TENTATIVE) ? true : undefined));
  for (const target of [`${r.ll}%${r.tapName}`, '2001:db8:7::1']) {
    const { stdout } = await r.ns.exec([process.execPath, files.client, target, '7', SIZES.join(',')], { timeoutMs: 60_000 });
    const res = JSON.parse(stdout.trim().split('\n').pop()!) as { n: number; ok: boolean; len: number }[];
    t.deepEqual(
      res.filter((x) => !x.ok),
      [],
      `every size echoed byte for byte to ${target}`,
    );
  }
  t.true(r.stack.ip6.stats.c.reassembled > 0 && r.stack.ip6.stats.c.fragmentedOut > 0, 'large datagrams were fragmented both ways');
  t.is(r.stack.udp.stats.c.badsum, 0);
});

maybe('a tap6 socket talks to a node:dgram server in the namespace, and receives a multicast datagram for a group it joined', async (t) => {
  const r = await kernelRig(t);
  const files = scripts(t);
  const server = r.ns.spawn([process.execPath, files.server, '5353']);
  let out = '';
  server.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the server to listen', () => (out.includes('ready') ? true : undefined));
  const s = r.stack.dgram.createSocket('udp6');
  t.teardown(() => s.close());
  const reply = new Promise<string>((resolve) => s.once('message', (m) => resolve(m.toString())));
  s.send('hello kernel', 5353, `${r.kll}%${r.tapName}`);
  t.is(await reply, 're:hello kernel');
  await waitFor('the server to log', () => (out.includes('hello kernel') ? true : undefined));
  const seen = JSON.parse(out.split('\n').find((l) => l.includes('hello kernel'))!) as { from: string };
  t.true(seen.from.startsWith(r.ll.split('%')[0]!), 'the kernel saw our link-local source');

  const m = r.stack.dgram.createSocket('udp6');
  t.teardown(() => m.close());
  await new Promise<void>((res) => m.bind(4242, () => res()));
  m.addMembership('ff12::1234', r.tapName);
  const got = new Promise<{ text: string; address: string }>((resolve) => m.once('message', (msg, rinfo) => resolve({ text: msg.toString(), address: rinfo.address })));
  await r.ns.exec([process.execPath, files.mcast, r.tapName, '4242']);
  const g = await Promise.race([got, new Promise<null>((res) => setTimeout(() => res(null), 3000))]);
  t.truthy(g, 'the multicast datagram arrived');
  t.is(g?.text, 'to the group');
});
