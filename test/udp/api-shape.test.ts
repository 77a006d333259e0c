/**
 * The socket API against node:dgram itself: the same methods exist, the
 * same createSocket argument forms work, and one scenario (bind, send,
 * receive, reply, connect, a port clash, misuse, close) run once on a real
 * node:dgram socket over ::1 and once on tap6 over its ::1 (lo0, virtual
 * clock) fires the same events in the same order, with the same rinfo keys
 * (ours adds scopeid), the same error codes and the same thrown ERR_* codes.
 */
import test from 'ava';
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { VirtualClock } from '../../src/core/clock.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { Stack } from '../../src/stack.ts';
import { Socket } from '../../src/udp/socket.ts';

const METHODS = [
  'bind',
  'connect',
  'disconnect',
  'send',
  'close',
  'address',
  'remoteAddress',
  'setMulticastInterface',
  'addMembership',
  'dropMembership',
  'setMulticastLoopback',
  'setMulticastTTL',
  'setTTL',
  'setBroadcast',
  'setRecvBufferSize',
  'setSendBufferSize',
  'getRecvBufferSize',
  'getSendBufferSize',
  'getSendQueueSize',
  'getSendQueueCount',
  'ref',
  'unref',
] as const;

test('every listed method exists on node’s dgram.Socket and on ours, and both are EventEmitters', (t) => {
  const theirs = dgram.Socket.prototype as unknown as Record<string, unknown>;
  const ours = Socket.prototype as unknown as Record<string, unknown>;
  for (const m of METHODS) {
    t.is(typeof theirs[m], 'function', `node:dgram has ${m}`);
    t.is(typeof ours[m], 'function', `tap6 has ${m}`);
  }
  const n = dgram.createSocket('udp6');
  t.true(n instanceof EventEmitter);
  n.close();
  t.true(Socket.prototype instanceof EventEmitter);
});

/** The part of the API the scenario uses, met by both implementations. */
interface DgramLike extends EventEmitter {
  bind(port: number, address: string, cb?: () => void): unknown;
  send(msg: string, port: number, address: string, cb?: (e: Error | null, n?: number) => void): void;
  send(msg: string, cb?: (e: Error | null, n?: number) => void): void;
  connect(port: number, address: string, cb?: () => void): void;
  disconnect(): void;
  close(cb?: () => void): unknown;
  address(): { address: string; family: string; port: number };
  remoteAddress(): { address: string; family: string; port: number };
}

interface Impl {
  createSocket(type: 'udp6' | { type: 'udp6'; reuseAddr?: boolean; recvBufferSize?: number; sendBufferSize?: number }, listener?: (m: Buffer, r: object) => void): DgramLike;
  /** Waits for `p`, making the implementation run meanwhile. */
  until<T>(p: Promise<T>): Promise<T>;
  close(): void;
}

function nodeImpl(): Impl {
  return {
    createSocket: (type, listener) => (dgram.createSocket as (...a: unknown[]) => unknown)(type, listener) as DgramLike,
    until: <T>(p: Promise<T>) => {
      let timer: NodeJS.Timeout | undefined;
      const guard = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('node:dgram did not answer in 5 s')), 5000)));
      return Promise.race([p, guard]).finally(() => clearTimeout(timer));
    },
    close: () => {},
  };
}

function tap6Impl(): Impl {
  const clock = new VirtualClock();
  const stack = new Stack({ clock, rng: new SeededRng(11) });
  return {
    createSocket: (type, listener) => stack.dgram.createSocket(type, listener) as unknown as DgramLike,
    until: async <T>(p: Promise<T>) => {
      let done = false;
      const q = p.finally(() => (done = true));
      for (let i = 0; i < 100 && !done; i++) {
        clock.advance(1);
        await new Promise<void>((r) => setImmediate(r));
      }
      if (!done) throw new Error('tap6 did not answer');
      return q;
    },
    close: () => stack.close(),
  };
}

