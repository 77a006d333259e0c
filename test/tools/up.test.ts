/**
 * tap6 up's start-up knobs: the argument parser, the --stable-secret file,
 * and what the secret is for: the same RFC 7217 address from the same RA on
 * two stacks (two daemon runs) with the same secret.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../src/core/clock.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import { StartError, decodeStableSecret, parseUpArgs, readStableSecret, runUp } from '../../tools/daemon.ts';
import { applySysctl } from '../../tools/sysctl.ts';
import { RawRouter } from './raw.ts';
import { capture } from './rig.ts';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-up-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function startError(t: { throws: (fn: () => unknown, e?: object) => unknown }, fn: () => unknown): StartError {
  return t.throws(fn, { instanceOf: StartError }) as StartError;
}

test('parseUpArgs: --services names inetd services; unknown ones are usage errors', (t) => {
  t.deepEqual(parseUpArgs(['--tap', 't6x0', '--services', 'echo,discard,echo']).services, ['echo', 'discard']);
  const e = t.throws(() => parseUpArgs(['--tap', 't6x0', '--services', 'echo,qotd']));
  t.regex(e!.message, /--services: unknown service 'qotd'/);
});

test('parseUpArgs: --http PORT serves the status page; a port out of range is a usage error', (t) => {
  t.is(parseUpArgs(['--tap', 't6x0', '--http', '8080']).http, 8080);
  t.is(parseUpArgs(['--tap', 't6x0', '--http=1']).http, 1);
  t.is(parseUpArgs(['--tap', 't6x0']).http, undefined);
  for (const bad of ['0', '65536', '80x', '-1', '', '1e3', '008080']) {
    const e = startError(t, () => parseUpArgs(['--tap', 't6x0', `--http=${bad}`]));
    t.is(e.message, `--http must be a port 1..65535, got '${bad}'`, bad);
    t.is(e.exitCode, 64);
  }
  t.is(startError(t, () => parseUpArgs(['--tap', 't6x0', '--http'])).message, "Option '--http <value>' argument missing");
});

test('parseUpArgs: --impair SPEC (repeatable: the pieces are joined) is checked; a bad spec is a usage error', (t) => {
  t.is(parseUpArgs(['--tap', 't6x0', '--impair', 'loss=2%,reorder=5%,dup=1%,delay=5ms']).impair, 'loss=2%,reorder=5%,dup=1%,delay=5ms');
  t.is(parseUpArgs(['--tap', 't6x0', '--impair', 'loss=2%', '--impair=tx.delay=5ms']).impair, 'loss=2%,tx.delay=5ms');
  t.is(parseUpArgs(['--tap', 't6x0']).impair, undefined);
  const cases: [string[], string][] = [
    [['--impair', 'loss=2'], "--impair: 'loss' must be at most 1 (or 100%), got 2"],
    [['--impair', 'drop=1%'], "--impair: unknown impairment 'drop': one of loss, dup, reorder, corrupt, delay, jitter, hold"],
    [['--impair', 'loss=1%', '--impair', 'delay=5s'], "--impair: bad impairment 'delay=5s': expected key=value, e.g. loss=1% or delay=20ms"],
    [['--impair', 'delay=90000ms'], "--impair: 'delay' must be at most 60000ms, got 90000ms"],
    [['--impair'], "Option '--impair <value>' argument missing"],
  ];
  for (const [argv, msg] of cases) {
    const e = startError(t, () => parseUpArgs(['--tap', 't6x0', ...argv]));
    t.is(e.message, msg, argv.join(' '));
    t.is(e.exitCode, 64);
  }
});

test('parseUpArgs: no knobs, no settings', (t) => {
  const o = parseUpArgs(['--tap', 't6x0', '--ctl', '/tmp/x.sock']);
  t.deepEqual(o, { tap: 't6x0', ctl: '/tmp/x.sock', ctlIsDefault: false, level: 'info', sysctls: [], services: [] });
});

test('parseUpArgs: the conveniences become sysctl settings, then --sysctl ones in order (the last word wins)', (t) => {
  const o = parseUpArgs([
    '--tap',
    't6x0',
    '--sysctl',
    'net.inet6.ip6.dad_count=3',
    '--no-accept-rtadv',
    '--forwarding',
    '--ifid',
    'eui64',
    '--temp-addresses',
    '--optimistic-dad',
    '--sysctl',
    'net.inet6.ip6.accept_rtadv=1',
    '--stable-secret',
    '/etc/tap6/secret',
  ]);
  t.deepEqual(
    o.sysctls.map((s) => [s.name, s.value]),
    [
      ['net.inet6.ip6.accept_rtadv', 0],
      ['net.inet6.ip6.forwarding', 1],
      ['net.inet6.ip6.ifid', 'eui64'],
      ['net.inet6.ip6.use_tempaddr', 1],
      ['net.inet6.ip6.optimistic_dad', 1],
      ['net.inet6.ip6.dad_count', 3],
      ['net.inet6.ip6.accept_rtadv', 1],
    ],
  );
  t.is(o.sysctls[0]!.oid.name, 'net.inet6.ip6.accept_rtadv');
  t.is(o.stableSecret, '/etc/tap6/secret');
});

test('parseUpArgs: bad knobs are usage errors (64) naming what is allowed', (t) => {
  const cases: [string[], string][] = [
    [['--sysctl', 'net.inet6.ip6.hlim'], "--sysctl 'net.inet6.ip6.hlim': expected NAME=VALUE"],
    [['--sysctl', 'net.inet6.ip6.bogus=1'], "--sysctl: unknown oid 'net.inet6.ip6.bogus'"],
    [['--sysctl', 'net.inet6.ip6.hlim=300'], "--sysctl: net.inet6.ip6.hlim: bad value '300' (an integer 1..255)"],
    [['--sysctl', 'net.inet6.ip6.pmtu_entries=3'], "--sysctl: oid 'net.inet6.ip6.pmtu_entries' is read only"],
    [['--ifid', 'random'], "--ifid must be stable or eui64, got 'random'"],
    [['--stable-secret', ''], '--stable-secret needs a file'],
    [['--forwarding=1'], "Option '--forwarding' does not take an argument"],
  ];
  for (const [argv, msg] of cases) {
    const e = startError(t, () => parseUpArgs(['--tap', 't6x0', ...argv]));
    t.is(e.message, msg, argv.join(' '));
    t.is(e.exitCode, 64);
  }
});

test('tap6 up: knob errors are reported before anything is opened', async (t) => {
  const io = capture();
  t.is(await runUp(['--tap', 't6x0', '--sysctl', 'net.inet6.ip6.forwarding=2'], { ...io, stop: Promise.resolve() }), 64);
  t.deepEqual(io.errs[0], "tap6: up: --sysctl: net.inet6.ip6.forwarding: bad value '2' (0 or 1)");
  t.regex(io.errs[1]!, /^usage: tap6 up --tap NAME .*--stable-secret FILE\] \[--services [a-z,]+\] \[--http PORT\]$/);
  const io3 = capture();
  t.is(await runUp(['--tap', 't6x0', '--impair', 'loss=1%,reorder=two'], { ...io3, stop: Promise.resolve() }), 64);
  t.is(io3.errs[0], "tap6: up: --impair: bad impairment 'reorder=two': expected key=value, e.g. loss=1% or delay=20ms");
  t.regex(io3.errs[1]!, /^usage: tap6 up --tap NAME .*\[--impair SPEC \.\.\.\]/);
  const dir = tmp(t);
  const short = join(dir, 'short');
  writeFileSync(short, 'abc');
  const io2 = capture();
  t.is(await runUp(['--tap', 't6x0', '--stable-secret', short], { ...io2, stop: Promise.resolve() }), 1);
  t.deepEqual(io2.errs, [`tap6: up: --stable-secret ${short}: 3 bytes; at least 16 are needed (hex text or raw bytes)`]);
});

test('stable secret files: hex text (whitespace ignored) or raw bytes, at least 16 bytes', (t) => {
  const hex = '00112233445566778899aabbccddeeff0011';
  const d = decodeStableSecret(new TextEncoder().encode(`${hex.slice(0, 10)} ${hex.slice(10)}\n`));
  t.true(d.ok);
  t.deepEqual(d.ok && [...d.value], [...Buffer.from(hex, 'hex')]);
  const raw = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + (i % 16));
  t.deepEqual(decodeStableSecret(raw), { ok: true, value: raw });
  t.deepEqual(decodeStableSecret(new TextEncoder().encode('0011223344556677')), { ok: false, error: '8 bytes of hex; at least 16 bytes (32 hex digits) are needed' });
  t.deepEqual(decodeStableSecret(new Uint8Array(0)), { ok: false, error: '0 bytes; at least 16 are needed (hex text or raw bytes)' });
  t.true(decodeStableSecret(new TextEncoder().encode('a passphrase, not hex at all')).ok, 'text that is not hex is taken as bytes');

  const dir = tmp(t);
  const f = join(dir, 'secret');
  writeFileSync(f, `${hex}\n`);
  t.deepEqual([...readStableSecret(f)], [...Buffer.from(hex, 'hex')]);
  t.is(startError(t, () => readStableSecret(join(dir, 'none'))).message, `--stable-secret ${join(dir, 'none')}: no such file`);
  t.is(startError(t, () => readStableSecret(dir)).message, `--stable-secret ${dir}: is a directory`);
  writeFileSync(f, new Uint8Array(70 * 1024));
  t.regex(startError(t, () => readStableSecret(f)).message, /: larger than 65536 bytes; is it the right file\?$/);
});

/**
 * What `tap6 up --tap tap0 [knobs]` builds (a stack with the secret, the
 * settings applied before up), on a virtual link; the RA from a raw port.
 * Returns the address SLAAC formed for 2001:db8:1::/64. `seed` seeds the
 * stack's RNG (which draws the secret when none is given).
 */
