/** ip6stat: the IPv6 layer's counters (KAME's ip6s_* with their netstat wording). */
import { counterSet } from '../core/counters.ts';

export function ip6Counters() {
  return counterSet('ip6', {
    total: 'total packets received',
    tooShort: 'packets dropped: shorter than an IPv6 header',
    badVersion: 'packets dropped: IP version not 6',
    tooSmall: 'packets dropped: payload length beyond the data received',
    badSource: 'packets dropped: multicast or otherwise invalid source address',
    badScope: 'packets dropped: scope violation (loopback address from a link, zone mismatch)',
    notMember: 'multicast packets dropped: group not joined on the interface',
    notForUs: 'packets dropped: destination not ours (forwarding is off)',
    ifDisabled: 'packets dropped: IPv6 disabled on the interface (duplicated link-local address)',
    tentative: 'packets dropped: destination address still tentative or duplicated',
    noProto: 'packets dropped: unknown next header (Parameter Problem sent)',
    tooManyHeaders: 'packets dropped: header chain longer than the nesting limit',
    noNextHeader: 'packets ended by next header 59 (no next header)',
    delivered: 'packets delivered to an upper layer',
    pending: 'packets held by an upper layer to resume later',
    localOut: 'packets sent by this host',
    looped: 'packets looped back to this host',
    mcastLooped: 'multicast packets copied to local listeners',
    noRoute: 'output packets dropped: no route to the destination',
    noZone: 'output packets dropped: scoped destination without a zone',
    noSource: 'output packets dropped: no usable source address',
    badSrcOut: 'output packets dropped: source address not ours or not usable',
    tooBig: 'output packets dropped: larger than the path MTU (no fragmentation yet)',
    ifDown: 'output packets dropped: interface down',
    noResolver: 'output packets dropped: no address resolution on the interface',
    oDropped: 'output packets dropped by the interface',
  });
}
export type Ip6Stats = ReturnType<typeof ip6Counters>;
