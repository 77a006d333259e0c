/**
 * tap6 — the command-line tool. One command, subcommands in the BSD manner:
 * `up` runs a stack on a TAP and serves a control socket; ifconfig, ndp,
 * route, netstat, ping6, rtsol and sysctl talk to it; `probe` is a self-test of the TAP
 * binding and link layer against the kernel.
 */
import { parseArgs } from 'node:util';
import { type Io, USAGES, runClientCommand } from './cli.ts';
import { UP_USAGE, runUp } from './daemon.ts';
import { probe } from './probe.ts';
import { SETKEY_USAGE, runSetkey } from './setkey-run.ts';

const VERSION = '0.1.0';

const USAGE = `usage: tap6 <command> [options]

commands:
  ${UP_USAGE}
        run a stack on the TAP NAME (created if missing) in the foreground and
        serve the control socket (default /run/tap6/NAME.sock) until Ctrl-C.
        --sysctl and the switches set tunables before the interface comes up;
        --stable-secret FILE (16+ bytes, hex or raw) keeps SLAAC addresses
        the same across restarts. --services starts inetd's echo (7),
        discard (9), daytime (13) and chargen (19), each on UDP and TCP.
        --http PORT serves a status page over tap6's own TCP (node:http):
        GET / is HTML (interfaces, addresses, neighbors, routes, sockets,
        counters), GET /json the same as JSON; GET and HEAD only, no
        request bodies beyond 1 KiB, at most 16 connections.
  ${USAGES['ifconfig']}
        show interfaces and addresses; add (alias) or remove (-alias) an address
  ${USAGES['ndp']}
        show the neighbor cache (-a), default routers (-r), prefixes and their
        addresses (-p), an interface's ND variables and flags (-i)
  ${USAGES['rtsol']}
        send router solicitations on IF now
  ${USAGES['sysctl']}
        read or set tunables (net.inet6.ip6.*, net.inet6.icmp6.*)
  ${USAGES['route']}
        show the routing table and the Path MTU cache
  ${USAGES['netstat']}
        with no flag, the open sockets: TCP connections and listeners (state,
        Recv-Q, Send-Q; -v adds RTT, RTO, cwnd, ssthresh, MSS, congestion
        control and listen queues) and UDP sockets (-p tcp|udp: one kind);
        -s counters by protocol (-z: zero counters too); -r the routing table
  ${USAGES['ping6']}
        send ICMPv6 echo requests from the stack (exit 0: replies, 1: none, 2: error)
  ${SETKEY_USAGE}
        IPsec static keying, KAME setkey syntax: add/get/delete/deleteall/flush/dump
        SAs, spdadd/spddelete/spdflush/spddump policies, from FILE or stdin (-c);
        -D dumps the SAD (-DP the SPD), -F flushes it (-FP the SPD). A file that
        does not parse applies nothing; errors name the line.
  probe [--pcap FILE] [--count N]
        create a network namespace and a TAP, put the kernel on the far side,
        exchange frames with it (ICMPv6 echo, its RS and MLD reports) and
        report what crossed; removes everything afterwards. Needs root.
  version
  help

The client commands find the daemon's socket in /run/tap6 (the only one there)
or take --ctl PATH. --json prints the daemon's JSON answer.`;

function processIo(signal?: AbortSignal): Io {
  return {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    ...(signal ? { signal } : {}),
  };
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'up':
      return runUp(rest, processIo());
    case 'probe': {
      const { values } = parseArgs({
        args: rest,
        options: { pcap: { type: 'string' }, count: { type: 'string', default: '3' } },
        strict: true,
      });
      const count = Number(values.count);
      if (!Number.isInteger(count) || count < 1 || count > 1000) throw new UsageError(`--count must be an integer 1..1000, got '${values.count}'`);
      return probe({ count, pcap: values.pcap });
    }
    case 'setkey':
      return runSetkey(rest, processIo());
    case 'version':
    case '--version':
      console.log(`tap6 ${VERSION}`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return cmd === undefined ? 1 : 0;
    default: {
      let signal: AbortSignal | undefined;
      if (cmd === 'ping6') {
        // The first Ctrl-C stops pinging and prints the summary; a second one kills.
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        signal = ac.signal;
      }
      const code = await runClientCommand(cmd, rest, processIo(signal));
      if (code === undefined) throw new UsageError(`unknown command '${cmd}'`);
      return code;
    }
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = e as Error & { code?: string };
    if (e instanceof UsageError || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      console.error(`tap6: ${err.message}\n\n${USAGE}`);
      process.exitCode = 64;
    } else {
      console.error(`tap6: ${err.message}`);
      process.exitCode = 1;
    }
  },
);
