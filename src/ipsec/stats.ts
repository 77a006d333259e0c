/**
 * ipsecstat: the IPsec layer's counters (KAME's ipsec6stat with its netstat
 * wording where it has one). ESP and AH share the set, as in KAME's
 * `netstat -s -p ipsec6`; per-SA counts live on the SA (sad.ts).
 *
 * The reasons that esp.ts and ah.ts return are keys of this set: they count
 * the drop themselves and return the same name, so a caller never counts
 * twice. SPD/SAD decisions made in the ip6 hooks (no SA, policy violation)
 * are counted by the `Ipsec` object (ipsec.ts).
 */
import { counterSet } from '../core/counters.ts';

export function ipsecCounters() {
  return counterSet('ipsec', {
    inSuccess: 'inbound packets processed successfully',
    inPolvio: 'inbound packets violated process security policy',
    inDiscard: 'inbound packets dropped by a discard policy',
    inNoSa: 'inbound packets with no SA available',
    inSaUnusable: 'inbound packets on an SA that is not usable (larval or dead)',
    inBadLength: 'inbound packets with a bad length (truncated, or not a whole number of blocks)',
    inReplay: 'inbound packets failed on replay check (duplicate)',
    inTooOld: 'inbound packets failed on replay check (left of the window)',
    inAuthFail: 'inbound packets failed on authentication',
    inBadPad: 'inbound packets with bad padding (RFC 4303 §2.4)',
    inBadMode: 'inbound tunnel-mode packets not carrying an IP packet',
    inNoIp4: 'inbound tunnel-mode packets carrying IPv4 (no IPv4 input here)',
    inTooDeep: 'inbound tunnel-mode packets nested more than 4 tunnels deep',
    inAhRthdr: 'inbound AH packets with a routing header still to process',
    inBadHeader: 'inbound AH packets with a malformed header before AH',
    inDummy: 'inbound dummy packets (next header 59) discarded',
    inEsp: 'inbound ESP packets processed',
    inAh: 'inbound AH packets processed',
    inIpcomp: 'inbound IPComp packets decompressed',
    inIpcompBadData: 'inbound IPComp packets with corrupt or truncated compressed data',
    inIpcompTooBig: 'inbound IPComp packets that would decompress past 65,535 bytes',
    inIpcompNested: 'inbound IPComp packets carrying IPComp again',
    inEcnDrop: 'inbound tunnel packets dropped: outer CE, inner Not-ECT (RFC 6040 §4.2)',
    inEcnCe: 'inbound tunnel packets whose inner header took CE from the outer',
    inEcnAnomaly: 'inbound tunnel packets with an ECN combination RFC 6040 calls unexpected',
    outSuccess: 'outbound packets processed successfully',
    outDiscard: 'outbound packets dropped by a discard policy',
    outNoSa: 'outbound packets with no SA available',
    outSaUnusable: 'outbound packets on an SA that is not usable (larval or dead)',
    outSeqOverflow: 'outbound packets dropped: the sequence number would cycle (rekey needed)',
    outBadRthdr: 'outbound AH packets dropped: routing header with segments left',
    outBadHeader: 'outbound AH packets dropped: malformed header before AH',
    outTooBig: 'outbound packets dropped: larger than 65,535 bytes after encapsulation',
    outEsp: 'outbound ESP packets',
    outAh: 'outbound AH packets',
    outIpcomp: 'outbound packets compressed with IPComp',
    outIpcompSmall: 'outbound packets sent uncompressed: shorter than 90 bytes',
    outIpcompIncompressible: 'outbound packets sent uncompressed: compression would not shrink them',
    outBypass: 'outbound packets sent in the clear under a policy (none, or use without an SA)',
  });
}

export type IpsecStats = ReturnType<typeof ipsecCounters>;
export type IpsecCounter = keyof IpsecStats['c'];
