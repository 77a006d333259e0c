/**
 * ping6 beyond the basics: jumbograms on lo0, the size bound, and a request
 * answered by an ICMPv6 error (iputils' "From ... Destination unreachable").
 */
import test from 'ava';
import { in6 } from '../../src/ip6/addr.ts';
import { MAX_ECHO_DATA } from '../../src/icmp6/echo.ts';
import { pingExitCode, runClientCommand } from '../../tools/cli.ts';
import { RawRouter } from './raw.ts';
import { capture, rig } from './rig.ts';

const run = (argv: string[], io = capture()) => runClientCommand(argv[0]!, argv.slice(1), io).then((code) => ({ code, io }));

test('ping6 -s 70000 ::1: a jumbogram through lo0 comes back', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const { code, io } = await run(['ping6', '-c', '1', '-s', '70000', '-W', '5', '--ctl', r.path, '::1']);
  t.is(code, 0, io.errs.join('\n'));
  t.is(io.lines[0], 'PING ::1(::1) 70000 data bytes');
  t.regex(io.lines[1]!, /^70008 bytes from ::1: icmp_seq=1 ttl=64 time=[0-9.]+ ms$/);
  t.regex(io.text, /\n1 packets transmitted, 1 received, 0% packet loss/);
});

test('ping6 -s: above 16 MiB is a usage error; a jumbogram where none fits is refused by the stack', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const big = await run(['ping6', '-c', '1', '-s', String(MAX_ECHO_DATA + 1), '--ctl', r.path, '::1']);
  t.is(big.code, 64);
  t.is(big.io.errs[0], `tap6: ping6: -s ${MAX_ECHO_DATA + 1}: too large; at most ${MAX_ECHO_DATA} data bytes (16 MiB), and above 65527 only where a jumbogram fits (lo0)`);
  const max = await run(['ping6', '-c', '1', '-s', String(MAX_ECHO_DATA), '--ctl', r.path, '::1']);
  t.is(max.code, 2);
  t.deepEqual(max.io.errs, ['tap6: ping6: ::1: Message too long']);
  const wire = await run(['ping6', '-c', '1', '-s', '70000', '--ctl', r.path, r.peer]);
  t.is(wire.code, 2);
  t.deepEqual(wire.io.errs, [`tap6: ping6: ${r.peer}: Message too long`]);
});

test('ping6 answered by Destination Unreachable: iputils "From" line, +1 errors, exit 1', async (t) => {
  const r = await rig();
  t.teardown(() => r.close());
  const router = new RawRouter(r.link);
  router.failFor(in6('fe80::99'));
  const { code, io } = await run(['ping6', '-c', '2', '-i', '0.05', '-W', '2', '--ctl', r.path, 'fe80::99%tap0']);
  t.is(code, 1, io.text + io.errs.join('\n'));
  t.deepEqual(io.errs, []);
  t.deepEqual(io.lines.slice(0, 3), [
    'PING fe80::99%tap0(fe80::99%tap0) 56 data bytes',
    'From fe80::1%tap0 icmp_seq=1 Destination unreachable: Address unreachable',
    'From fe80::1%tap0 icmp_seq=2 Destination unreachable: Address unreachable',
  ]);
  t.regex(io.text, /\n2 packets transmitted, 0 received, \+2 errors, 100% packet loss, time [0-9]+ms$/);
});

test('ping6 exit status: replies 0, none 1 (lost or ICMPv6 errors), only local errors 2', (t) => {
  t.is(pingExitCode({ received: 1, errors: 3, icmpErrors: 0 }), 0);
  t.is(pingExitCode({ received: 0, errors: 0, icmpErrors: 0 }), 1);
  t.is(pingExitCode({ received: 0, errors: 2, icmpErrors: 2 }), 1);
  t.is(pingExitCode({ received: 0, errors: 3, icmpErrors: 1 }), 1);
  t.is(pingExitCode({ received: 0, errors: 2, icmpErrors: 0 }), 2);
});
