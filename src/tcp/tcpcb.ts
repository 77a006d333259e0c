/**
 * One TCP connection (RFC 9293 §3.3.2's TCB and §3.10's event processing):
 * the state machine, sending (tcp_output), receiving (tcp_input for an
 * existing connection) and its timers, on the injected clock.
 *
 * Implemented: the full state machine with simultaneous open and close and
 * TIME-WAIT (2·MSL); RFC 5961 RST/SYN/ACK validation with challenge ACKs;
 * window scaling and timestamps with PAWS (RFC 7323); SACK blocks sent for
 * out-of-order data (RFC 2018), D-SACK for duplicates (RFC 2883), SACK
 * information used in loss recovery: RACK-TLP (RFC 8985, rack.ts) or
 * RFC 6675 alone; RTO per RFC 6298 with Karn's rule; fast retransmit and
 * NewReno recovery without SACK (RFC 6582) with the congestion controller
 * (CUBIC by default, RFC 9438); delayed ACKs (at most every second full
 * segment, 40 ms); Nagle with a switch; zero-window probing with a give-up
 * limit; keepalive; MSS from the path MTU and PMTU changes on live
 * connections (RFC 8201).
 */
import type { Timer } from '../core/clock.ts';
import { type CongestionControl, createCc } from './cc.ts';
import { Rack } from './rack.ts';
import { ReassQueue } from './reass.ts';
import { RttEstimator } from './rtt.ts';
import { SackScoreboard } from './sack.ts';
import { SendBuffer } from './sendbuf.ts';
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax } from './seq.ts';
import type { TcpStats } from './stats.ts';
import { TH_ACK, TH_FIN, TH_PSH, TH_RST, TH_SYN, TH_URG, type TcpOptions, type TcpRepr } from './wire.ts';

export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN_SENT'
  | 'SYN_RECEIVED'
  | 'ESTABLISHED'
  | 'FIN_WAIT_1'
  | 'FIN_WAIT_2'
  | 'CLOSE_WAIT'
  | 'CLOSING'
  | 'LAST_ACK'
  | 'TIME_WAIT';

/** What the connection tells its socket. */
export interface TcpOwner {
  connected(): void;
  /** In-order data; the owner accounts for it and calls `consumed` as the application reads. */
  data(chunk: Uint8Array): void;
  /** The peer's FIN arrived (after all its data). */
  eof(): void;
  /** Send buffer space freed (backpressure release). */
  writable(): void;
  /** A hard error: the connection is gone (ECONNREFUSED, ECONNRESET, ETIMEDOUT). */
  error(code: string): void;
  /** The connection reached CLOSED (after TIME-WAIT or a reset). */
  closed(): void;
}

/** What the connection needs from the TCP layer. */
export interface TcpHost {
  readonly stats: TcpStats;
  now(): number;
  timer(ms: number, fn: () => void): Timer;
  /** Sends a segment; false if ip6 output failed. */
  send(cb: TcpCb, repr: TcpRepr, payload: Uint8Array | null, payloadOff: number, payloadLen: number): boolean;
  /** The connection is done: remove it from the tables. */
  release(cb: TcpCb): void;
  /** A passive connection reached ESTABLISHED: hand it to its listener. */
  established(cb: TcpCb): void;
  /**
   * Optional: during a receive burst, queues `cb.flushStretchAck()` for the
   * burst's end and returns true; false outside a burst (ACK at once).
   */
  deferAck?(cb: TcpCb): boolean;
  config: TcpConfig;
}

/** Most data one stretch ACK covers (Linux's GRO limit), and never more than a quarter of the receive buffer. */
const STRETCH_ACK_MAX = 65536;

export interface TcpConfig {
  /** Maximum segment lifetime, ms (TIME-WAIT lasts 2·MSL). Default 30 s. */
  msl: number;
  minRto: number;
  maxRto: number;
  /** Retransmissions before giving up: data (default 12) and SYN (default 6). */
  maxRexmits: number;
  maxSynRexmits: number;
  delAckMs: number;
  keepIdleMs: number;
  keepIntvlMs: number;
  keepCnt: number;
  finWait2Ms: number;
  cc: 'cubic' | 'newreno';
  /** Initial receive buffer (the window's bound); grows with autotune up to maxRcvBuf. */
  rcvBuf: number;
  /** Initial send buffer (SO_SNDBUF); grows with autotune up to maxSndBuf. */
  sndBuf: number;
  /** Largest receive buffer: the bound of autotuning, and what the window scale we ask for is chosen from. */
  maxRcvBuf: number;
  /** Largest send buffer autotuning grows to. */
  maxSndBuf: number;
  /**
   * Buffers follow the bandwidth-delay product (Linux's tcp_rcv_space_adjust
   * and tcp_sndbuf_expand): the receive buffer grows to twice what the
   * application read in one round trip, the send buffer to twice the
   * congestion window. They only grow.
   */
  autotune: boolean;
  timestamps: boolean;
  sack: boolean;
  /**
   * RACK-TLP loss detection (RFC 8985) when SACK is negotiated (default on);
   * off, SACK connections use RFC 6675's DupThresh and IsLost() alone.
   */
  rack: boolean;
  /**
   * Zero-window probes an orphaned connection (application gone) sends before
   * giving up, answered or not (Linux's tcp_orphan_retries, whose 0 means 8).
   */
  orphanRetries: number;
}

const MAX_WIN = 0xffff;
const NO_BLOCKS: readonly (readonly [number, number])[] = [];
/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed ACK a lone segment's probe waits for. */
const WC_DELACK_MS = 200;
/** Retransmissions remembered for D-SACK matching. */
const REXMIT_LOG = 32;

export class TcpCb {
  state: TcpState = 'CLOSED';
  owner: TcpOwner | null = null;
  /** Listener that created this passive connection, until it is accepted. */
  parent: unknown = null;
  passive = false;

  // Send sequence variables (RFC 9293 §3.3.1).
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  sndWscale = 0;
  // Receive sequence variables.
  irs = 0;
  rcvNxt = 0;
  rcvWscale = 0;
  /** Right edge of the window we last advertised. */
  rcvAdv = 0;
  /** Receive buffer bytes the socket still holds (the window shrinks by them). */
  rcvQueued = 0;
  rcvBuf: number;
  /** Receive autotuning: bytes the application read in the largest measured round trip so far. */
  private rcvSpace: number;
  /** Bytes read since `rcvSpaceAt`. */
  private rcvCopied = 0;
  private rcvSpaceAt = -1;

  /** Effective send MSS (data bytes per segment, options excluded). */
  mss = 1220;
  peerMss = 1220;
  /** Our MSS option: link or path MTU minus 60. */
  advMss = 1440;
  tsOk = false;
  tsRecent = 0;
  tsOffset = 0;
  lastAckSent = 0;
  sackOk = false;
  wantWscale = true;
  /** Recent retransmissions [seq, end) pairs, flat, oldest first (bounded): what a D-SACK can prove spurious. */
  private rexmitLog: number[] = [];
  /** Duplicate data to report in the next ACK's first SACK block (RFC 2883 D-SACK), once. */
  private dsack: [number, number] | null = null;

  readonly snd: SendBuffer;
  finQueued = false;
  readonly reass: ReassQueue;
  readonly rtt: RttEstimator;
  cc: CongestionControl;
  dupAcks = 0;
  inRecovery = false;
  /** RFC 6675 scoreboard, when SACK was negotiated and RACK is off. */
  sb: SackScoreboard | null = null;
  /** RACK-TLP (RFC 8985): per-segment records and loss detection, when SACK was negotiated and RACK is on. */
  rack: Rack | null = null;
  /** After an RTO with RACK: lost records are resent in slow start until SND.MAX at the timeout is acknowledged. */
  inRtoRecovery = false;
  private rtoRecover = 0;
  /** TLP.end_seq (RFC 8985 §7): SND.NXT after the outstanding probe, or null. */
  tlpEndSeq: number | null = null;
  private tlpIsRetrans = false;
  private sendingProbe = false;
  /** When the PTO is due (0: not scheduled); the timer may be armed earlier and re-arms itself. */
  private tlpAt = 0;
  private tlpTimerAt = 0;
  private tlpTimer: Timer | null = null;
  private reoTimer: Timer | null = null;
  private reoAt = 0;
  private rexmtAt = 0;
  recover = 0;
  /** Non-timestamp RTT timing (Karn): the sequence timed and when. */
  private timing: { seq: number; at: number } | null = null;
  rexmits = 0;
  private ackNow = false;
  private delAckPending = 0;
  private delAckBytes = 0;
  /** Queued with the host for the end of the receive burst. */
  ackDeferred = false;
  noDelay = false;
  keepAlive = false;
  keepIdleMs: number;
  private keepProbes = 0;
  private lastRecv = 0;
  softError: string | null = null;
  rcvUp = 0;

