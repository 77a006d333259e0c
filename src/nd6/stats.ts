/** nd6 counters: Neighbor Discovery message validation, the neighbor cache, DAD. */
import { counterSet } from '../core/counters.ts';

export function nd6Counters() {
  return counterSet('nd6', {
    nsIn: 'neighbor solicitations received',
    naIn: 'neighbor advertisements received',
    nsOut: 'neighbor solicitations sent',
    naOut: 'neighbor advertisements sent',
    badHopLimit: 'ND messages dropped: hop limit not 255',
    badCode: 'ND messages dropped: code not 0',
    badLength: 'ND messages dropped: too short',
    badTarget: 'ND messages dropped: multicast target',
    badOptions: 'ND messages dropped: malformed options (zero length, truncated, too many)',
    badDadNs: 'NS dropped: unspecified source not to a solicited-node group, or with a source link-layer option',
    badNaSolicited: 'NA dropped: solicited flag set on a multicast advertisement',
    notOurTarget: 'NS ignored: target is not an address of ours on the interface',
    tentativeTarget: 'NS ignored: target is tentative and the source is not unspecified',
    naNoEntry: 'NA ignored: no neighbor cache entry for the target',
    naNoLla: 'NA ignored: no target link-layer address for an incomplete entry',
    naForOurAddress: 'NA received for one of our own (non-tentative) addresses: another node claims it',
    dadStarted: 'duplicate address detections started',
    dadDuplicate: 'duplicate addresses detected',
    dadOwnLooped: 'DAD probes of our own seen again (nonce matched) and ignored',
    resolved: 'next hops resolved',
    resolveFailed: 'address resolutions failed (no answer to MAX_MULTICAST_SOLICIT probes)',
    holdDropped: 'packets dropped: resolution queue full (oldest dropped)',
    unresolvedDropped: 'packets dropped: their next hop never resolved',
    cacheEvicted: 'neighbor cache entries evicted to make room',
    nudFailed: 'neighbors declared unreachable by NUD (no answer to unicast probes)',
  });
}
export type Nd6Stats = ReturnType<typeof nd6Counters>;
