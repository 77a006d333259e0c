/**
 * IPsec for tap6 (RFC 4301, 4302, 4303): the data plane — SPD, SAD, ESP, AH
 * and their transforms — as hooks to ip6 input and output, KAME-style.
 *
 *   crypto.ts  transforms behind a backend interface: node:crypto (default, fast),
 *              @noble (portable, ~8x slower: never the default)
 *   replay.ts  anti-replay window with ESN inference (RFC 4303 §3.4.3, App. A)
 *   esp.ts     ESP encapsulation/decapsulation on byte buffers (RFC 4303)
 *   ah.ts      AH with the mutable-field rules of IPv6 (RFC 4302)
 *   sad.ts     SAs: inbound by (SPI, dst, proto), outbound newest-usable
 *   spd.ts     policies: selectors, deterministic order, KAME defaults, socket policy
 *   ipsec.ts   the per-stack object (SPD + SAD + ipsecstat + rng/clock) and its decisions
 *   input.ts   protocol-switch input routines for next headers 50 and 51
 *   output.ts  the whole-packet output step for ip6_output
 *   stats.ts   ipsecstat
 *
 * ============================ Integration contract ============================
 *
 * Setup (src/stack.ts):
 *     const ipsec = new Ipsec({ clock, rng });           // backend: nodeBackend
 *     counters.register(ipsec.stats);                     // 'ipsec' for netstat -s -p ipsec
 *     ip6.ipsec = ipsec;                                  // a field the lead adds to Ip6
 *     const hooks = { reinput: (pkt, ifp, nxt) => nxt === 41 ? ip6.input(ifp, pkt) : ip4?.input(ifp, pkt) };
 *     ip6.registerProtocol(50, { name: 'esp', input: (ctx) => esp6Input(ipsec, ctx, hooks) });
 *     ip6.registerProtocol(51, { name: 'ah',  input: (ctx) => ah6Input(ipsec, ctx, hooks) });
 *   For asynchronous crypto add `defer` (e.g. queueMicrotask) and
 *   `resume: (ctx, nxt) => ip6.resume(ctx, nxt)`: the routines then return
 *   IPPROTO_PENDING and continue the loop later.
 *   Tunnel-mode inner packets come back through `reinput` marked
 *   PktFlag.DECRYPTED/AUTHED; ip6 input must keep those flags (and `rcvif`)
 *   on the packet it is given, and should accept an inner destination that
 *   is ours exactly as for any packet.
 *
 * Output (ip6Output), after route, interface and source are chosen and the
 * upper-layer checksum is filled, before Hop-by-Hop framing and fragmentation:
 *     if (ip6.ipsec && (ip6.ipsec.spd.active || o.ipsecPolicy?.kind === 'ipsec')) {
 *       const f = fillFlow(scratchFlow, src, dst, o.nxt, pkt.data(), 0);
 *       const pol = ipsec.policy('out', f, o.ipsecPolicy);     // socket policy: bypass/entrust/ipsec
 *       const sas = ipsec.outputSas(pol, src, dst);             // counted: outDiscard, outNoSa, outBypass
 *       if (!sas.ok) return sas.error === 'outDiscard' ? 'EACCES' : 'EHOSTUNREACH';
 *       if (sas.value.length) {
 *         const r = ipsecOutput(ipsec, sas.value, { src, dst, nxt: o.nxt, payload: pkt.data(), hlim,
 *                                                  trafficClass, flowLabel, hbh: framedHopOpts });
 *         if (!r.ok) return 'ENOBUFS';                          // counted: outSeqOverflow, outSaUnusable, ...
 *         pkt = Pkt.adopt(r.value.packet);                      // IPv6 header included; for a tunnel the
 *         // outer destination is sas.value[last tunnel].dst: route it (routes.lookup) before delivering.
 *         // Fragment with unfragLen = r.value.unfragLen when longer than the path MTU.
 *       }
 *     }
 *   With an empty SPD (`spd.active` false) and no socket `ipsec` policy this
 *   is one property test per packet. `o.ipsecPolicy` is a new Ip6OutputOpts
 *   field that UDP/TCP fill from `pcb.ipsec` (SocketIpsecPolicy has the shape
 *   of SocketPolicyLike). ND, MLD and other ICMPv6 control traffic the stack
 *   originates should pass `{ kind: 'bypass' }` so a def_policy discard or a
 *   wide require policy cannot cut the link (KAME leaves this to the policy
 *   writer; we suggest bypass by default for ND/MLD).
 *   Effective MTU for PMTU and transports: path MTU - ipsecOverhead(sas).
 *   IPsec output happens before fragmentation, so ESP/AH protect whole
 *   datagrams (RFC 4301 §7) and the fragments carry ESP or AH.
 *
 * Input: ESP/AH run in the next-header loop (above). The inbound policy
 * check (RFC 4301 §5.2, KAME's ipsec6_in_reject) happens where the packet is
 * delivered, once its flow is known and its socket found — UDP after demux
 * (with pcb.ipsec), TCP at segment arrival, ICMPv6 before answering (echo)
 * or delivering to raw sockets:
 *     if (ip6.ipsec?.spd.active || sock?.kind === 'ipsec')
 *       if (!ipsec.inputAllowed(fillFlow(f, src, dst, proto, b, off), pkt.flags, sock)) return drop;
 *   `inputAllowed` counts inPolvio (cleartext under require, or ESP missing
 *   under an ESP requirement) or inDiscard. ND/MLD: check with bypass as on
 *   output, or not at all.
 *
 * Counters: every drop inside esp.ts/ah.ts/input.ts/ipsec.ts increments one
 * ipsecstat counter (the returned reason is its name); the lead counts
 * nothing twice. Per-SA counters (replay, tooOld, authFail, badPad) and
 * lifetime counts (bytes, packets, addedAt, usedAt) live on the SA.
 *
 * Key management (next issue): setkey maps onto Sad.add/get/delete/flush/list
 * and Spd.add/findExact/delete/flush/list; parseRequest/formatRequest read
 * and print requests in setkey's syntax; SA state and lifetime fields exist,
 * the expiry policy and ACQUIRE (at outNoSa) are to be added.
 */
export * from './crypto.ts';
export * from './replay.ts';
export * from './esp.ts';
export * from './ah.ts';
export * from './sad.ts';
export * from './spd.ts';
export * from './stats.ts';
export * from './env.ts';
export * from './ipsec.ts';
export * from './input.ts';
export * from './output.ts';
