/**
 * `tap6 setkey`: the grammar (tools/setkey.ts) statement by statement, its
 * errors with their line numbers, applying to a stack (all or nothing for a
 * parse error; stop at the first failing statement otherwise), the dump
 * formats, and the command end to end through a control socket.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../src/core/clock.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW } from '../../src/ipsec/spd.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import { CtlServer } from '../../tools/ctl.ts';
import { parseSetkey } from '../../tools/setkey.ts';
import { applySetkey, chunks, formatOutcome, runSetkey, setkeyHandlers } from '../../tools/setkey-run.ts';

const GCM = '0x0102030405060708090a0b0c0d0e0f10a1a2a3a4';
const SHA1 = '0x404142434445464748494a4b4c4d4e4f50515253';

function parse(text: string) {
  const r = parseSetkey(text);
  if (!r.ok) throw new Error(`line ${r.error.line}: ${r.error.message}`);
  return r.value.cmds;
}

function parseErr(text: string): { line: number; message: string } {
  const r = parseSetkey(text);
  if (r.ok) throw new Error('parsed');
  return r.error;
}

// ---- grammar ----------------------------------------------------------------------------------

test('add: ESP with every option, AH, keys in hex and quoted, SPI in hex or decimal', (t) => {
  const [a, b, c] = parse(`
    # a comment
    add 2001:db8::1 2001:db8::2 esp 0x1000 -m tunnel -r 4096 -u 7 -e esn -E aes-gcm-16 ${GCM};
    add -6 2001:db8::2 2001:db8::1 esp 4097
        -E rijndael-cbc 0x00112233445566778899aabbccddeeff
        -A hmac-sha256 "0123456789abcdef0123456789abcdef" ;
    add fe80::1%vl0 fe80::2%vl0 ah 300 -A hmac-sha1 ${SHA1};`);
  t.deepEqual(a, {
    op: 'add',
    line: 3,
    src: '2001:db8::1',
    dst: '2001:db8::2',
    proto: 'esp',
    spi: 0x1000,
    mode: 'tunnel',
    replay: 4096,
    reqid: 7,
    esn: true,
    enc: 'aes-gcm-16',
    encKey: GCM.slice(2),
  });
  t.like(b, { line: 4, spi: 4097, mode: 'transport', enc: 'aes-cbc', auth: 'hmac-sha256-128', authKey: Buffer.from('0123456789abcdef0123456789abcdef').toString('hex'), esn: false });
  t.like(c, { line: 7, proto: 'ah', src: 'fe80::1%vl0', auth: 'hmac-sha1-96', authKey: SHA1.slice(2) });
});

test('algorithm names: KAME spellings and aliases', (t) => {
  const algs = (e: string) => parse(`add ::1 ::2 esp 256 ${e};`)[0] as { enc?: string; auth?: string };
  t.like(algs(`-E aes-cbc 0x${'11'.repeat(32)} -A hmac-sha2-256 0x${'22'.repeat(32)}`), { enc: 'aes-cbc', auth: 'hmac-sha256-128' });
  t.like(algs(`-E chacha20-poly1305 0x${'33'.repeat(36)}`), { enc: 'chacha20-poly1305' });
  t.like(algs(`-E null -A hmac-sha1 ${SHA1}`), { enc: 'null', auth: 'hmac-sha1-96' });
  t.like(algs(`-A hmac-sha1 ${SHA1} -E null`), { enc: 'null', auth: 'hmac-sha1-96' });
});

test('the SAD and SPD commands without arguments, several statements on one line', (t) => {
  const cmds = parse('flush; flush esp; dump ah; spdflush; spddump;\nget ::1 ::2 ah 0x200; delete ::1 ::2 esp 512; deleteall ::1 ::2 esp;');
  t.deepEqual(
    cmds.map((c) => [c.op, c.line]),
    [
      ['flush', 1],
      ['flush', 1],
      ['dump', 1],
      ['spdflush', 1],
      ['spddump', 1],
      ['get', 2],
      ['delete', 2],
      ['deleteall', 2],
    ],
  );
  t.like(cmds[1], { proto: 'esp' });
  t.like(cmds[5], { op: 'get', proto: 'ah', spi: 0x200 });
});

test('spdadd: ranges with prefixes and ports, upper-layer specs, priorities, requests', (t) => {
  const [a, b, c, d, e] = parse(`
    spdadd 2001:db8:1::/48[any] 2001:db8:2::5[500] udp -P out priority 100 ipsec esp/tunnel/2001:db8::1-2001:db8::2/require ah/transport//use;
    spdadd ::/0 ::/0 icmp6 128,0 -P in prio high-5 none;
    spdadd 2001:db8::1 2001:db8::2 any -P out priority low discard;
    spdadd 2001:db8::1 2001:db8::2 50 -P in priority def+3 ipsec esp/transport//unique:9;
    spdadd fe80::1%vl0/64 ff02::/16 icmp6 -P out ipsec esp/transport//default;`);
  t.deepEqual(a, {
    op: 'spdadd',
    line: 2,
    src: { addr: '2001:db8:1::', plen: 48 },
    dst: { addr: '2001:db8:2::5', plen: 128, port: 500 },
    proto: 17,
    dir: 'out',
    priority: 100,
    action: 'ipsec',
    requests: ['esp/tunnel/2001:db8::1-2001:db8::2/require', 'ah/transport//use'],
  });
  t.like(b, { proto: 58, icmpType: 128, icmpCode: 0, dir: 'in', priority: PRIORITY_HIGH - 5, action: 'none', requests: [] });
  t.like(c, { priority: PRIORITY_LOW, action: 'discard' });
  t.like(d, { proto: 50, priority: PRIORITY_DEFAULT + 3, requests: ['esp/transport//unique:9'] });
  t.like(e, { src: { addr: 'fe80::1%vl0', plen: 64 }, proto: 58 });
  t.is((e as { icmpType?: number }).icmpType, undefined);
  const [del] = parse('spddelete 2001:db8::/32 ::/0 tcp -P in;');
  t.like(del, { op: 'spddelete', dir: 'in', proto: 6, src: { plen: 32 } });
});

test('errors name the line of the offending word, and nothing is returned', (t) => {
  const cases: [string, number, RegExp][] = [
    ['flush;\n\nfrobnicate;', 3, /unknown command 'frobnicate'/],
    ['add ::1 ::2 esp 0x1000\n -E aes-gcm-16\n 0x123;', 3, /even number of hex digits/],
    ['add ::1 ::2 esp 0x1000 -E des-cbc 0x0011223344556677;', 1, /'des-cbc' is not supported/],
    ['dump;\nadd ::1 ::2 esp 0x1000 -E aes-gcm-16 0x00 -A hmac-md5 0x00;', 2, /'hmac-md5' is not supported/],
    ['add ::1 2001:db8::zz esp 1 -E null;', 1, /destination: .*not an IPv6 address/],
    ['add ::1 ::2 esp 0x1_0000_0000 -E null;', 1, /bad SPI/],
    ['add ::1 ::2 esp 0x100000000 -E null;', 1, /bad SPI/],
    ['add ::1 ::2 ah 300 -E null -A hmac-sha1 0x00;', 1, /ah does not encrypt/],
    ['add ::1 ::2 esp 300 -A hmac-sha1 0x00;', 1, /esp needs -E/],
    ['add ::1 ::2 esp 300 -E null -E null;', 1, /-E given twice/],
    ['add ::1 ::2 esp 300 -m both -E null;', 1, /mode is transport, tunnel or any/],
    ['add ::1 ::2 esp 300 -e 64 -E null;', 1, /only 'esn'/],
    ['add ::1 ::2 esp 300 -lh 3600 -E null;', 1, /lifetimes are not enforced/],
    ['add ::1 ::2 ipcomp 300;', 1, /ipcomp needs -C deflate/],
    ['add ::1 ::2 ipcomp 300 -C lzs;', 1, /'lzs' is not supported \(deflate\)/],
    ['add ::1 ::2 ipcomp 0x10000 -C deflate;', 1, /CPI 65536 outside 1\.\.65535/],
    ['add ::1 ::2 ipcomp 300 -C deflate -E null;', 1, /takes no -E or -A/],
    ['add ::1 ::2 ipcomp 300 -C deflate -r 64;', 1, /no sequence numbers/],
    ['add ::1 ::2 esp 300 -E null -A hmac-sha1 "k" -C deflate;', 1, /-C and -R are for ipcomp/],
    ['add ::1 ::2 esp-old 300 -E null;', 1, /'esp-old' is not supported/],
    ['add -4 ::1 ::2 esp 300 -E null;', 1, /IPv6-only/],
    ['spdadd ::1 ::2 any -P out ipsec;', 1, /at least one request/],
    ['spdadd ::1 ::2 any -P out none esp/transport//use;', 1, /none takes no requests/],
    ['spdadd ::1[80] ::2 any -P out none;', 1, /ports need tcp, udp or sctp/],
    ['spdadd ::1/129 ::2 any -P out none;', 1, /over 128/],
    ['spdadd ::1 ::2 tcp -P fwd none;', 1, /does not forward/],
    ['spdadd ::1 ::2 tcp -P out entrust;', 1, /socket policy/],
    ['spdadd ::1 ::2 tcp -P out\n  ipsec esp/transport//sometimes;', 2, /level is default, use, require or unique/],
    ['spdadd ::1 ::2 tcp -P out priority sometimes none;', 1, /bad priority/],
    ['spdadd ::1 ::2 gopher -P out none;', 1, /unknown upper-layer protocol/],
    ['spddelete ::1 ::2 tcp out;', 1, /expected -P in\|out/],
    ['spdflush; spddump extra;', 1, /unexpected 'extra'/],
    ['flush;\nadd ::1 ::2 esp 300 -E null', 2, /missing ';'/],
    ['add ::1 ::2 esp 300 -E null -A hmac-sha1 "unterminated;\n', 1, /unterminated/],
    ['get ::1 ::2 esp;', 1, /expected SPI before ';'/],
  ];
  for (const [text, line, re] of cases) {
    const e = parseErr(text);
    t.is(e.line, line, `${JSON.stringify(text)}: ${e.message}`);
    t.regex(e.message, re, text);
  }
});

// ---- applying -----------------------------------------------------------------------------------

function stack(): Stack {
  const clock = new VirtualClock();
  const s = new Stack({ clock });
  s.addEthernet({ name: 'vl0', driver: new VirtualLink({ clock }).port() });
  return s;
}

test('apply: SAs and policies land in the SAD and SPD; dump and spddump report them', (t) => {
  const s = stack();
  const o = applySetkey(
    s,
    `add 2001:db8::1 2001:db8::2 esp 0x1000 -r 128 -e esn -E aes-gcm-16 ${GCM};
     add fe80::1%vl0 fe80::2%vl0 ah 0x2000 -A hmac-sha1 ${SHA1};
     spdadd 2001:db8::1 2001:db8::2 udp -P out ipsec esp/transport//require;
     spdadd 2001:db8::2 2001:db8::1[53] udp -P in priority high none;
     dump; spddump; get 2001:db8::1 2001:db8::2 esp 4096;`,
  );
  t.is(o.error, undefined);
  t.is(o.applied, 7);
  t.is(s.ipsec.sad.size, 2);
  const esp = s.ipsec.sad.get(0x1000, in6('2001:db8::2'), 'esp')!;
  t.like(esp, { enc: 'aes-gcm-16', esn: true, mode: 'transport' });
  t.is(esp.replay.size, 128);
  t.is(s.ipsec.sad.get(0x2000, in6('fe80::2'), 'ah')!.zone, 2, 'zone from %vl0');
  t.is(s.ipsec.spd.size, 2);
  t.true(s.ipsec.spd.active);
  const [dump, spddump, get] = o.results;
  t.is(dump?.op, 'dump');
  t.is(dump?.op === 'dump' ? dump.sas.length : -1, 2);
  t.is(spddump?.op === 'spddump' ? spddump.policies[0]!.dir : '', 'in', 'inbound first, as spd.list()');
  t.like(get, { op: 'get', line: 5, sa: { spi: 0x1000, enc: 'aes-gcm-16', encKey: GCM.slice(2), esn: true, replayWindow: 128 } });
  const text = formatOutcome(o).join('\n');
  t.regex(text, /^2001:db8::1 2001:db8::2\n\tesp mode=transport spi=4096\(0x00001000\) reqid=0\(0x00000000\)\n\tE: aes-gcm-16  01020304 05060708 090a0b0c 0d0e0f10 a1a2a3a4\n\tseq=0x00000000 replay=128 flags=esn state=mature/m);
  t.regex(text, /\tA: hmac-sha1  40414243 /);
  t.regex(text, /^2001:db8::2\/128\[any\] 2001:db8::1\/128\[53\] udp\n\tin priority 1073741824 none\n\tspid=2 hits=0$/m);
  t.regex(text, /^\tesp\/transport\/\/require$/m);
});

test('apply: delete, deleteall, flush by protocol, spddelete, spdflush', (t) => {
  const s = stack();
  const base = `add ::1 ::2 esp 0x1000 -E aes-gcm-16 ${GCM}; add ::1 ::2 esp 0x1001 -E aes-gcm-16 ${GCM}; add ::1 ::3 esp 0x1002 -E aes-gcm-16 ${GCM}; add ::1 ::2 ah 0x1003 -A hmac-sha1 ${SHA1};
    spdadd ::1 ::2 tcp -P out ipsec esp/transport//use; spdadd ::1 ::2 tcp -P in ipsec esp/transport//use;`;
  t.is(applySetkey(s, base).error, undefined);
  t.is(applySetkey(s, 'delete ::1 ::2 esp 0x1000;').error, undefined);
  t.is(s.ipsec.sad.size, 3);
  t.is(applySetkey(s, 'deleteall ::1 ::2 esp;').error, undefined);
  t.deepEqual(
    s.ipsec.sad.list().map((x) => x.spi),
    [0x1002, 0x1003],
  );
  t.is(applySetkey(s, 'flush ah;').error, undefined);
  t.deepEqual(
    s.ipsec.sad.list().map((x) => x.spi),
    [0x1002],
  );
  t.is(applySetkey(s, 'spddelete ::1 ::2 tcp -P in;').error, undefined);
  t.deepEqual(
    s.ipsec.spd.list().map((p) => p.dir),
    ['out'],
  );
  t.deepEqual(applySetkey(s, 'spddelete ::1 ::2 udp -P out;').error, { line: 1, message: 'no such policy' });
  t.is(applySetkey(s, 'spdflush; flush;').error, undefined);
  t.is(s.ipsec.sad.size + s.ipsec.spd.size, 0);
  t.false(s.ipsec.spd.active);
});

test('apply: a parse error anywhere applies nothing; a failing statement stops the run at its line', (t) => {
  const s = stack();
  const bad = applySetkey(s, `add ::1 ::2 esp 0x1000 -E aes-gcm-16 ${GCM};\nspdadd ::1 ::2 any -P out none;\nadd ::1 ::2 esp 0x1001 -E aes-gcm-16 0xzz;`);
  t.like(bad, { applied: 0, error: { line: 3 } });
  t.is(s.ipsec.sad.size + s.ipsec.spd.size, 0, 'nothing applied');
  const stop = applySetkey(s, `add ::1 ::2 esp 0x1000 -E aes-gcm-16 ${GCM};\n\nadd ::1 ::2 esp 0x1000 -E aes-gcm-16 ${GCM};\nspdflush;`);
  t.is(stop.applied, 1);
  t.is(stop.error?.line, 3);
  t.regex(stop.error!.message, /exists/);
  t.is(s.ipsec.sad.size, 1);
  t.regex(applySetkey(s, 'add ::1 ::2 esp 0x2000 -E aes-gcm-16 0x0011;').error!.message, /20, 28 or 36 bytes/);
  t.regex(applySetkey(s, 'add ::1 ::2 esp 0x2000 -E rijndael-cbc 0x00112233445566778899aabbccddeeff;').error!.message, /needs an authentication algorithm/);
  t.regex(applySetkey(s, 'add ::1 ::2 esp 200 -E null -A hmac-sha1 0x0011223344556677889900112233445566778899;').error!.message, /reserved/);
  t.regex(applySetkey(s, `add fe80::1 fe80::2 esp 0x3000 -E aes-gcm-16 ${GCM};`).error!.message, /needs a zone/);
  t.regex(applySetkey(s, `add fe80::1%nope fe80::2%nope esp 0x3000 -E aes-gcm-16 ${GCM};`).error!.message, /no such interface 'nope'/);
  t.is(applySetkey(s, 'get ::1 ::2 esp 0x9999;').error?.message, 'no esp SA with SPI 39321(0x00009999) to ::2');
  t.is(applySetkey(s, 'dump;', 40).results[0]!.line, 40, 'firstLine shifts the lines');
});

test('chunks: a long input is cut at statement boundaries and keeps its line numbers', (t) => {
  const s = stack();
  const lines: string[] = [];
  for (let i = 0; i < 200; i++) lines.push(`add 2001:db8::1 2001:db8::2 esp ${0x1000 + i} -E aes-gcm-16 ${GCM};`);
  lines[150] = `add 2001:db8::1 2001:db8::2 esp 0x1000 -E aes-gcm-16 ${GCM};`; // a duplicate on line 151
  const text = lines.join('\n');
  const p = parseSetkey(text);
  t.true(p.ok);
  const pieces = chunks(text, p.ok ? p.value.spans : [], 2000);
  t.true(pieces.length > 5);
  t.is(pieces.map((x) => x.text).join('\n'), text);
  let applied = 0;
  let error;
  for (const piece of pieces) {
    const o = applySetkey(s, piece.text, piece.firstLine);
    applied += o.applied;
    if (o.error) {
      error = o.error;
      break;
    }
  }
  t.is(applied, 150);
  t.is(error?.line, 151);
});

// ---- the command -----------------------------------------------------------------------------------

test('tap6 setkey through the control socket: -f, -c, -D, -DP, -F, -FP, --json, errors as FILE:LINE', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-setkey-'));
  const s = stack();
  const server = await CtlServer.listen({ path: join(dir, 'ctl.sock'), handlers: setkeyHandlers(s) });
  t.teardown(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const io = () => {
    const out: string[] = [];
    const errs: string[] = [];
    return { out: (l: string) => out.push(l), err: (l: string) => errs.push(l), outs: out, errs, ctlDir: dir };
  };
  const file = join(dir, 'ipsec.conf');
  writeFileSync(file, `# static keys\nadd 2001:db8::1 2001:db8::2 esp 0x1000 -E aes-gcm-16 ${GCM};\nspdadd 2001:db8::1 2001:db8::2 any -P out ipsec\n  esp/transport//require;\n`);
  let x = io();
  t.is(await runSetkey(['-f', file], x), 0, x.errs.join('\n'));
  t.is(s.ipsec.sad.size, 1);
  x = io();
  t.is(await runSetkey(['-D'], x), 0);
  t.regex(x.outs.join('\n'), /^2001:db8::1 2001:db8::2\n\tesp mode=transport spi=4096/);
  x = io();
  t.is(await runSetkey(['-D', '-P', '--json'], x), 0);
  t.is((JSON.parse(x.outs.join('\n')) as { results: { policies: unknown[] }[] }).results[0]!.policies.length, 1);
  x = io();
  t.is(await runSetkey(['-c'], { ...x, readStdin: async () => 'spdflush;\nget 2001:db8::1 2001:db8::2 esp 0x1000;' }), 0);
  t.is(s.ipsec.spd.size, 0);
  t.regex(x.outs[0]!, /2001:db8::1 2001:db8::2/);
  // A parse error: nothing sent, the file's line named.
  writeFileSync(file, `flush;\n\nadd 2001:db8::1 2001:db8::2 esp 0x1000 -E aes-gcm-16 0xabc;\n`);
  x = io();
  t.is(await runSetkey(['-f', file], x), 1);
  t.deepEqual(x.errs, [`tap6: setkey: ${file}:3: key of aes-gcm-16: expected 0x followed by an even number of hex digits, or a "quoted string"`]);
  t.is(s.ipsec.sad.size, 1, 'the flush on line 1 was not applied');
  // A failing statement: what came before stays, the line is named.
  x = io();
  t.is(await runSetkey(['-c'], { ...x, readStdin: async () => `spdadd ::1 ::2 any -P out none;\nadd 2001:db8::1 2001:db8::2 esp 0x1000 -E aes-gcm-16 ${GCM};` }), 1);
  t.regex(x.errs[0]!, /^tap6: setkey: stdin:2: esp SA with SPI 0x1000 to 2001:db8::2 exists \(1 statement before it applied\)$/);
  x = io();
  t.is(await runSetkey(['-F', '-P'], x), 0);
  t.is(s.ipsec.spd.size, 0);
  x = io();
  t.is(await runSetkey(['-F'], x), 0);
  t.is(s.ipsec.sad.size, 0);
  x = io();
  t.is(await runSetkey(['-D', '-F'], x), 64);
  t.regex(x.errs[1]!, /^usage: tap6 setkey/);
  x = io();
  t.is(await runSetkey(['-P'], x), 64);
  x = io();
  t.is(await runSetkey(['-f', join(dir, 'missing.conf')], x), 1);
  t.regex(x.errs[0]!, /no such file/);
});