function slaacAddress(argv: string[], mac: number, seed = mac): string {
  const o = parseUpArgs(['--tap', 'tap0', ...argv]);
  const clock = new VirtualClock();
  const link = new VirtualLink({ clock });
  const stack = new Stack({ clock, rng: new SeededRng(seed), ...(o.stableSecret ? { stableSecret: readStableSecret(o.stableSecret) } : {}) });
  try {
    const ifp = stack.addEthernet({ name: o.tap, driver: link.port(), mac: Uint8Array.of(2, 0, 0, 0, 0, mac) });
    for (const s of o.sysctls) applySysctl(stack, s.oid, s.value);
    stack.up(ifp);
    clock.advance(3000);
    new RawRouter(link).advertise({
      routerLifetime: 1800,
      prefixes: [{ prefix: in6('2001:db8:1::'), plen: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 1800 }],
    });
    clock.advance(10);
    const got = stack.slaac.addresses().map((a) => formatIn6(a.ia.addr));
    if (got.length !== 1) throw new Error(`expected one SLAAC address, got ${got.join(', ')}`);
    return got[0]!;
  } finally {
    stack.close();
  }
}

test('--stable-secret: the same RA gives the same RFC 7217 address on two runs; another secret, another address', (t) => {
  const dir = tmp(t);
  const one = join(dir, 'one');
  const two = join(dir, 'two');
  writeFileSync(one, '5f3a9c0e7b214d68a1c2e3f4051627384950a1b2c3d4e5f60718293a4b5c6d7e\n');
  writeFileSync(two, Uint8Array.from({ length: 32 }, (_, i) => i * 7));
  // Different MACs and RNG seeds: the identifier depends on the prefix, the interface name and the secret only.
  const a = slaacAddress(['--stable-secret', one], 1);
  const b = slaacAddress(['--stable-secret', one], 2);
  const c = slaacAddress(['--stable-secret', two], 1);
  t.regex(a, /^2001:db8:1:0:/);
  t.is(a, b);
  t.not(a, c);
  t.not(slaacAddress([], 1, 1), slaacAddress([], 1, 2), 'without a secret, a random one per start');
  t.is(slaacAddress(['--stable-secret', one], 1, 1), slaacAddress(['--stable-secret', one], 1, 2), 'with one, the RNG does not matter');
  // --ifid eui64 through the same path: the MAC decides.
  t.is(slaacAddress(['--ifid', 'eui64', '--stable-secret', one], 1), '2001:db8:1::ff:fe00:1');
});
