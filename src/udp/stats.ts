/** udpstat: counters of the UDP layer (BSD's udps_* with netstat's wording). */
import { counterSet } from '../core/counters.ts';

export function udpCounters() {
  return counterSet('udp', {
    ipackets: 'datagrams received',
    hdrops: 'datagrams dropped: shorter than a UDP header',
    badlen: 'datagrams dropped: bad length field',
    noChecksum: 'datagrams dropped: zero checksum (mandatory over IPv6, RFC 8200 §8.1)',
    badsum: 'datagrams dropped: bad checksum',
    noport: 'datagrams dropped: no socket on the port (Port Unreachable sent)',
    noportmcast: 'multicast datagrams dropped: no socket joined the group on the port',
    fullsock: 'datagrams dropped: socket receive buffer full',
    delivered: 'datagrams delivered to sockets',
    opackets: 'datagrams sent',
    oerrors: 'datagrams not sent: output error',
    errIn: 'ICMPv6 errors delivered to sockets',
    errNoSocket: 'ICMPv6 errors about datagrams of no open socket',
  });
}
export type UdpStats = ReturnType<typeof udpCounters>;
