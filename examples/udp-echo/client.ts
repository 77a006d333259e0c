/**
 * A UDP echo client in plain node:dgram, on the kernel's side of the TAP:
 * sends one datagram and prints the answer.
 *
 *   node --import=tsx examples/udp-echo/client.ts fe80::…%tap7 7777 hello
 */
import dgram from 'node:dgram';

const [address, port = '7777', text = 'hello, tap6'] = process.argv.slice(2);
if (!address) {
  console.error('usage: client.ts ADDRESS[%IFACE] [PORT] [TEXT]');
  process.exit(2);
}

const client = dgram.createSocket('udp6');
const timer = setTimeout(() => {
  console.error('no answer within 3 s');
  client.close();
  process.exitCode = 1;
}, 3000);

client.on('message', (msg, rinfo) => {
  console.log(`echo from [${rinfo.address}]:${rinfo.port}: ${msg}`);
  clearTimeout(timer);
  client.close();
});
client.send(text, Number(port), address);