  private rexmtTimer: Timer | null = null;
  private persistTimer: Timer | null = null;
  private delAckTimer: Timer | null = null;
  private keepTimer: Timer | null = null;
  private waitTimer: Timer | null = null;
  private persistBackoff = 0;
  /** Zero-window probes sent since the last ACK from the peer (Linux's icsk_probes_out). */
  persistProbesOut = 0;
  /** Zero-window probes sent since the window closed. */
  persistProbes = 0;
  /** The application closed its side and will read no more (FIN-WAIT-2 timer applies). */
  ownerGone = false;

  constructor(
    readonly host: TcpHost,
    readonly laddr: Uint8Array,
    readonly lport: number,
    readonly faddr: Uint8Array,
    readonly fport: number,
    readonly zone: number,
  ) {
    const c = host.config;
    this.snd = new SendBuffer(c.sndBuf);
    this.rcvBuf = c.rcvBuf;
    // As many segments as the window holds at a 536-byte MSS: 512 (the default) is below a 1 MiB window of full segments.
    this.reass = new ReassQueue({ maxBytes: c.rcvBuf, maxSegments: TcpCb.reassSegments(c.rcvBuf) });
    this.rcvSpace = Math.min(c.rcvBuf, 10 * this.advMss);
    this.rtt = new RttEstimator({ minRto: c.minRto, maxRto: c.maxRto });
    this.cc = createCc(c.cc, this.mss);
    this.keepIdleMs = c.keepIdleMs;
    this.lastRecv = host.now();
  }

  private get stats() {
    return this.host.stats.c;
  }

  get synchronized(): boolean {
    return this.state !== 'CLOSED' && this.state !== 'LISTEN' && this.state !== 'SYN_SENT' && this.state !== 'SYN_RECEIVED';
  }

  /** Bytes sent and not yet acknowledged. */
  /**
   * Congestion window validation (RFC 7661 §4.3; Linux's tcp_is_cwnd_limited): the window grows only
   * while it is what limits the sender — in slow start while the flight reaches half of it, after that
   * while the flight fills it. An application- or buffer-limited sender does not test a larger window,
   * so it must not earn one (a bulk sender with 4 MiB in flight was seen with a 169 MB window).
   */
  private cwndLimited(flight: number): boolean {
    const cwnd = this.cc.cwnd;
    return cwnd < this.cc.ssthresh ? 2 * flight > cwnd : flight + this.mss >= cwnd;
  }

  get flight(): number {
    return seqDiff(this.sndMax, this.sndUna);
  }

  /** RFC 7323: the window scale we offer, large enough for the largest receive buffer. */
  static wscaleFor(maxBuf: number): number {
    let s = 0;
    while (s < 14 && MAX_WIN << s < maxBuf) s++;
    return s;
  }

  /**
   * The receive window we can offer now: the receive buffer less what the
   * application has not read. Out-of-order data does not shrink it (as in
   * BSD, where it waits outside the socket buffer): a window that changes
   * with every out-of-order segment would hide the duplicate ACKs that fast
   * retransmit counts. The reassembly queue has its own bound (the buffer size).
   */
  rcvWindow(): number {
    return Math.max(0, this.rcvBuf - this.rcvQueued);
  }

  setMss(peerMss: number, pathMtu: number): void {
    this.peerMss = peerMss;
    const optLen = this.tsOk ? 12 : 0;
    this.mss = Math.max(64, Math.min(peerMss, pathMtu - 60) - optLen);
    this.cc = createCc(this.host.config.cc, this.mss);
    this.rack = this.sackOk && this.host.config.rack ? new Rack() : null;
    this.sb = this.sackOk && !this.rack ? new SackScoreboard({ smss: this.mss, iss: this.iss }) : null;
  }

  // ---- opening ---------------------------------------------------------------

