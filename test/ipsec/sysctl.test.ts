/**
 * KAME's IPsec sysctls (net.inet6.ipsec6.*: the default levels, def_policy,
 * ecn) through `tap6 sysctl` against an in-process daemon and through
 * `tap6 up --sysctl`: words and KAME's numbers accepted, other numbers
 * refused with the reason, and the stack following (the SPD's levels and
 * its `active` flag, the ECN mode).
 */
import test from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { Stack } from '../../src/stack.ts';
import { runClientCommand } from '../../tools/cli.ts';
import { parseUpArgs } from '../../tools/daemon.ts';
import { applySysctl, parseSysctlValue } from '../../tools/sysctl.ts';
import { capture, rig } from '../tools/rig.ts';

const run = (argv: string[], io = capture()) => runClientCommand(argv[0]!, argv.slice(1), io).then((code) => ({ code, io }));

test('tap6 sysctl net.inet6.ipsec6: reads the defaults; sets them by word or KAME number; the SPD follows', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const read = await run(['sysctl', 'net.inet6.ipsec6', '--ctl', r.path]);
  t.is(read.code, 0, read.io.errs.join('\n'));
  t.deepEqual(read.io.lines, [
    'net.inet6.ipsec6.ah_net_deflev: use',
    'net.inet6.ipsec6.ah_trans_deflev: use',
    'net.inet6.ipsec6.def_policy: none',
    'net.inet6.ipsec6.ecn: allowed',
    'net.inet6.ipsec6.esp_net_deflev: use',
    'net.inet6.ipsec6.esp_trans_deflev: use',
  ]);
  t.false(r.a.ipsec.spd.active);
  const set = await run([
    'sysctl',
    'net.inet6.ipsec6.esp_trans_deflev=require',
    'net.inet6.ipsec6.esp_net_deflev=2',
    'net.inet6.ipsec6.ah_trans_deflev=2',
    'net.inet6.ipsec6.ah_trans_deflev=1',
    'net.inet6.ipsec6.def_policy=0',
    'net.inet6.ipsec6.ecn=-1',
    '--ctl',
    r.path,
  ]);
  t.is(set.code, 0, set.io.errs.join('\n'));
  t.deepEqual(set.io.lines, [
    'net.inet6.ipsec6.esp_trans_deflev: use -> require',
    'net.inet6.ipsec6.esp_net_deflev: use -> require',
    'net.inet6.ipsec6.ah_trans_deflev: use -> require',
    'net.inet6.ipsec6.ah_trans_deflev: require -> use',
    'net.inet6.ipsec6.def_policy: none -> discard',
    'net.inet6.ipsec6.ecn: allowed -> nocare',
  ]);
  const spd = r.a.ipsec.spd;
  t.like(spd.defaults, { esp_trans_deflev: 'require', esp_net_deflev: 'require', ah_trans_deflev: 'use', ah_net_deflev: 'use', def_policy: 'discard' });
  t.true(spd.active, 'def_policy discard makes the SPD active');
  t.is(spd.levelOf({ proto: 'esp', mode: 'transport', src: null, dst: null, level: 'default', reqid: 0 }), 'require');
  t.is(r.a.ipsec.ecn, 'nocare');
  const back = await run(['sysctl', 'net.inet6.ipsec6.def_policy=none', 'net.inet6.ipsec6.ecn=forbidden', 'net.inet6.ipsec6.ecn=normal', '--ctl', r.path]);
  t.deepEqual(back.io.lines, ['net.inet6.ipsec6.def_policy: discard -> none', 'net.inet6.ipsec6.ecn: nocare -> forbidden', 'net.inet6.ipsec6.ecn: forbidden -> allowed']);
  t.false(spd.active, 'no entry and def_policy none: inactive again');
});

test('tap6 sysctl net.inet6.ipsec6: values outside KAME’s are refused with what is allowed, and nothing changes', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  for (const [arg, msg] of [
    ['net.inet6.ipsec6.esp_trans_deflev=3', "net.inet6.ipsec6.esp_trans_deflev: bad value '3' (use or require; KAME's 1 = use, 2 = require)"],
    ['net.inet6.ipsec6.ah_net_deflev=unique', "net.inet6.ipsec6.ah_net_deflev: bad value 'unique' (use or require; KAME's 1 = use, 2 = require)"],
    ['net.inet6.ipsec6.esp_net_deflev=0', "net.inet6.ipsec6.esp_net_deflev: bad value '0' (use or require; KAME's 1 = use, 2 = require)"],
    ['net.inet6.ipsec6.def_policy=2', "net.inet6.ipsec6.def_policy: bad value '2' (none or discard; KAME's 0 = discard, 1 = none)"],
    ['net.inet6.ipsec6.ecn=2', "net.inet6.ipsec6.ecn: bad value '2' (allowed or forbidden or nocare; KAME's 0 = forbidden, 1 = allowed, -1 = nocare)"],
    ['net.inet6.ipsec6.ecn=constructor', "net.inet6.ipsec6.ecn: bad value 'constructor' (allowed or forbidden or nocare; KAME's 0 = forbidden, 1 = allowed, -1 = nocare)"],
  ] as const) {
    const { code, io } = await run(['sysctl', 'net.inet6.ipsec6.ecn=nocare', arg, '--ctl', r.path]);
    t.is(code, 1, arg);
    t.deepEqual(io.errs, [`tap6: sysctl: ${msg}`], arg);
  }
  t.is(r.a.ipsec.ecn, 'allowed', 'the good setting before the bad one was not applied either');
  t.is(r.a.ipsec.spd.defaults.esp_trans_deflev, 'use');
});

test('tap6 up --sysctl: IPsec defaults given at start-up are parsed before the stack exists and applied to it', (t) => {
  const o = parseUpArgs(['--tap', 't6x0', '--sysctl', 'net.inet6.ipsec6.ecn=0', '--sysctl', 'net.inet6.ipsec6.def_policy=discard', '--sysctl', 'net.inet6.ipsec6.esp_trans_deflev=2']);
  t.deepEqual(
    o.sysctls.map((s) => [s.name, s.value]),
    [
      ['net.inet6.ipsec6.ecn', 'forbidden'],
      ['net.inet6.ipsec6.def_policy', 'discard'],
      ['net.inet6.ipsec6.esp_trans_deflev', 'require'],
    ],
  );
  t.throws(() => parseUpArgs(['--tap', 't6x0', '--sysctl', 'net.inet6.ipsec6.ah_net_deflev=4']), { message: /--sysctl: net.inet6.ipsec6.ah_net_deflev: bad value '4'/ });
  const stack = new Stack({ clock: new VirtualClock(), rng: new SeededRng(1) });
  for (const s of o.sysctls) applySysctl(stack, s.oid, s.value);
  t.is(stack.ipsec.ecn, 'forbidden');
  t.like(stack.ipsec.spd.defaults, { def_policy: 'discard', esp_trans_deflev: 'require' });
  t.true(stack.ipsec.spd.active);
  t.like(parseSysctlValue('net.inet6.ipsec6.ecn', '-1'), { ok: true, value: { value: 'nocare' } });
});

test('the stack option ipsec.ecn sets the mode; a bad one is refused at construction', (t) => {
  t.is(new Stack({ clock: new VirtualClock(), rng: new SeededRng(1), ipsec: { ecn: 'forbidden' } }).ipsec.ecn, 'forbidden');
  t.throws(() => new Stack({ clock: new VirtualClock(), rng: new SeededRng(1), ipsec: { ecn: 'sometimes' as 'nocare' } }), { message: /ecn is allowed, forbidden or nocare/ });
});