/** What a scenario run records: each socket's events in order, and the details worth comparing. */
interface Trace {
  events: Record<string, string[]>;
  notes: Record<string, unknown>;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return 'no throw';
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

async function scenario(impl: Impl): Promise<Trace> {
  const events: Record<string, string[]> = {};
  const notes: Record<string, unknown> = {};
  const watch = (name: string, s: DgramLike) => {
    events[name] = [];
    for (const e of ['listening', 'connect', 'message', 'close', 'error']) s.on(e, () => events[name]!.push(e));
    return s;
  };
  const server = watch('server', impl.createSocket('udp6'));
  await impl.until(new Promise<void>((r) => server.bind(0, '::1', r)));
  const port = server.address().port;
  notes.serverAddress = { ...server.address(), port: 'any' };

  // An unbound client sends: it binds implicitly ('listening'); the server replies to rinfo.
  const client = watch('client', impl.createSocket({ type: 'udp6', reuseAddr: false, recvBufferSize: 65_536, sendBufferSize: 65_536 }));
  const atServer = once(server, 'message') as Promise<[Buffer, Record<string, unknown>]>;
  notes.addressUnbound = codeOf(() => client.address());
  client.send('hello', port, '::1');
  const [msg, rinfo] = await impl.until(atServer);
  notes.message = msg.toString();
  notes.rinfoKeys = Object.keys(rinfo)
    .filter((k) => k !== 'scopeid')
    .sort();
  notes.rinfo = { address: rinfo.address, family: rinfo.family, size: rinfo.size, portIsClients: rinfo.port === client.address().port };
  const atClient = once(client, 'message') as Promise<[Buffer]>;
  let sendCb: [Error | null, number | undefined] | undefined;
  server.send('world', rinfo.port as number, rinfo.address as string, (e, n) => (sendCb = [e, n]));
  notes.reply = (await impl.until(atClient))[0].toString();
  notes.sendCb = sendCb;

  // A listener given to createSocket gets messages; connect on an unbound socket: listening, then connect.
  const viaListener: string[] = [];
  const c3 = watch('c3', impl.createSocket('udp6', (m) => viaListener.push(m.toString())));
  await impl.until(new Promise<void>((r) => c3.connect(port, '::1', r)));
  notes.remote = { ...c3.remoteAddress(), port: c3.remoteAddress().port === port };
  notes.connectTwice = codeOf(() => c3.connect(port, '::1'));
  notes.bindConnected = codeOf(() => c3.bind(0, '::1'));
  const again = once(server, 'message') as Promise<[Buffer, { port: number }]>;
  c3.send('connected');
  const [m3, r3] = await impl.until(again);
  notes.connectedSend = m3.toString();
  await impl.until(new Promise<void>((r) => server.send('to c3', r3.port, '::1', () => r())));
  await impl.until(new Promise<void>((r) => setImmediate(r)).then(() => new Promise<void>((r) => setImmediate(r))));
  notes.viaListener = viaListener;
  c3.disconnect();
  notes.disconnectTwice = codeOf(() => c3.disconnect());
  notes.remoteDisconnected = codeOf(() => c3.remoteAddress());
  notes.badPort = codeOf(() => c3.send('x', 0, '::1'));

  // A port clash is an asynchronous 'error' with node's system error fields.
  const dup = watch('dup', impl.createSocket('udp6'));
  const [err] = (await impl.until(new Promise((r) => (dup.once('error', (e) => r([e])), dup.bind(port, '::1'))))) as [Record<string, unknown>];
  notes.bindError = { code: err.code, errno: err.errno, syscall: err.syscall, address: err.address, port: err.port === port, message: String(err.message).replace(String(port), 'PORT') };

  // Close: 'close' once, then everything is ERR_SOCKET_DGRAM_NOT_RUNNING.
  for (const s of [server, client, c3, dup]) await impl.until(new Promise<void>((r) => s.close(r)));
  notes.afterClose = {
    send: codeOf(() => client.send('x', port, '::1')),
    close: codeOf(() => client.close()),
    address: codeOf(() => client.address()),
  };
  // (node's connect after close fails inside node with a TypeError; ours says ERR_SOCKET_DGRAM_NOT_RUNNING.)
  return { events, notes };
}

test('one scenario on node:dgram over ::1 and on tap6 over ::1: same events in the same order, same rinfo keys, same errors', async (t) => {
  const theirs = await scenario(nodeImpl());
  const tap6 = tap6Impl();
  t.teardown(() => tap6.close());
  const ours = await scenario(tap6);
  t.deepEqual(ours.events, theirs.events);
  t.deepEqual(ours.notes, theirs.notes);
  // And what both look like, so that a change in either shows here.
  t.deepEqual(ours.events, {
    server: ['listening', 'message', 'message', 'close'],
    client: ['listening', 'message', 'close'],
    c3: ['listening', 'connect', 'message', 'close'],
    dup: ['error', 'close'],
  });
  t.like(ours.notes, {
    rinfoKeys: ['address', 'family', 'port', 'size'],
    addressUnbound: 'EBADF',
    connectTwice: 'ERR_SOCKET_DGRAM_IS_CONNECTED',
    bindConnected: 'ERR_SOCKET_ALREADY_BOUND',
    disconnectTwice: 'ERR_SOCKET_DGRAM_NOT_CONNECTED',
    badPort: 'ERR_SOCKET_BAD_PORT',
    afterClose: { send: 'ERR_SOCKET_DGRAM_NOT_RUNNING', close: 'ERR_SOCKET_DGRAM_NOT_RUNNING', address: 'ERR_SOCKET_DGRAM_NOT_RUNNING' },
  });
});

test('createSocket argument forms: node’s forms work on ours; udp4 is refused on ours only (IPv6-only by design)', (t) => {
  const stack = new Stack({ clock: new VirtualClock(), rng: new SeededRng(12) });
  t.teardown(() => stack.close());
  const forms = [['udp6'], [{ type: 'udp6', reuseAddr: true, recvBufferSize: 8192, sendBufferSize: 4096 }], ['udp6', () => {}], [{ type: 'udp6' }, () => {}]] as const;
  for (const args of forms) {
    const n = (dgram.createSocket as (...a: unknown[]) => dgram.Socket)(...args);
    const o = (stack.dgram.createSocket as (...a: unknown[]) => Socket)(...args);
    t.true(n instanceof dgram.Socket);
    t.true(o instanceof Socket);
    t.is(o.listenerCount('message'), n.listenerCount('message'), `listener registered alike for ${JSON.stringify(args)}`);
    n.close();
  }
  const o = stack.dgram.createSocket({ type: 'udp6', recvBufferSize: 8192, sendBufferSize: 4096 });
  t.is(o.getRecvBufferSize(), 8192);
  t.is(o.getSendBufferSize(), 4096);
  const v4 = dgram.createSocket('udp4');
  t.true(v4 instanceof dgram.Socket);
  v4.close();
  t.throws(() => stack.dgram.createSocket('udp4'), { code: 'ERR_SOCKET_BAD_TYPE' });
  t.throws(() => (dgram.createSocket as (t: string) => unknown)('udp5'), { code: 'ERR_SOCKET_BAD_TYPE' });
  t.throws(() => (stack.dgram.createSocket as (t: string) => unknown)('udp5'), { code: 'ERR_SOCKET_BAD_TYPE' });
});