  /** Active open (§3.10.1): send SYN. */
  connect(iss: number, pathMtu: number): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.advMss = pathMtu - 60;
    this.rcvWscale = this.host.config.maxRcvBuf > MAX_WIN ? TcpCb.wscaleFor(this.host.config.maxRcvBuf) : 0;
    this.tsOffset = iss;
    this.state = 'SYN_SENT';
    this.stats.connAttempts++;
    this.output();
  }

  /** Passive open from a SYN (§3.10.7.2): send SYN-ACK. */
  acceptSyn(seg: TcpRepr, iss: number, pathMtu: number): void {
    this.passive = true;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.advMss = pathMtu - 60;
    this.tsOffset = iss;
    this.negotiate(seg.options, pathMtu);
    this.sndWnd = seg.window; // unscaled in a SYN (RFC 7323 §2.2)
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.state = 'SYN_RECEIVED';
    this.output();
  }

  /**
   * A connection rebuilt from a SYN cookie (the final ACK of the handshake):
   * ESTABLISHED at once, without the options the SYN carried (no window
   * scaling, timestamps or SACK; the MSS from the cookie's table).
   */
  fromCookie(seg: TcpRepr, mss: number, pathMtu: number): void {
    this.passive = true;
    this.irs = seqAdd(seg.seq, -1);
    this.rcvNxt = seg.seq;
    this.iss = seqAdd(seg.ack, -1);
    this.sndUna = seg.ack;
    this.sndNxt = seg.ack;
    this.sndMax = seg.ack;
    this.advMss = pathMtu - 60;
    this.sndWscale = 0;
    this.rcvWscale = 0;
    this.setMss(mss, pathMtu);
    this.sndWnd = seg.window;
    this.maxSndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.state = 'ESTABLISHED';
    this.stats.connects++;
  }

  /** Options of the peer's SYN decide what the connection uses. */
  private negotiate(o: TcpOptions, pathMtu: number): void {
    const c = this.host.config;
    if (o.wscale !== undefined && this.wantWscale) {
      this.sndWscale = Math.min(o.wscale, 14);
      this.rcvWscale = c.maxRcvBuf > MAX_WIN ? TcpCb.wscaleFor(c.maxRcvBuf) : 0;
    } else {
      this.sndWscale = 0;
      this.rcvWscale = 0;
    }
    this.tsOk = c.timestamps && o.ts !== undefined;
    if (this.tsOk) this.tsRecent = o.ts!.val;
    this.sackOk = c.sack && o.sackPermitted === true;
    // RFC 9293 §3.7.1: without an MSS option, 1220 for IPv6 (RFC 8200's 1280 minus headers).
    this.setMss(o.mss ?? 1220, pathMtu);
  }

  // ---- application calls ---------------------------------------------------------

  /** Queues data; returns bytes accepted (less than asked when the send buffer is full). */
  write(data: Uint8Array): number {
    const n = this.snd.write(data);
    if (n > 0) this.output();
    return n;
  }

  /** The application read `n` bytes: the window may open (window update when worth it). */
  consumed(n: number): void {
    // What the window field can say (65535 << shift), not the buffer: else every read looks like a big update.
    const most = MAX_WIN << this.rcvWscale;
    const before = Math.min(this.rcvWindow(), most);
    this.rcvQueued = Math.max(0, this.rcvQueued - n);
    const after = Math.min(this.rcvWindow(), most);
    // RFC 9293 §3.8.6.2.2 (receiver SWS avoidance): update once the window grew by 2·MSS or half the buffer.
    // And only when the update matters (as Linux's tcp_cleanup_rbuf): the window still advertised is
    // under half of what we can offer now. Else the sender is not held by our window and the next ACK
    // carries the new edge; an update per read would double the ACKs of a bulk transfer.
    if (this.host.config.autotune && this.synchronized) this.rcvSpaceAdjust(n);
    const grown = seqDiff(seqAdd(this.rcvNxt, after), this.rcvAdv);
    const stillOpen = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    if (this.synchronized && after - before > 0 && grown >= Math.min(2 * this.mss, this.rcvBuf / 2) && stillOpen * 2 <= after) {
      this.ackNow = true;
      // Inside input the segment's own ACK carries the update; never an early duplicate ACK.
      if (!this.inInput) this.output();
    }
  }

  /** As many segments as the window holds at a 536-byte MSS: 512 (the least) is below a 1 MiB window of full segments. */
  private static reassSegments(bytes: number): number {
    return Math.max(512, Math.ceil(bytes / 536));
  }

  /**
   * Dynamic right-sizing (Linux tcp_rcv_space_adjust): once per round trip,
   * if the application read more than in any round trip before, the buffer
   * becomes twice that (bounded by maxRcvBuf), so the window keeps ahead of
   * a sender that is still growing its own.
   */
  private rcvSpaceAdjust(n: number): void {
    const now = this.host.now();
    this.rcvCopied += n;
    if (this.rcvSpaceAt < 0) {
      this.rcvSpaceAt = now;
      return;
    }
    // The round trip as we know it (the handshake gives a sample on both sides); 1 ms at least.
    if (now - this.rcvSpaceAt < Math.max(1, this.rtt.srtt ?? 1)) return;
    if (this.rcvCopied > this.rcvSpace) {
      this.rcvSpace = this.rcvCopied;
      const want = Math.min(this.host.config.maxRcvBuf, 2 * this.rcvCopied);
      if (want > this.rcvBuf) {
        this.rcvBuf = want;
        this.reass.setBounds(want, TcpCb.reassSegments(want));
        this.stats.rcvBufGrown++;
      }
    }
    this.rcvCopied = 0;
    this.rcvSpaceAt = now;
  }

  /** Send-buffer autotuning (Linux tcp_sndbuf_expand): room for twice what the windows let fly. */
  private sndBufExpand(): void {
    const c = this.host.config;
    if (!c.autotune) return;
    const want = Math.min(c.maxSndBuf, 2 * Math.min(this.cc.cwnd, Math.max(this.sndWnd, this.mss)));
    if (want > this.snd.limit) {
      this.snd.limit = want;
      this.stats.sndBufGrown++;
    }
  }

  /** Half close (§3.10.4): send FIN after the queued data. */
  shutdown(): void {
    switch (this.state) {
      case 'SYN_SENT':
      case 'LISTEN':
        this.closeNow();
        return;
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.finQueued = true;
        this.state = 'FIN_WAIT_1';
        break;
      case 'CLOSE_WAIT':
        this.finQueued = true;
        this.state = 'LAST_ACK';
        break;
      default:
        return;
    }
    this.output();
  }

  /** Abort (§3.10.5): RST to the peer if synchronized, then CLOSED. */
  abort(): void {
    if (this.synchronized || this.state === 'SYN_RECEIVED') {
      this.sendRaw({ seq: this.sndNxt, ack: 0, flags: TH_RST });
      this.stats.sndRst++;
    }
    this.closeNow();
  }

  // ---- input (§3.10.7.3, §3.10.7.4) -----------------------------------------------------

  private inInput = false;

  input(seg: TcpRepr, data: Uint8Array, dataOff: number, dataLen: number, pathMtu: number): void {
    this.inInput = true;
    try {
      this.inputInner(seg, data, dataOff, dataLen, pathMtu);
    } finally {
      this.inInput = false;
    }
  }

  private inputInner(seg: TcpRepr, data: Uint8Array, dataOff: number, dataLen: number, pathMtu: number): void {
    const c = this.stats;
    this.lastRecv = this.host.now();
    this.keepProbes = 0;
    if (this.state === 'SYN_SENT') return this.inputSynSent(seg, pathMtu);
    // The SYN this connection answered, again: below RCV.NXT, so the table below would only ACK it. A
    // retransmitted SYN gets our SYN-ACK again; a simultaneous open's SYN-ACK (§3.5 Figure 8, line 6) is its ACK.
    if (this.state === 'SYN_RECEIVED' && seg.flags & TH_SYN && !(seg.flags & TH_RST) && seg.seq === this.irs) {
      if (!(seg.flags & TH_ACK)) {
        this.sndNxt = this.iss;
        this.output();
        return;
      }
      seg = { ...seg, seq: seqAdd(seg.seq, 1), flags: seg.flags & ~TH_SYN };
    }
    const f = seg.flags;
    let segLen = dataLen + (f & TH_SYN ? 1 : 0) + (f & TH_FIN ? 1 : 0);
    // RFC 7323 §5: PAWS.
    if (this.tsOk && seg.options.ts && !(f & TH_RST) && seqLt(seg.options.ts.val, this.tsRecent)) {
      c.rcvPaws++;
      this.ackNow = true;
      this.output();
      return;
    }
    // First: sequence number acceptable? (§3.10.7.4 table)
    const wnd = this.rcvWindow();
    if (!this.acceptable(seg.seq, segLen, wnd)) {
      if (f & TH_RST) {
        c.rcvRstOutOfWindow++;
        return;
      }
      c.rcvOutOfWindow++;
      if (segLen > 0 && seqLt(seg.seq, this.rcvNxt)) {
        c.rcvDupBytes += dataLen;
        if (dataLen > 0) {
          const end = seqAdd(seg.seq, dataLen);
          this.noteDsack(seg.seq, seqLt(end, this.rcvNxt) ? end : this.rcvNxt);
        }
      }
      // TIME-WAIT (§3.10.7.4, eighth): a retransmitted FIN is acknowledged and restarts the 2·MSL timeout.
      if (this.state === 'TIME_WAIT' && f & TH_FIN) this.enterTimeWait();
      this.ackNow = true;
      this.output();
      return;
    }
    // Second: RST (RFC 5961 §3.2).
    if (f & TH_RST) {
      if (seg.seq !== this.rcvNxt) {
        c.rcvRstInWindow++;
        this.challengeAck();
        return;
      }
      return this.reset(this.state === 'SYN_RECEIVED' && this.passive ? null : this.state === 'SYN_RECEIVED' ? 'ECONNREFUSED' : 'ECONNRESET');
    }
    // Fourth: SYN in a synchronized state (RFC 5961 §4) — or a retransmitted SYN in SYN-RECEIVED.
    if (f & TH_SYN) {
      if (this.state === 'SYN_RECEIVED' && seg.seq === this.irs) {
        this.sndNxt = this.iss;
        this.output();
        return;
      }
      c.rcvDupSyn++;
      this.challengeAck();
      return;
    }
    // Fifth: ACK.
    if (!(f & TH_ACK)) {
      c.rcvBadFlags++;
      return;
    }
    // Trim what precedes RCV.NXT and what exceeds the window.
    let seq = seg.seq;
    let off = dataOff;
    let len = dataLen;
    let fin = (f & TH_FIN) !== 0;
    const before = seqDiff(this.rcvNxt, seq);
    if (before > 0) {
      const k = Math.min(before, len);
      c.rcvDupBytes += k;
      if (k > 0) this.noteDsack(seq, seqAdd(seq, k));
      off += k;
      len -= k;
      seq = seqAdd(seq, k);
      if (before > dataLen) fin = fin && before === dataLen + 1 ? false : fin;
    }
    const room = seqDiff(seqAdd(this.rcvNxt, Math.max(wnd, 0)), seq);
    if (len > room) {
      len = Math.max(0, room);
      fin = false;
    }
    segLen = len + (fin ? 1 : 0);
    if (this.tsOk && seg.options.ts && seqLeq(seg.seq, this.lastAckSent)) this.tsRecent = seg.options.ts.val;

    if (this.state === 'SYN_RECEIVED') {
      if (seqLt(this.sndUna, seg.ack) && seqLeq(seg.ack, this.sndMax)) {
        this.state = 'ESTABLISHED';
        this.stats.connects++;
        this.sndWnd = seg.window << this.sndWscale;
        this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
        this.sndWl1 = seg.seq;
        this.sndWl2 = seg.ack;
        this.ackProcess(seg, 0);
        if (this.passive) this.host.established(this);
        else this.owner?.connected();
      } else {
        this.sendRaw({ seq: seg.ack, ack: 0, flags: TH_RST });
        c.sndRst++;
        return;
      }
    } else if (!this.ackProcess(seg, dataLen)) return;

    // Sixth: URG (§3.10.7.4): the urgent data stays in the stream (SO_OOBINLINE semantics); we track the pointer.
    if (f & TH_URG && (this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2')) {
      const up = seqAdd(seg.seq, seg.urgent);
      if (seqGt(up, this.rcvUp)) this.rcvUp = up;
    }

    // New data for an application that is gone (closed, not half-closed): BSD answers with a RST
    // and drops the connection (tcps_rcvafterclose); nobody would ever read it.
    if (len > 0 && this.ownerGone && (this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2' || this.state === 'CLOSING' || this.state === 'LAST_ACK')) {
      c.rcvAfterClose++;
      this.sendRaw({ seq: this.sndNxt, ack: 0, flags: TH_RST });
      c.sndRst++;
      this.stats.drops++;
      this.closeNow(false);
      return;
    }
    // Seventh: segment text.
    if (len > 0 || fin) {
      if (this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2') {
        this.receive(seq, data.subarray(off, off + len), fin);
      } else if (len > 0 && (this.state === 'CLOSE_WAIT' || this.state === 'CLOSING' || this.state === 'LAST_ACK' || this.state === 'TIME_WAIT')) {
        // Data after the peer's FIN: not possible legitimately (§3.10.7.4 seventh).
        c.rcvAfterClose++;
      } else if (fin && this.state === 'TIME_WAIT') {
        // A retransmitted FIN: acknowledge and restart the 2·MSL timer.
        this.ackNow = true;
        this.enterTimeWait();
      }
    }
    this.output();
  }

  private acceptable(seq: number, segLen: number, wnd: number): boolean {
    if (segLen === 0) {
      if (wnd === 0) return seq === this.rcvNxt;
      return seqLeq(this.rcvNxt, seq) && seqLt(seq, seqAdd(this.rcvNxt, wnd));
    }
    if (wnd === 0) return false;
    const end = seqAdd(seq, segLen - 1);
    const lo = this.rcvNxt;
    const hi = seqAdd(this.rcvNxt, wnd);
    return (seqLeq(lo, seq) && seqLt(seq, hi)) || (seqLeq(lo, end) && seqLt(end, hi));
  }

  private inputSynSent(seg: TcpRepr, pathMtu: number): void {
    const c = this.stats;
    const f = seg.flags;
    if (f & TH_ACK && (seqLeq(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax))) {
      if (!(f & TH_RST)) {
        this.sendRaw({ seq: seg.ack, ack: 0, flags: TH_RST });
        c.sndRst++;
      }
      c.rcvBadAck++;
      return;
    }
    if (f & TH_RST) {
      if (f & TH_ACK) this.reset('ECONNREFUSED');
      return;
    }
    if (!(f & TH_SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.negotiate(seg.options, pathMtu);
    if (f & TH_ACK) {
      this.sndUna = seg.ack;
      this.sndWnd = seg.window << this.sndWscale;
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.cancelRexmt();
      if (this.rexmits === 0 && this.timing) this.rtt.sample(this.host.now() - this.timing.at);
      // RFC 6298 §5.7: after a retransmitted SYN, and with no RTT sample, data transmission starts with RTO = 3 s.
      else if (this.rexmits > 0 && this.rtt.srtt === undefined) this.rtt.reset(Math.max(3000, this.rtt.minRto));
      this.timing = null;
      this.rexmits = 0;
      this.state = 'ESTABLISHED';
      c.connects++;
      this.ackNow = true;
      this.owner?.connected();
      this.output();
    } else {
      // Simultaneous open (§3.10.7.3): SYN-RECEIVED, send SYN-ACK.
      this.state = 'SYN_RECEIVED';
      this.sndWnd = seg.window;
      this.sndNxt = this.iss;
      this.output();
    }
  }

  /** ACK processing for synchronized states; false when the segment must be dropped. */
  private ackProcess(seg: TcpRepr, dataLen: number): boolean {
    const c = this.stats;
    const ack = seg.ack;
    // RFC 5961 §5.2: SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.MAX.
    if (seqGt(ack, this.sndMax)) {
      c.rcvAckTooMuch++;
      this.ackNow = true;
      this.output();
      return false;
    }
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      c.rcvBadAck++;
      this.challengeAck();
      return false;
    }
    const now = this.host.now();
    const newWnd = seg.window << this.sndWscale;
    // The peer is alive: zero-window probes are answered (RFC 9293 §3.8.6.1).
    this.persistProbesOut = 0;
    let blocks = seg.options.sack;
    let dsack: readonly [number, number] | null = null;
    if (blocks && blocks.length > 0 && this.sackOk) {
      dsack = this.takeDsack(blocks, ack);
      if (dsack) blocks = blocks.slice(1);
    }
    const rk = this.rack;
    let newlySacked = 0;
    if (rk) {
      if (dsack) rk.onDsack(this.sndMax);
      // TSecr as a time on our clock (TSval = ms + tsOffset; the echo is at most a few minutes old).
      const ts = this.tsOk ? seg.options.ts : undefined;
      const ecrAt = ts && ts.ecr !== 0 ? Math.floor(now) - seqDiff(this.tsNow(), ts.ecr) : Infinity;
      newlySacked = rk.onAck(seqMax(ack, this.sndUna), blocks ?? NO_BLOCKS, now, ecrAt);
    } else if (this.sb && blocks) newlySacked = this.sb.update(seqMax(ack, this.sndUna), blocks);
    const advanced = seqGt(ack, this.sndUna);
    if (seqGt(ack, this.sndUna)) {
      const acked = seqDiff(ack, this.sndUna);
      const flightBefore = this.flight;
      // RTT: timestamps when both sides use them, else the timed segment (Karn: never a retransmission).
      if (this.tsOk && seg.options.ts && seg.options.ts.ecr !== 0) {
        const r = this.tsNow() - seg.options.ts.ecr;
        if (r >= 0 && r < 600_000) {
          this.rtt.sample(Math.max(r, 1));
          rk?.noteRtt(Math.max(r, 1), now);
        }
      } else if (this.timing && seqGt(ack, this.timing.seq)) {
        this.rtt.sample(now - this.timing.at);
        rk?.noteRtt(now - this.timing.at, now);
        this.timing = null;
      }
      // Bytes of data acknowledged (the SYN and FIN take a sequence number but no buffer space).
      let dataAcked = acked;
      if (seqLeq(this.sndUna, this.iss)) dataAcked--;
      const finAcked = this.finQueued && seqGt(ack, this.finSeq());
      if (finAcked) dataAcked--;
      this.snd.drop(Math.max(0, dataAcked));
      this.sndUna = ack;
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
      this.rexmits = 0;
      this.rtt.backoffs = 0;
      if (this.inRecovery) {
        if (seqGeq(ack, this.recover)) {
          this.inRecovery = false;
          this.cc.onExitRecovery();
          rk?.onRecoveryExit();
        } else if (rk) {
          // RACK: detection and sending follow below, once the window is updated.
        } else if (this.sb) {
          this.sackRecover();
        } else {
          // RFC 6582 partial ACK: deflate by the amount acknowledged (plus one SMSS back), retransmit the next hole.
          this.cc.cwnd = Math.max(this.mss, this.cc.cwnd - Math.max(0, dataAcked) + this.mss);
          this.retransmitHead();
        }
      } else if (this.cwndLimited(flightBefore)) {
        this.cc.onAck(Math.max(0, dataAcked), this.rtt.srtt ?? 0, now, false);
      } else this.stats.cwndNotLimited++;
      if (this.inRtoRecovery && seqGeq(ack, this.rtoRecover)) {
        this.inRtoRecovery = false;
        rk?.onRecoveryExit();
      }
      this.dupAcks = 0;
      if (this.sndUna === this.sndMax) this.cancelRexmt();
      else this.armRexmt(true);
      this.sndBufExpand();
      if (dataAcked > 0) this.owner?.writable();
      if (finAcked) this.ourFinAcked();
      if (this.state === 'CLOSED') return false;
    } else if (ack === this.sndUna && dataLen === 0 && newWnd > 0 && ((newWnd === this.sndWnd && !dsack) || newlySacked > 0) && this.sndMax !== this.sndUna && !(seg.flags & (TH_SYN | TH_FIN))) {
      // A duplicate ACK (RFC 5681 §2; with SACK, one that brings new SACK information; a D-SACK alone is none).
      this.dupAcks++;
      const lost = this.sb !== null && this.sb.isLost(this.sndUna);
      // With RACK, its detection below replaces DupThresh (RFC 8985).
      if (!rk && !this.inRecovery && (this.dupAcks >= 3 || lost)) {
        this.stats.fastRexmits++;
        this.stats.recoveries++;
        this.inRecovery = true;
        this.recover = this.sndMax;
        this.cc.onEnterRecovery(now, this.flight);
        this.timing = null;
        if (this.sb) {
          // RFC 6675 §5: retransmit the first loss, then send what NextSeg() allows while pipe < cwnd.
          this.sb.enterRecovery();
          this.retransmitHead();
          this.sackRecover();
        } else {
          // RFC 6582 / RFC 5681 §3.2: ssthresh + 3·SMSS, inflated by one SMSS per further duplicate.
          this.cc.cwnd = this.cc.ssthresh + 3 * this.mss;
          this.retransmitHead();
        }
      } else if (this.inRecovery && !rk) {
        if (this.sb) this.sackRecover();
        else {
          this.cc.cwnd += this.mss;
          this.output();
        }
      }
    }
    // Window update (§3.10.7.4): SND.WL1 < SEG.SEQ, or equal and SND.WL2 ≤ SEG.ACK.
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLeq(this.sndWl2, ack))) {
      const opened = newWnd > this.sndWnd;
      this.sndWnd = newWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      this.maxSndWnd = Math.max(this.maxSndWnd, newWnd);
      if (opened && newWnd > 0) {
        this.persistTimer?.cancel();
        this.persistTimer = null;
        this.persistBackoff = 0;
        this.persistProbes = 0;
      }
    }
    if (rk && this.state !== 'CLOSED') {
      this.tlpOnAck(ack, dsack, now);
      this.rackDetect();
      if (advanced) this.schedulePto();
    }
    return true;
  }

  // ---- RACK-TLP (RFC 8985) ------------------------------------------------------------

  /**
   * §6.2 step 5 and §6.3: mark what RACK finds lost, arm the reordering
   * timer for what is not overdue yet, enter recovery on a new loss (once per
   * episode, as RFC 6675 would on DupThresh), and send while pipe < cwnd.
   */
  private rackDetect(): void {
    const rk = this.rack!;
    const now = this.host.now();
    const srtt = this.rtt.srtt ?? this.rtt.rto;
    const { lost, timeout } = rk.detectLoss(now, rk.reoWnd(this.inRecovery || this.inRtoRecovery, srtt));
    if (lost > 0) this.stats.rackLosses += lost;
    if (timeout > 0) {
      const at = now + Math.max(1, Math.ceil(timeout));
      if (!this.reoTimer || this.reoAt > at) {
        this.reoTimer?.cancel();
        this.reoAt = at;
        this.reoTimer = this.host.timer(at - now, () => {
          this.reoTimer = null;
          if (this.state === 'CLOSED' || !this.rack) return;
          this.stats.rackReoTimeouts++;
          this.rackDetect();
        });
      }
    }
    if (lost > 0 && !this.inRecovery && !this.inRtoRecovery && this.synchronized) this.enterRackRecovery(now);
    else if (this.inRecovery || this.inRtoRecovery || rk.lostBytes > 0) this.rackRecover();
  }

  private enterRackRecovery(now: number): void {
    const rk = this.rack!;
    this.stats.fastRexmits++;
    this.stats.recoveries++;
    // The probe's feedback revealed the loss: recovered without waiting for the RTO.
    if (this.tlpEndSeq !== null) this.stats.tlpRecoveries++;
    this.tlpEndSeq = null;
    this.tlpAt = 0;
    this.inRecovery = true;
    this.recover = this.sndMax;
    this.cc.onEnterRecovery(now, this.flight);
    this.timing = null;
    // RFC 6675 §5 (4.3): the first loss goes at once, whatever pipe says.
    const first = rk.firstLostRange(this.mss);
    if (first) this.rexmitRange(first[0], first[1]);
    this.rackRecover();
  }

  /** While pipe < cwnd: lost records first (lowest first), then new data (RFC 6675 §5 (C) with RACK's marks). */
  private rackRecover(): void {
    const rk = this.rack!;
    for (let guard = 0; guard < 256 && rk.pipe() < this.cc.cwnd; guard++) {
      const r = rk.firstLostRange(this.mss);
      if (r) {
        if (!this.rexmitRange(r[0], r[1])) break;
        continue;
      }
      if (!this.sendNew()) break;
    }
  }

  /**
   * Sends [seq, end) again, at most one MSS of it (with the FIN when the
   * range ends with it), and never past the peer's window: a receiver whose
   * buffer is full may drop a segment that overshoots it whole, its ACK
   * included (Linux does), and both sides would then wait for each other.
   */
  private rexmitRange(seq: number, end: number): boolean {
    const fin = this.finQueued && this.finSent() && end === seqAdd(this.finSeq(), 1);
    let len = seqDiff(end, seq) - (fin ? 1 : 0);
    let sendFin = fin;
    const room = seqDiff(seqAdd(this.sndUna, this.sndWnd), seq);
    if (len > Math.min(this.mss, room)) {
      len = Math.max(0, Math.min(this.mss, room));
      sendFin = false;
    }
    const off = seqDiff(seq, this.dataStart());
    if (off < 0 || len < 0 || off + len > this.snd.length || (len === 0 && !sendFin)) return false;
    const saved = this.sndNxt;
    this.sndNxt = seq;
    this.sendSegment(off, len, false, sendFin);
    if (seqGt(saved, this.sndNxt)) this.sndNxt = saved;
    return true;
  }

  /** One segment of new data at SND.MAX if the peer's window and the send buffer allow (cwnd is the caller's). */
  private sendNew(): boolean {
    const off = seqDiff(this.sndMax, this.dataStart());
    const avail = this.snd.length - off;
    const len = Math.min(avail, this.mss, this.sndWnd - this.flight);
    if (len <= 0) return false;
    this.sndNxt = this.sndMax;
    this.sendSegment(off, len, false, this.finQueued && off + len === this.snd.length);
    return true;
  }

  /**
   * §7.2: (re)schedule the probe timeout after new data goes out or an ACK
   * advances SND.UNA, unless in recovery, with SACKed data outstanding
   * (RACK watches those), or with a probe outstanding. PTO = 2·SRTT, plus
   * WCDelAckT for a lone segment, never past the RTO.
   */
  private schedulePto(): void {
    const rk = this.rack;
    // A shut window is the persist timer's (a probe there would start the RTO against a receiver that answers).
    if (!rk || this.inRecovery || this.inRtoRecovery || this.tlpEndSeq !== null || rk.sackedBytes > 0 || this.sndUna === this.sndMax || !this.synchronized || this.sndWnd === 0) return;
    const srtt = this.rtt.srtt;
    const now = this.host.now();
    let pto = srtt === undefined ? 1000 : 2 * srtt + (this.flight <= this.mss ? WC_DELACK_MS : 0);
    if (this.rexmtTimer && now + pto > this.rexmtAt) pto = this.rexmtAt - now;
    if (pto < 1) return;
    this.tlpAt = now + pto;
    if (this.tlpTimer && this.tlpTimerAt <= this.tlpAt) return;
    this.tlpTimer?.cancel();
    this.armTlp(pto);
  }

  private armTlp(ms: number): void {
    this.tlpTimerAt = this.host.now() + ms;
    this.tlpTimer = this.host.timer(ms, () => {
      this.tlpTimer = null;
      if (this.tlpAt === 0 || this.state === 'CLOSED') return;
      const left = this.tlpAt - this.host.now();
      if (left > 0) return this.armTlp(left);
      this.tlpAt = 0;
      this.sendProbe();
    });
  }

  /** §7.3: new data if the peer's window allows, else the last segment sent again; then the RTO is re-armed. */
  private sendProbe(): void {
    const rk = this.rack;
    if (!rk || !this.synchronized || this.state === 'TIME_WAIT' || this.inRecovery || this.inRtoRecovery) return;
    if (this.tlpEndSeq !== null || this.sndUna === this.sndMax || rk.sackedBytes > 0 || this.sndWnd === 0 || this.persistTimer) return;
    this.sendingProbe = true;
    try {
      if (this.sendNew()) this.tlpIsRetrans = false;
      else {
        const last = rk.last();
        if (!last) return;
        const fin = this.finQueued && this.finSent() && last.end === seqAdd(this.finSeq(), 1);
        const back = this.mss + (fin ? 1 : 0);
        const from = seqDiff(last.end, last.seq) > back ? seqAdd(last.end, -back) : last.seq;
        if (!this.rexmitRange(from, last.end)) return;
        this.tlpIsRetrans = true;
      }
    } finally {
      this.sendingProbe = false;
    }
    this.stats.tlpProbes++;
    this.tlpEndSeq = this.sndMax;
    this.armRexmt(true);
  }

  /**
   * §7.4: the ACK of a probe. A probe of new data needs nothing; a
   * retransmitted probe that a D-SACK reports was redundant (no loss); an
   * ACK beyond it without such a D-SACK means the probe repaired a loss:
   * congestion control reduces once (as Linux's TLP recovery).
   */
  private tlpOnAck(ack: number, dsack: readonly [number, number] | null, now: number): void {
    const end = this.tlpEndSeq;
    if (end === null || seqLt(ack, end)) return;
    if (!this.tlpIsRetrans || (dsack && seqLt(dsack[0], end) && seqGeq(dsack[1], seqAdd(end, -1)))) {
      this.tlpEndSeq = null;
      return;
    }
    if (seqGt(ack, end)) {
      this.tlpEndSeq = null;
      this.stats.tlpRecoveries++;
      this.cc.onEnterRecovery(now, this.flight);
      this.cc.onExitRecovery();
    }
  }

  /**
   * RFC 2883 §4: the first SACK block is a D-SACK when it lies below the
   * cumulative ACK or inside the second block. It is then no SACK
   * information (the scoreboard never sees it). A D-SACK that matches one of
   * our recent retransmissions shows it was unnecessary (counted; no undo).
   */
  private takeDsack(blocks: readonly (readonly [number, number])[], ack: number): readonly [number, number] | null {
    const [l, r] = blocks[0]!;
    const second = blocks[1];
    if (!(seqLt(l, ack) || (second && seqGeq(l, second[0]) && seqLeq(r, second[1])))) return null;
    if (!seqLt(l, r)) return null;
    this.stats.rcvDsacks++;
    const log = this.rexmitLog;
    for (let i = 0; i < log.length; i += 2) {
      if (seqLt(l, log[i + 1]!) && seqGt(r, log[i]!)) {
        this.stats.spuriousRexmits++;
        log.splice(i, 2);
        break;
      }
    }
    return blocks[0]!;
  }

  private ourFinAcked(): void {
    // Nothing left to send: without this, output() would take the FIN as still queued and send another.
    this.finQueued = false;
    switch (this.state) {
      case 'FIN_WAIT_1':
        this.state = 'FIN_WAIT_2';
        if (this.ownerGone) this.armWait(this.host.config.finWait2Ms, () => this.closeNow());
        break;
      case 'CLOSING':
        this.enterTimeWait();
        break;
      case 'LAST_ACK':
        this.closeNow();
        break;
      default:
        break;
    }
  }

  /** In-order and out-of-order data (seventh step), then the FIN (eighth). */
  private receive(seq: number, payload: Uint8Array, fin: boolean): void {
    const c = this.stats;
    if (seq === this.rcvNxt) {
      if (payload.length > 0) {
        // No copy: the segment's buffer is the stack's own (the link layer copied it out of the driver).
        this.deliver(payload);
        this.rcvNxt = seqAdd(this.rcvNxt, payload.length);
      }
      let gotFin = fin;
      if (!this.reass.isEmpty) {
        const t = this.reass.take(this.rcvNxt);
        if (this.reass.lastDup) this.noteDsack(this.reass.lastDup[0], this.reass.lastDup[1]);
        for (const ch of t.chunks) this.deliver(ch);
        this.rcvNxt = seqAdd(this.rcvNxt, t.bytes);
        gotFin = gotFin || t.fin;
        this.ackNow = true; // filled a hole: ACK at once (RFC 5681 §4.2)
      }
      if (gotFin) this.peerFin();
      else if (payload.length > 0) this.delayAck(payload.length);
    } else {
      // Out of order: queue it and send a duplicate ACK with SACK blocks at once.
      const r = this.reass.insert(seq, payload, fin);
      if (r.ok) {
        c.rcvOooSegs++;
        if (this.reass.lastDup) this.noteDsack(this.reass.lastDup[0], this.reass.lastDup[1]);
      } else c.rcvOooFull++;
      this.ackNow = true;
    }
  }

  /**
   * RFC 2883: duplicate data [l, r) arrived; the next ACK reports it first,
   * at once. One range per ACK: a later duplicate before it goes replaces it
   * (Linux extends a contiguous one; RFC 2883 §4 asks only for the latest).
   */
  private noteDsack(l: number, r: number): void {
    if (!this.sackOk || !seqLt(l, r)) return;
    const d = this.dsack;
    if (d && d[1] === l) d[1] = r;
    else if (d && r === d[0]) d[0] = l;
    else this.dsack = [l, r];
    this.ackNow = true;
  }

  private deliver(chunk: Uint8Array): void {
    this.stats.rcvBytes += chunk.length;
    this.rcvQueued += chunk.length;
    this.owner?.data(chunk);
  }

  /** End of a receive burst: the ACK owed for the data it brought, unless one already went. */
  flushStretchAck(): void {
    this.ackDeferred = false;
    if (this.delAckPending < 2 || this.state === 'CLOSED') return;
    this.stats.sndStretchAcks++;
    this.ackNow = true;
    this.output();
  }

  private delayAck(len: number): void {
    this.delAckPending++;
    this.delAckBytes += len;
    // At least every second full-sized segment (RFC 9293 §3.8.6.3), else within delAckMs. Within a
    // receive burst, one ACK at its end covers it all (a stretch ACK, bounded: see IMPLEMENTATION §10b).
    if (this.delAckPending >= 2) {
      if (this.ackDeferred) {
        if (this.delAckBytes < Math.min(STRETCH_ACK_MAX, this.rcvBuf >>> 2)) return;
      } else if (this.host.deferAck?.(this)) {
        this.ackDeferred = true;
        return;
      }
      this.ackNow = true;
      return;
    }
    if (!this.delAckTimer) {
      this.delAckTimer = this.host.timer(this.host.config.delAckMs, () => {
        this.delAckTimer = null;
        if (this.delAckPending > 0) {
          this.ackNow = true;
          this.stats.sndDelAcks++;
          this.output();
        }
      });
    }
  }

  private peerFin(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
    switch (this.state) {
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.state = 'CLOSE_WAIT';
        break;
      case 'FIN_WAIT_1':
        // Our FIN not yet acknowledged (else ackProcess moved us to FIN-WAIT-2): simultaneous close.
        this.state = 'CLOSING';
        break;
      case 'FIN_WAIT_2':
        this.enterTimeWait();
        break;
      default:
        break;
    }
    this.owner?.eof();
  }

  private enterTimeWait(): void {
    this.state = 'TIME_WAIT';
    this.cancelRexmt();
    this.persistTimer?.cancel();
    this.keepTimer?.cancel();
    this.armWait(2 * this.host.config.msl, () => this.closeNow());
  }

  private armWait(ms: number, fn: () => void): void {
    this.waitTimer?.cancel();
    this.waitTimer = this.host.timer(ms, () => {
      this.waitTimer = null;
      fn();
    });
  }

  private challengeAck(): void {
    this.stats.sndChallengeAcks++;
    this.ackNow = true;
    this.output();
  }

  private reset(code: string | null): void {
    this.stats.drops++;
    const owner = this.owner;
    this.closeNow(false);
    if (code) owner?.error(code);
  }

  // ---- output (tcp_output) ------------------------------------------------------------

  private tsNow(): number {
    return (Math.floor(this.host.now()) + this.tsOffset) >>> 0;
  }

  /** Sends what the state, windows and buffers allow; at least an ACK when one is owed. */
  output(): void {
    if (this.state === 'CLOSED' || this.state === 'LISTEN') return;
    for (let guard = 0; guard < 10_000; guard++) {
      const synPending = (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED') && this.sndNxt === this.iss;
      if (synPending) {
        this.sendSegment(0, 0, true, false);
        continue;
      }
      if (this.state === 'SYN_SENT' || (this.state === 'SYN_RECEIVED' && !this.ackNow)) return;
      const off = seqDiff(this.sndNxt, this.sndUna) - (seqLeq(this.sndUna, this.iss) ? 1 : 0);
      const avail = this.snd.length - off;
      const win = Math.min(this.sndWnd, this.cc.cwnd);
      const inFlight = seqDiff(this.sndNxt, this.sndUna);
      let len = Math.max(0, Math.min(avail, win - inFlight, this.mss));
      // The FIN goes with the segment that reaches the end of the queued data (again, when retransmitting).
      const finHere = this.finQueued && off >= 0 && off + len === this.snd.length;
      let send = false;
      if (len > 0) {
        // Nagle (RFC 9293 §3.7.4): a small segment only if nothing is in flight, or when NoDelay, or with the FIN.
        // It holds back new data only: a retransmission (below SND.MAX) goes as it is.
        if (len === this.mss || this.noDelay || inFlight === 0 || finHere || seqLt(this.sndNxt, this.sndMax)) send = true;
        else len = 0;
      }
      if (finHere && len === avail) send = true;
      if (this.ackNow) send = true;
      if (!send) {
        // Zero window with data waiting and nothing in flight: probe (persist, §3.8.6.1).
        if (avail > 0 && this.sndWnd === 0 && inFlight === 0 && !this.persistTimer && !this.rexmtTimer) this.armPersist();
        return;
      }
      this.sendSegment(off, len, false, finHere && len === avail);
      if (len === 0 && !(finHere && len === avail)) return;
    }
  }

  /** Sequence number of the first byte in the send buffer (SND.UNA, or ISS+1 while the SYN is unacknowledged). */
  private dataStart(): number {
    return seqLeq(this.sndUna, this.iss) ? seqAdd(this.iss, 1) : this.sndUna;
  }

  /** Sequence number our FIN takes (or will take). */
  private finSeq(): number {
    return seqAdd(this.dataStart(), this.snd.length);
  }

  private finSent(): boolean {
    return this.finQueued && seqGt(this.sndMax, this.finSeq());
  }

  /** Builds and sends one segment at SND.NXT with `len` bytes starting `off` into the send buffer. */
  private sendSegment(off: number, len: number, syn: boolean, fin: boolean): void {
    let flags = 0;
    if (syn) flags |= TH_SYN;
    if (this.state !== 'SYN_SENT') flags |= TH_ACK;
    if (fin) flags |= TH_FIN;
    if (len > 0 && off + len === this.snd.length) flags |= TH_PSH;
    const opts: TcpOptions = {};
    const c = this.host.config;
    if (syn) {
      opts.mss = this.advMss;
      if (this.state === 'SYN_SENT' || this.rcvWscale > 0 || this.sndWscale > 0) {
        if (this.state === 'SYN_SENT' || this.sndWscale >= 0) opts.wscale = this.rcvWscale;
      }
      if (this.state === 'SYN_SENT' ? c.sack : this.sackOk) opts.sackPermitted = true;
      if (this.state === 'SYN_SENT' ? c.timestamps : this.tsOk) opts.ts = { val: this.tsNow(), ecr: this.state === 'SYN_SENT' ? 0 : this.tsRecent };
      if (this.state === 'SYN_RECEIVED' && this.sndWscale === 0 && this.rcvWscale === 0) delete opts.wscale;
    } else {
      if (this.tsOk) opts.ts = { val: this.tsNow(), ecr: this.tsRecent };
      if (this.sackOk) {
        const max = this.tsOk ? 3 : 4;
        const d = this.dsack;
        if (d) {
          // RFC 2883 §4: the D-SACK block first, then the usual blocks (a block containing it next, as the most recent).
          opts.sack = [d, ...(this.reass.isEmpty ? [] : this.reass.sackBlocks(max - 1))];
          this.dsack = null;
          this.stats.sndDsacks++;
        } else if (!this.reass.isEmpty) opts.sack = this.reass.sackBlocks(max);
      }
    }
    const wnd = this.rcvWindow();
    const scaled = syn ? Math.min(wnd, MAX_WIN) : Math.min(wnd >>> this.rcvWscale, MAX_WIN);
    // A bare ACK carries SND.MAX, not SND.NXT (BSD's tcp_output): while going back after a timeout SND.NXT is
    // below what the peer has received, and a zero-length segment below RCV.NXT is unacceptable (§3.10.7.4) —
    // the peer would drop it, ACK field and all, and answer with its own, equally stale, ACK.
    // But never past the right edge of the peer's window (Linux's tcp_acceptable_seq): with the window shut
    // or small and data sent beyond what it took, SND.MAX is out of the window and the peer drops the ACK —
    // against the kernel an echo stalled so, the kernel's window at zero and our window updates unheard.
    const wndEnd = seqAdd(this.sndUna, this.sndWnd);
    const seq = len === 0 && !syn && !fin ? (seqLeq(this.sndMax, wndEnd) ? this.sndMax : wndEnd) : this.sndNxt;
    const isRexmit = seqLt(seq, this.sndMax);
    const ok = this.host.send(
      this,
      { sport: this.lport, dport: this.fport, seq, ack: flags & TH_ACK ? this.rcvNxt : 0, flags, window: scaled, urgent: 0, options: opts },
      len > 0 ? null : null,
      off,
      len,
    );
    const s = this.stats;
    if (ok) {
      s.sndTotal++;
      if (len > 0) {
        if (isRexmit) {
          s.sndRexmitBytes += len;
          s.sndRexmitPack++;
          if (this.sackOk) {
            if (this.rexmitLog.length >= 2 * REXMIT_LOG) this.rexmitLog.splice(0, 2);
            this.rexmitLog.push(seq, seqAdd(seq, len));
          }
        } else s.sndBytes += len;
      } else if (!syn && !fin) s.sndAcks++;
    } else s.sndErrors++;
    this.rcvAdv = seqAdd(this.rcvNxt, scaled << (syn ? 0 : this.rcvWscale));
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.delAckPending = 0;
    this.delAckBytes = 0;
    this.delAckTimer?.cancel();
    this.delAckTimer = null;
    if (len > 0 && this.sb) this.sb.sent(seq, len);
    if (this.rack && !syn && (len > 0 || fin)) {
      this.rack.onSend(seq, seqAdd(seq, len + (fin ? 1 : 0)), this.host.now());
      if (!isRexmit && !this.sendingProbe) this.schedulePto();
    }
    const used = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (used > 0) {
      if (!this.timing && !isRexmit && !this.tsOk) this.timing = { seq, at: this.host.now() };
      this.sndNxt = seqAdd(this.sndNxt, used);
      this.sndMax = seqMax(this.sndMax, this.sndNxt);
      if (!this.rexmtTimer) this.armRexmt(false);
    }
  }

  /** Sends a bare segment outside the state machine (RST, keepalive probe). */
  private sendRaw(p: { seq: number; ack: number; flags: number; probe?: boolean }): void {
    const opts: TcpOptions = {};
    if (this.tsOk && !(p.flags & TH_RST)) opts.ts = { val: this.tsNow(), ecr: this.tsRecent };
    this.host.send(this, { sport: this.lport, dport: this.fport, seq: p.seq, ack: p.ack, flags: p.flags, window: Math.min(this.rcvWindow() >>> this.rcvWscale, MAX_WIN), urgent: 0, options: opts }, null, 0, 0);
  }

  // ---- timers -------------------------------------------------------------------

  private armRexmt(restart: boolean): void {
    if (this.rexmtTimer && !restart) return;
    this.rexmtTimer?.cancel();
    this.rexmtAt = this.host.now() + this.rtt.rto;
    this.rexmtTimer = this.host.timer(this.rtt.rto, () => this.rexmtTimeout());
  }

  private cancelRexmt(): void {
    this.rexmtTimer?.cancel();
    this.rexmtTimer = null;
  }

  /** RFC 6298 §5.4–5.6: back off, retransmit the earliest unacknowledged segment; give up after the limit. */
  private rexmtTimeout(): void {
    this.rexmtTimer = null;
    const c = this.stats;
    c.rexmtTimeouts++;
    const limit = this.synchronized ? this.host.config.maxRexmits : this.host.config.maxSynRexmits;
    if (++this.rexmits > limit) {
      c.timeoutDrops++;
      if (!this.synchronized) c.conndrops++;
      // BSD's tcp_drop: a synchronized connection tells the peer with a RST.
      if (this.synchronized && this.state !== 'TIME_WAIT') {
        this.sendRaw({ seq: this.sndNxt, ack: 0, flags: TH_RST });
        c.sndRst++;
      }
      const owner = this.owner;
      this.closeNow(false);
      owner?.error(this.softError ?? 'ETIMEDOUT');
      return;
    }
    this.rtt.backoff();
    this.timing = null;
    // RFC 5681 §3.1: only the first timeout of a segment resets ssthresh.
    if (this.synchronized && this.rexmits === 1) this.cc.onRto(this.flight);
    this.inRecovery = false;
    this.dupAcks = 0;
    this.sb?.onRto();
    this.tlpEndSeq = null;
    this.tlpAt = 0;
    const rk = this.rack;
    // (A window shut with data outstanding goes the old way below, which leaves it to the persist timer.)
    if (rk && this.synchronized && rk.count > 0 && this.sndWnd > 0) {
      // RACK (RFC 8985 §6.3 with RFC 6675 §5.1): everything not SACKed is lost and goes again lowest first in slow
      // start, SACKed data is not resent. A second timeout in a row forgets the SACKs (the receiver may have reneged).
      rk.markAllLost(this.rexmits >= 2);
      this.inRtoRecovery = true;
      this.rtoRecover = this.sndMax;
      this.rackRecover();
      if (!this.rexmtTimer && this.sndUna !== this.sndMax) this.armRexmt(false);
      return;
    }
    this.sndNxt = this.sndUna;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED') this.sndNxt = this.iss;
    this.output();
    if (!this.rexmtTimer && this.sndUna !== this.sndMax) this.armRexmt(false);
  }

  /**
   * RFC 6675 §5 step (C): while the estimated pipe is below cwnd, send the
   * segment NextSeg() picks — a lost hole, new data, or a hole not yet
   * known lost — then return to the normal sending position.
   */
  private sackRecover(): void {
    const sb = this.sb;
    if (!sb) return;
    const saved = this.sndNxt;
    for (let guard = 0; guard < 256 && sb.pipe() < this.cc.cwnd; guard++) {
      const newBytes = Math.max(0, this.snd.length - (seqDiff(this.sndMax, this.sndUna) - (seqLeq(this.sndUna, this.iss) ? 1 : 0)));
      const next = sb.nextSeg(Math.min(newBytes, Math.max(0, this.sndWnd - this.flight)));
      if (!next) break;
      const off = seqDiff(next.seq, this.dataStart());
      const len = Math.min(next.len, this.mss, this.snd.length - off);
      if (off < 0 || len <= 0) break;
      this.sndNxt = next.seq;
      this.sendSegment(off, len, false, false);
    }
    if (seqGt(saved, this.sndNxt)) this.sndNxt = saved;
    if (seqLt(this.sndNxt, this.sndMax)) this.sndNxt = this.sndMax;
  }

  private retransmitHead(): void {
    const saved = this.sndNxt;
    this.sndNxt = this.sndUna;
    const off = 0;
    const avail = this.snd.length;
    const len = Math.min(avail, this.mss);
    const fin = this.finQueued && len === avail && this.finSent();
    if (len > 0 || fin) this.sendSegment(off, len, false, fin);
    if (seqGt(saved, this.sndNxt)) this.sndNxt = saved;
  }

  private armPersist(): void {
    const ms = Math.min(60_000, Math.max(this.rtt.rto, 5) * 2 ** this.persistBackoff);
    this.persistTimer = this.host.timer(ms, () => {
      this.persistTimer = null;
      if (this.state === 'CLOSED' || this.sndWnd > 0) return;
      this.stats.persistTimeouts++;
      // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a receiver may keep its window shut as long as it likes, so
      // probes go on while they are answered; maxRexmits unanswered in a row mean the peer is gone (Linux's
      // tcp_probe_timer). An orphan (nobody will ever write or read again) stops after orphanRetries probes,
      // answered or not: it cannot wait forever for a window to open.
      const c = this.host.config;
      if (this.persistProbesOut >= c.maxRexmits || (this.ownerGone && this.persistProbes >= c.orphanRetries)) {
        this.stats.persistDrops++;
        this.stats.drops++;
        this.sendRaw({ seq: this.sndNxt, ack: 0, flags: TH_RST });
        this.stats.sndRst++;
        const owner = this.owner;
        this.closeNow(false);
        owner?.error(this.softError ?? 'ETIMEDOUT');
        return;
      }
      this.persistProbesOut++;
      this.persistProbes++;
      this.stats.sndProbe++;
      this.persistBackoff = Math.min(this.persistBackoff + 1, 8);
      // A one-byte probe past the closed window (§3.8.6.1): always the first unacknowledged byte (a refused
      // probe must not be followed by the next one), sent again with the data when the window opens. The
      // persist timer repeats it, not the RTO, which would give up on a receiver that answers (§3.8.6.1).
      this.sndNxt = this.sndUna;
      if (this.snd.length > 0) {
        const saved = this.sndWnd;
        this.sndWnd = 1;
        this.sendingProbe = true;
        this.sendSegment(0, 1, false, false);
        this.sendingProbe = false;
        this.sndWnd = saved;
        this.sndNxt = this.sndUna;
        this.cancelRexmt();
      }
      this.armPersist();
    });
  }

  setKeepAlive(on: boolean, idleMs?: number): void {
    this.keepAlive = on;
    if (idleMs !== undefined && idleMs > 0) this.keepIdleMs = idleMs;
    this.keepTimer?.cancel();
    this.keepTimer = null;
    if (on) this.armKeep(this.keepIdleMs);
  }

  private armKeep(ms: number): void {
    this.keepTimer = this.host.timer(ms, () => {
      this.keepTimer = null;
      if (!this.keepAlive || !this.synchronized || this.state === 'TIME_WAIT') return;
      const idle = this.host.now() - this.lastRecv;
      if (idle < this.keepIdleMs && this.keepProbes === 0) return this.armKeep(this.keepIdleMs - idle);
      if (this.keepProbes >= this.host.config.keepCnt) {
        this.stats.keepDrops++;
        const owner = this.owner;
        this.closeNow(false);
        owner?.error('ETIMEDOUT');
        return;
      }
      this.keepProbes++;
      this.stats.keepProbes++;
      // RFC 9293 §3.8.4: a segment with SEG.SEQ = SND.NXT − 1 and no data provokes an ACK.
      this.sendRaw({ seq: seqAdd(this.sndUna, -1), ack: this.rcvNxt, flags: TH_ACK });
      this.armKeep(this.host.config.keepIntvlMs);
    });
  }

  /** RFC 8201 / RFC 5927: a smaller path MTU lowers the MSS; the lost segment is sent again at once. */
  pmtuChanged(mtu: number): void {
    const optLen = this.tsOk ? 12 : 0;
    const mss = Math.max(64, Math.min(this.peerMss, mtu - 60) - optLen);
    if (mss >= this.mss) return;
    this.mss = mss;
    // The congestion window keeps its size in segments (cc.ts setMss); the scoreboard's SMSS follows.
    this.cc.setMss(mss);
    if (this.sb) this.sb.smss = mss;
    this.stats.pmtuChanges++;
    const rk = this.rack;
    if (rk && this.synchronized && rk.count > 0) {
      // As Linux's tcp_simple_retransmit: the records too large for the new size were dropped on the way; they
      // are lost and go again, cut to the new MSS, while pipe < cwnd. Nothing else is resent and cwnd is not cut.
      rk.markLostLongerThan(mss);
      this.rackRecover();
      return;
    }
    if (this.sndUna !== this.sndMax) {
      this.sndNxt = this.sndUna;
      this.output();
    }
  }

  /** RFC 5927 §5.2 / RFC 1122 §4.2.3.9: a hard error while opening aborts the connection at once. */
  hardError(code: string): void {
    this.stats.drops++;
    this.stats.conndrops++;
    const owner = this.owner;
    this.closeNow(false);
    owner?.error(code);
  }

  /** Drops every timer and leaves the tables; `notify` tells the owner it closed. */
  closeNow(notify = true): void {
    if (this.state === 'CLOSED' && !this.rexmtTimer && !this.waitTimer) {
      return;
    }
    this.state = 'CLOSED';
    for (const t of [this.rexmtTimer, this.persistTimer, this.delAckTimer, this.keepTimer, this.waitTimer, this.tlpTimer, this.reoTimer]) t?.cancel();
    this.rexmtTimer = this.persistTimer = this.delAckTimer = this.keepTimer = this.waitTimer = this.tlpTimer = this.reoTimer = null;
    this.tlpAt = 0;
    this.rack?.clear();
    this.snd.clear();
    this.reass.clear();
    this.host.release(this);
    const o = this.owner;
    if (notify) o?.closed();
  }

  /** Called by the socket when the application is done with the connection. */
  detach(): void {
    this.ownerGone = true;
    if (this.state === 'FIN_WAIT_2') this.armWait(this.host.config.finWait2Ms, () => this.closeNow());
  }

  /** The payload bytes of a segment being built (the host copies them into the packet). */
  copyPayload(off: number, len: number, out: Uint8Array, at: number): void {
    this.snd.copyOut(off, len, out, at);
  }

  sendRst(seq: number): void {
    this.sendRaw({ seq, ack: 0, flags: TH_RST });
  }
}

export { TH_ACK, TH_FIN, TH_PSH, TH_RST, TH_SYN };
