/**
 * tap6 — the command-line tool. One command, subcommands in the BSD manner.
 * Today: `probe` (a self-test of the TAP binding and link layer against the
 * kernel). The daemon (`up`) and its control-socket clients (ifconfig, ndp,
 * ping6, netstat, ...) arrive with the IPv6 layer.
 */
import { parseArgs } from 'node:util';
import { probe } from './probe.ts';

const VERSION = '0.1.0';

const USAGE = `usage: tap6 <command> [options]

commands:
  probe [--pcap FILE] [--count N]
        create a network namespace and a TAP, put the kernel on the far side,
        exchange frames with it (ICMPv6 echo, its RS and MLD reports) and
        report what crossed; removes everything afterwards. Needs root.
  version
  help`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
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
    default:
      throw new UsageError(`unknown command '${cmd}'`);
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
