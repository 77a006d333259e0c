/** icmp6stat: counters of the ICMPv6 layer, and per-type input/output histograms. */
import { counterSet } from '../core/counters.ts';

export function icmp6Counters() {
  return counterSet('icmp6', {
    inMsgs: 'messages received',
    tooShort: 'messages dropped: shorter than the ICMPv6 header',
    badChecksum: 'messages dropped: bad checksum',
    badCode: 'messages dropped: bad code for the type',
    noHandler: 'messages ignored: type not handled (informational)',
    echoReplies: 'echo replies sent',
    echoMatched: 'echo replies matched to a request',
    echoUnmatched: 'echo replies matching no outstanding request',
    errInTooShort: 'errors dropped: too short to quote an IPv6 header',
    errInNotOurs: 'errors dropped: the quoted packet was not sent by us',
    errInNoHandler: 'errors ignored: no protocol to tell',
    errInDelivered: 'errors handed to the protocol that sent the packet',
    pmtuLowered: 'path MTU estimates lowered by Packet Too Big',
    outMsgs: 'messages sent',
    outErrors: 'messages not sent: output error',
    errSent: 'error messages sent',
    errRateLimited: 'error messages suppressed by the rate limiter',
    errAboutError: 'error messages not sent: in reply to an ICMPv6 error or redirect',
    errToMulticast: 'error messages not sent: offending packet was to multicast',
    errBadSource: 'error messages not sent: offending source not a unicast address',
  });
}
export type Icmp6Stats = ReturnType<typeof icmp6Counters>;

/** Type names as netstat -s prints the histograms. */
export const ICMP6_TYPE_NAMES: Record<number, string> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  4: 'parameter problem',
  128: 'echo',
  129: 'echo reply',
  130: 'multicast listener query',
  131: 'MLDv1 listener report',
  132: 'MLDv1 listener done',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  137: 'redirect',
  143: 'MLDv2 listener report',
};
