/**
 * A UDP echo server on tap6: an IPv6 stack on a TAP device, serving echo
 * with the node:dgram-shaped socket API.
 *
 *   sudo node --import=tsx examples/udp-echo/server.ts tap7 [port]
 */
import { formatIn6, isLinkLocal } from '../../src/ip6/addr.ts';
import { TapDriver } from '../../src/link/tapdriver.ts';
import { Stack } from '../../src/stack.ts';

const name = process.argv[2] ?? 'tap7';
const port = Number(process.argv[3] ?? 7777);

// The stack, with one Ethernet interface on the TAP (created if missing, link up).
const stack = new Stack();
const ifp = stack.addEthernet({ name, driver: TapDriver.open({ name, up: true }) });
stack.up(ifp);

// From here on it is node:dgram, only the socket comes from the stack.
const server = stack.dgram.createSocket('udp6');
server.on('message', (msg, rinfo) => {
  console.log(`${rinfo.size} bytes from [${rinfo.address}]:${rinfo.port}`);
  server.send(msg, rinfo.port, rinfo.address);
});
server.on('error', (err) => console.error(err.message));
server.bind(port, () => {
  const ll = stack.ip6.if6Of(ifp)!.addrs.find((a) => isLinkLocal(a.addr))!;
  const addr = `${formatIn6(ll.addr)}%${name}`;
  console.log(`echo server on [${addr}]:${port}; try:`);
  console.log(`  node --import=tsx examples/udp-echo/client.ts ${addr} ${port} hello`);
});

process.once('SIGINT', () => {
  server.close();
  stack.close();
});
