/**
 * MLD against the Linux kernel across a real TAP (RFC 3810, RFC 2710).
 *
 * The stack runs here on a TAP whose kernel side lives in a namespace the
 * test creates. tshark captures on that kernel side, so what is checked is
 * what the kernel received: tap6's reports decoded by Wireshark's MLD
 * dissector (record types, groups, hop limit 1, Router Alert, checksum
 * verified). Linux cannot be made an MLD querier here (no multicast
 * router), so the kernel side sends hand-made queries through an AF_PACKET
 * socket in the namespace, and the test checks tap6 answers within the
 * Maximum Response Delay. Traffic stays on the TAP; the namespace, the TAP
 * and the capture files are removed even when a test fails.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { in6Cksum } from '../../src/core/checksum.ts';
import { formatIn6, in6, solicitedNode } from '../../src/ip6/addr.ts';
import { formatMac } from '../../src/link/mac.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import { type KernelRig, kernelRig, kernelSendRaw, kernelSnmp6 } from '../helpers/kernel.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';

const execFileP = promisify(execFile);
const env = canUseNetns();
const tshark = existsSync('/usr/bin/tshark');
const ready = env.ok && isTapAvailable() && tshark;
const maybe = ready ? test.serial : test.skip;
if (!ready) console.warn(`kernel MLD interop tests skipped: ${env.why || (tshark ? '/dev/net/tun cannot be opened' : 'tshark is not installed')}`);

const GROUP = 'ff0e::db8:6d6c';

/** Captures on the kernel side of the TAP while `act` runs, for `seconds` in all; returns the pcap path. */
async function capture(t: ExecutionContext, r: KernelRig, seconds: number, act: () => Promise<void>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-mld-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mld.pcap');
  // 'ip6', not 'icmp6': a BPF icmp6 test looks at the IPv6 next header, and MLD sits behind Hop-by-Hop.
  const child = r.ns.spawn(['tshark', '-i', r.tapName, '-f', 'ip6', '-w', file, '-a', `duration:${seconds}`, '-q']);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await waitFor('tshark to start capturing', () => (/Capturing on/.test(stderr) ? true : undefined), 15_000);
  // dumpcap says so a moment before its filter is attached.
  await new Promise((res) => setTimeout(res, 700));
  await act();
  await exited;
  t.true(existsSync(file), `tshark wrote no capture: ${stderr}`);
  return file;
}

/** Rows of tab-separated fields (multiple occurrences joined by ',') of the frames matching `filter`. */
async function decode(file: string, filter: string, fields: string[]): Promise<string[][]> {
  const { stdout } = await execFileP('tshark', ['-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])]);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split('\t'));
}

const REPORT_FIELDS = [
  'frame.time_epoch',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.hlim',
  'ipv6.opt.router_alert',
  'icmpv6.checksum.status',
  'icmpv6.mldr.nb_mcast_records',
  'icmpv6.mldr.mar.record_type',
  'icmpv6.mldr.mar.multicast_address',
  '_ws.expert.message',
] as const;

interface ReportRow {
  time: number;
  src: string;
  dst: string;
  hlim: number;
  routerAlert: string;
  cksumStatus: string;
  nrecords: number;
  recordTypes: number[];
  groups: string[];
  expert: string;
}

function reportRow(f: string[]): ReportRow {
  return {
    time: Number(f[0]),
    src: f[1]!,
    dst: f[2]!,
    hlim: Number(f[3]),
    routerAlert: f[4] ?? '',
    cksumStatus: f[5] ?? '',
    nrecords: Number(f[6]),
    recordTypes: (f[7] ?? '').split(',').filter(Boolean).map(Number),
    groups: (f[8] ?? '').split(',').filter(Boolean),
    expert: f[9] ?? '',
  };
}

/** Our MLDv2 reports in the capture. */
async function ourReports(r: KernelRig, file: string): Promise<ReportRow[]> {
  return (await decode(file, `icmpv6.type == 143 && eth.src == ${formatMac(r.ifp.lladdr!)}`, [...REPORT_FIELDS])).map(reportRow);
}

/** Checks what RFC 3810 §5 asks of every report, as Wireshark sees it. */
function wellFormed(t: ExecutionContext, r: KernelRig, rep: ReportRow): void {
  t.is(rep.src, r.ll, 'from our link-local address');
  t.is(rep.dst, 'ff02::16');
  t.is(rep.hlim, 1);
  t.not(rep.routerAlert, '', 'Router Alert option present');
  t.is(rep.cksumStatus, '1', 'checksum verified good by Wireshark');
  t.is(rep.nrecords, rep.groups.length);
  t.notRegex(rep.expert, /checksum|malformed/i);
}

/**
 * An MLD query from the kernel side, every byte written here: Ethernet to
 * the group MAC, IPv6 from the kernel's link-local address with hop limit 1,
 * a Hop-by-Hop header with Router Alert (MLD) and PadN, then the message.
 */
function queryFrame(r: KernelRig, body: Uint8Array, dstText = 'ff02::1'): Uint8Array {
  const src = in6(r.kll);
  const dst = in6(dstText);
  const msg = new Uint8Array(4 + body.length);
  msg[0] = 130;
  msg.set(body, 4);
  const ck = in6Cksum(msg, 0, msg.length, 58, src, dst);
  msg[2] = ck >>> 8;
  msg[3] = ck & 0xff;
  const hbh = Uint8Array.of(58, 0, 5, 2, 0, 0, 1, 0);
  const plen = hbh.length + msg.length;
  const f = new Uint8Array(14 + 40 + plen);
  f.set([0x33, 0x33, dst[12]!, dst[13]!, dst[14]!, dst[15]!], 0);
  f.set(r.kernelMac, 6);
  f.set([0x86, 0xdd], 12);
  f.set([0x60, 0, 0, 0, plen >>> 8, plen & 0xff, 0, 1], 14);
  f.set(src, 22);
  f.set(dst, 38);
  f.set(hbh, 54);
  f.set(msg, 62);
  return f;
}

/** MLDv2 General Query body: Maximum Response Code (ms below 32768), QRV 2, QQIC 125 s, no sources. */
function v2GeneralQuery(mrcMs: number): Uint8Array {
  const b = new Uint8Array(24);
  b[0] = mrcMs >>> 8;
  b[1] = mrcMs & 0xff;
  b[20] = 2;
  b[21] = 125;
  return b;
}

/** MLDv1 Query body: Maximum Response Delay, reserved, multicast address. */
function v1Query(mrdMs: number, group: Uint8Array = new Uint8Array(16)): Uint8Array {
  const b = new Uint8Array(20);
  b[0] = mrdMs >>> 8;
  b[1] = mrdMs & 0xff;
  b.set(group, 4);
  return b;
}

/**
 * A listener in the namespace that joins ff02::16 on the TAP, so that the
 * kernel delivers MLDv2 reports to its ICMPv6 input (which verifies the
 * checksum and counts Icmp6InMLDv2Reports), and prints each ICMPv6 message
 * its raw socket receives as "type source".
 */
const LISTENER = [
  'import socket, struct, sys',
  's = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)',
  "mreq = socket.inet_pton(socket.AF_INET6, 'ff02::16') + struct.pack('@I', socket.if_nametoindex(sys.argv[1]))",
  's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)',
  "print('joined', flush=True)",
  's.settimeout(float(sys.argv[2]))',
  'try:',
  '    while True:',
  '        data, addr = s.recvfrom(4096)',
  "        print(data[0], addr[0].split('%')[0], flush=True)",
  'except socket.timeout:',
  '    pass',
].join('\n');

maybe("a join's CHANGE_TO_EXCLUDE reports are accepted by the kernel and Wireshark decodes them as valid MLDv2", async (t) => {
  const r = await kernelRig(t);
  const listener = r.ns.spawn(['/usr/bin/python3', '-c', LISTENER, r.tapName, '5']);
  let heard = '';
  listener.stdout!.on('data', (d: Buffer) => (heard += d.toString()));
  const listenerDone = new Promise<void>((resolve) => listener.on('exit', () => resolve()));
  await waitFor('the kernel-side listener to join ff02::16', () => (heard.includes('joined') ? true : undefined), 10_000);
  const inBefore = await kernelSnmp6(r, 'Icmp6InMLDv2Reports');
  const mld = r.stack.mld6.stats.c;
  const before = mld.stateChangeReports;
  const file = await capture(t, r, 4, async () => {
    t.true(r.stack.ip6.joinGroup(r.ifp, in6(GROUP)).ok);
    await waitFor('two state change reports', () => (mld.stateChangeReports - before >= 2 ? true : undefined), 3000);
  });
  await listenerDone;
  // The kernel's ICMPv6 input took both (checksum verified: Icmp6InCsumErrors would count otherwise);
  // its own report for ff02::16, looped back to the listener, counts there too.
  t.true((await kernelSnmp6(r, 'Icmp6InMLDv2Reports')) - inBefore >= 2);
  t.is(await kernelSnmp6(r, 'Icmp6InCsumErrors'), 0);
  t.is(heard.split('\n').filter((l) => l === `143 ${r.ll}`).length, 2, `the listener heard: ${heard}`);
  const reps = await ourReports(r, file);
  t.is(reps.length, 2, `reports seen: ${JSON.stringify(reps)}`);
  for (const rep of reps) {
    wellFormed(t, r, rep);
    t.deepEqual(rep.recordTypes, [4], 'CHANGE_TO_EXCLUDE_MODE');
    t.deepEqual(rep.groups, [GROUP]);
  }
  t.true(reps[1]!.time - reps[0]!.time <= 1.2, 'retransmitted within the Unsolicited Report Interval');
  t.is(mld.outErrors, 0);
});

maybe('a General Query from the kernel side is answered within its Maximum Response Delay with every group', async (t) => {
  const r = await kernelRig(t);
  r.stack.ip6.joinGroup(r.ifp, in6(GROUP));
  await waitFor('the join announced', () => (r.stack.mld6.stats.c.stateChangeReports >= 2 ? true : undefined), 5000);
  const mrd = 1500;
  const file = await capture(t, r, 4, async () => {
    await kernelSendRaw(r, [queryFrame(r, v2GeneralQuery(mrd))]);
    await waitFor('the current state report', () => (r.stack.mld6.stats.c.currentStateReports >= 1 ? true : undefined), 5000);
  });
  const q = await decode(file, `icmpv6.type == 130 && eth.src == ${formatMac(r.kernelMac)}`, ['frame.time_epoch', 'icmpv6.mld.maximum_response_code', 'icmpv6.checksum.status']);
  t.is(q.length, 1, 'the query is in the capture');
  t.is(q[0]![2], '1', 'our hand-made query has a good checksum too');
  t.is(r.stack.mld6.stats.c.queriesV2In, 1, 'tap6 accepted the query');
  const reps = (await ourReports(r, file)).filter((x) => x.recordTypes.every((ty) => ty === 2));
  t.is(reps.length, 1, 'one Current State Report');
  const rep = reps[0]!;
  wellFormed(t, r, rep);
  const delay = (rep.time - Number(q[0]![0])) * 1000;
  t.true(delay >= 0 && delay <= mrd + 250, `answered ${delay.toFixed(1)} ms after the query (Maximum Response Delay ${mrd} ms)`);
  t.deepEqual(rep.groups.sort(), [GROUP, formatIn6(solicitedNode(in6(r.ll)))].sort(), 'every group but ff02::1, MODE_IS_EXCLUDE');
});

maybe('an MLDv1 Query from the kernel side puts tap6 in MLDv1 mode: v1 reports to the group, a Done to ff02::2 on leave', async (t) => {
  const r = await kernelRig(t);
  r.stack.ip6.joinGroup(r.ifp, in6(GROUP));
  await waitFor('the join announced', () => (r.stack.mld6.stats.c.stateChangeReports >= 2 ? true : undefined), 5000);
  const file = await capture(t, r, 4, async () => {
    await kernelSendRaw(r, [queryFrame(r, v1Query(500, in6(GROUP)), GROUP)]);
    await waitFor('the MLDv1 report', () => (r.stack.mld6.stats.c.v1ReportsOut >= 1 ? true : undefined), 3000);
    r.stack.ip6.leaveGroup(r.ifp, in6(GROUP));
  });
  t.is(r.stack.mld6.version(r.ifp), 1);
  const mac = formatMac(r.ifp.lladdr!);
  const rows = await decode(file, `(icmpv6.type == 131 || icmpv6.type == 132) && eth.src == ${mac}`, [
    'icmpv6.type',
    'ipv6.src',
    'ipv6.dst',
    'ipv6.hlim',
    'ipv6.opt.router_alert',
    'icmpv6.checksum.status',
    'icmpv6.mld.multicast_address',
  ]);
  t.deepEqual(
    rows.map(([type, src, dst, hlim, ra, ck, group]) => ({ type, src, dst, hlim, ra: ra !== '', ck, group })),
    [
      { type: '131', src: r.ll, dst: GROUP, hlim: '1', ra: true, ck: '1', group: GROUP },
      { type: '132', src: r.ll, dst: 'ff02::2', hlim: '1', ra: true, ck: '1', group: GROUP },
    ],
  );
});
