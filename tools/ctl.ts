/**
 * The control socket between `tap6 up` (the daemon) and the other tap6
 * commands: a Unix stream socket carrying JSON, one object per line.
 *
 *   request   {"id":1,"cmd":"ifconfig","args":{"ifname":"tap0"}}
 *   success   {"id":1,"ok":true,"result":{...}}
 *   failure   {"id":1,"ok":false,"error":{"code":"ENXIO","message":"tap9: no such interface"}}
 *   event     {"id":1,"event":"reply",...}     (streamed before the final line, e.g. by ping6)
 *
 * A client may have several requests outstanding on one connection; every
 * line carries the id of its request. `{"cmd":"cancel","args":{"id":N}}`
 * stops request N early (ping6 on Ctrl-C), and closing the connection stops
 * all of its requests. A request the server cannot read (bad JSON, no id, a
 * line over the size bound) gets a failure with `"id":null`; a line over the
 * bound also ends the connection. The server bounds the line size, the number
 * of connections, the requests outstanding per connection and the bytes
 * queued towards a client that does not read; a misbehaving client is cut
 * off, the daemon carries on.
 *
 * The socket lives in /run/tap6/NAME.sock (NAME: the TAP), in a directory only
 * root can enter; `--ctl PATH` overrides it on both sides.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';

export const DEFAULT_CTL_DIR = '/run/tap6';
/** Longest request line the server reads (bytes, newline excluded). */
export const MAX_REQUEST_LINE = 64 * 1024;
/** Longest response line the client reads. */
export const MAX_RESPONSE_LINE = 16 * 1024 * 1024;
export const MAX_CLIENTS = 16;
export const MAX_PENDING_PER_CLIENT = 16;
/** Bytes queued towards a client that stops reading before it is cut off. */
export const MAX_CLIENT_BACKLOG = 1024 * 1024;

/** An error with an errno-style code, as carried in a failure line. */
export class CtlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CtlError';
  }
}

export interface CtlRequest {
  id: number;
  cmd: string;
  args: Record<string, unknown>;
}

export interface HandlerCtx {
  /** Streams an event line for this request (ignored once it has finished). */
  emit(event: string, data: Record<string, unknown>): void;
  /** Aborted by a cancel request or when the client goes away. */
  signal: AbortSignal;
}

/** Returns the result (any JSON value) or throws a CtlError. */
export type Handler = (args: Record<string, unknown>, ctx: HandlerCtx) => unknown;

export interface ServerOptions {
  path: string;
  handlers: Record<string, Handler>;
  /** Told about unexpected handler failures and cut-off clients. */
  log?: (msg: string) => void;
  maxLine?: number;
  maxClients?: number;
}

// ---- path helpers -------------------------------------------------------------

/** The daemon's default socket for a TAP. */
export function defaultCtlPath(tapName: string, dir = DEFAULT_CTL_DIR): string {
  return join(dir, `${tapName}.sock`);
}

/** mkdir -p the socket directory, readable by its owner only. */
export function ensureCtlDir(dir = DEFAULT_CTL_DIR): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Which socket a client talks to: the one given, else the only socket in the
 * directory. Throws a CtlError whose message is ready for the user.
 */
export function resolveCtlPath(explicit: string | undefined, dir = DEFAULT_CTL_DIR): string {
  if (explicit) return explicit;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new CtlError('EACCES', `cannot read ${dir}: permission denied (the daemon runs as root; try sudo)`);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new CtlError(code ?? 'EIO', `cannot read ${dir}: ${(e as Error).message}`);
    names = [];
  }
  const socks = names
    .filter((n) => n.endsWith('.sock'))
    .map((n) => join(dir, n))
    .filter((p) => isSocket(p))
    .sort();
  if (socks.length === 1) return socks[0]!;
  if (socks.length === 0) throw new CtlError('ENOENT', `no daemon running (no control socket in ${dir}); start one with: tap6 up --tap NAME`);
  throw new CtlError('EEXIST', `several daemons are running (${socks.join(', ')}); choose one with --ctl PATH`);
}

function isSocket(p: string): boolean {
  try {
    return lstatSync(p).isSocket();
  } catch {
    return false;
  }
}

/** The user's sentence for a failed connect(). */
export function connectErrorMessage(path: string, e: NodeJS.ErrnoException): CtlError {
  switch (e.code) {
    case 'ENOENT':
      return new CtlError('ENOENT', `no daemon at ${path} (no such socket); start one with: tap6 up --tap NAME --ctl ${path}`);
    case 'ECONNREFUSED':
      return new CtlError('ECONNREFUSED', `no daemon listening on ${path} (stale control socket: connection refused)`);
    case 'EACCES':
    case 'EPERM':
      return new CtlError(e.code, `${path}: permission denied (the daemon runs as root; try sudo)`);
    case 'ENOTSOCK':
      return new CtlError('ENOTSOCK', `${path} is not a control socket`);
    default:
      return new CtlError(e.code ?? 'EIO', `cannot connect to ${path}: ${e.message}`);
  }
}

/** Resolves true if something accepts connections on `path`. */
function probeListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ---- line framing ---------------------------------------------------------------

/**
 * Splits a byte stream into lines without holding more than `max` bytes of an
 * unfinished line. `onLine` gets each line (without the newline); `onOverflow`
 * is called once if a line grows past the bound, after which input is ignored.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private held = 0;
  private dead = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (!this.dead) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.held + (end - start) > this.max) {
        this.dead = true;
        this.parts = [];
        this.onOverflow();
        return;
      }
      if (nl < 0) {
        if (end > start) {
          this.parts.push(chunk.subarray(start));
          this.held += end - start;
        }
        return;
      }
      this.parts.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.held = 0;
      start = nl + 1;
      this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
  }
}

// ---- server ---------------------------------------------------------------------

interface Conn {
  sock: Socket;
  pending: Map<number, AbortController>;
  closed: boolean;
}

export class CtlServer {
  private readonly conns = new Set<Conn>();
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly server: Server,
    readonly path: string,
    private readonly opts: ServerOptions,
  ) {
    server.on('connection', (sock) => this.accept(sock));
  }

  /**
   * Listens on `opts.path`. A socket file left by a dead daemon is removed;
   * one that something still listens on is an error (EADDRINUSE), and so is a
   * path that exists and is not a socket.
   */
  static async listen(opts: ServerOptions): Promise<CtlServer> {
    const path = opts.path;
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CtlError('EIO', `${path}: ${(e as Error).message}`);
    }
    if (st) {
      if (!st.isSocket()) throw new CtlError('EEXIST', `${path} exists and is not a socket; remove it or choose another --ctl path`);
      if (await probeListening(path)) throw new CtlError('EADDRINUSE', `a daemon is already listening on ${path}`);
      unlinkSync(path);
    }
    const server = createServer({ allowHalfOpen: false });
    server.maxConnections = 1024; // the real bound is applied per accept, with a message
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      throw new CtlError(e.code ?? 'EIO', `cannot listen on ${path}: ${e.message}`);
    });
    try {
      chmodSync(path, 0o600);
    } catch {
      /* the directory's mode protects it anyway */
    }
    return new CtlServer(server, path, opts);
  }

  get clients(): number {
    return this.conns.size;
  }

  /** Stops listening, aborts every request, closes every connection, removes the socket file. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    for (const c of this.conns) this.drop(c);
    this.closing = new Promise<void>((resolve) => this.server.close(() => resolve())).then(() => {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    });
    return this.closing;
  }

  private accept(sock: Socket): void {
    const max = this.opts.maxClients ?? MAX_CLIENTS;
    if (this.conns.size >= max || this.closing) {
      sock.on('error', () => {});
      sock.resume(); // discard what it sends, so that its end is seen
      sock.end(line({ id: null, ok: false, error: { code: 'EBUSY', message: `too many control connections (at most ${max})` } }), () => sock.destroy());
      return;
    }
    const c: Conn = { sock, pending: new Map(), closed: false };
    this.conns.add(c);
    const reader = new LineReader(
      this.opts.maxLine ?? MAX_REQUEST_LINE,
      (l) => this.onLine(c, l),
      () => {
        this.send(c, { id: null, ok: false, error: { code: 'E2BIG', message: `request line longer than ${this.opts.maxLine ?? MAX_REQUEST_LINE} bytes` } });
        c.sock.end();
        this.drop(c, false);
      },
    );
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
    sock.on('error', () => this.drop(c));
    sock.on('close', () => this.drop(c));
  }

  /** Forgets a connection and aborts its requests; destroys the socket unless told to let it flush. */
  private drop(c: Conn, destroy = true): void {
    if (!c.closed) {
      c.closed = true;
      this.conns.delete(c);
      for (const ac of c.pending.values()) ac.abort();
      c.pending.clear();
    }
    if (destroy) c.sock.destroy();
  }

  private send(c: Conn, msg: unknown): void {
    if (c.sock.destroyed || !c.sock.writable) return;
    c.sock.write(line(msg));
    if (c.sock.writableLength > MAX_CLIENT_BACKLOG) {
      this.opts.log?.(`control client not reading (${c.sock.writableLength} bytes queued): disconnected`);
      this.drop(c);
    }
  }

  private onLine(c: Conn, text: string): void {
    if (c.closed || text.trim() === '') return;
    const req = parseRequest(text);
    if (!req.ok) {
      this.send(c, { id: req.id, ok: false, error: { code: 'EPROTO', message: req.message } });
      return;
    }
    const { id, cmd, args } = req.value;
    if (cmd === 'cancel') {
      const target = args['id'];
      const ac = typeof target === 'number' ? c.pending.get(target) : undefined;
      if (ac) ac.abort();
      this.send(c, { id, ok: true, result: { cancelled: ac !== undefined } });
      return;
    }
    const h = Object.hasOwn(this.opts.handlers, cmd) ? this.opts.handlers[cmd] : undefined;
    if (!h) {
      this.send(c, { id, ok: false, error: { code: 'ENOSYS', message: `unknown command '${cmd}'` } });
      return;
    }
    if (c.pending.has(id)) {
      this.send(c, { id, ok: false, error: { code: 'EEXIST', message: `request id ${id} is already in progress` } });
      return;
    }
    if (c.pending.size >= MAX_PENDING_PER_CLIENT) {
      this.send(c, { id, ok: false, error: { code: 'EBUSY', message: `too many requests in progress on this connection (at most ${MAX_PENDING_PER_CLIENT})` } });
      return;
    }
    const ac = new AbortController();
    c.pending.set(id, ac);
    let done = false;
    const ctx: HandlerCtx = {
      emit: (event, data) => {
        if (!done && !c.closed) this.send(c, { ...data, id, event });
      },
      signal: ac.signal,
    };
    const finish = (msg: Record<string, unknown>) => {
      if (done) return;
      done = true;
      c.pending.delete(id);
      if (!c.closed) this.send(c, msg);
    };
    let out: unknown;
    try {
      out = h(args, ctx);
    } catch (e) {
      finish(this.failure(id, cmd, e));
      return;
    }
    Promise.resolve(out).then(
      (result) => finish({ id, ok: true, result: result ?? null }),
      (e: unknown) => finish(this.failure(id, cmd, e)),
    );
  }

  private failure(id: number, cmd: string, e: unknown): Record<string, unknown> {
    if (e instanceof CtlError) return { id, ok: false, error: { code: e.code, message: e.message } };
    const msg = e instanceof Error ? e.message : String(e);
    this.opts.log?.(`control command ${cmd} failed: ${e instanceof Error && e.stack ? e.stack : msg}`);
    return { id, ok: false, error: { code: 'EIO', message: `${cmd}: internal error: ${msg}` } };
  }
}

function line(msg: unknown): string {
  return `${JSON.stringify(msg)}\n`;
}

type Parsed = { ok: true; value: CtlRequest } | { ok: false; id: number | null; message: string };

/** Checks a request line; never throws. */
export function parseRequest(text: string): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, id: null, message: 'malformed request: not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, id: null, message: 'malformed request: not a JSON object' };
  const o = v as Record<string, unknown>;
  const id = o['id'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return { ok: false, id: null, message: "malformed request: 'id' must be a non-negative integer" };
  if (typeof o['cmd'] !== 'string' || o['cmd'] === '') return { ok: false, id, message: "malformed request: 'cmd' must be a string" };
  const args = o['args'] ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return { ok: false, id, message: "malformed request: 'args' must be an object" };
  return { ok: true, value: { id, cmd: o['cmd'], args: args as Record<string, unknown> } };
}

// ---- client ---------------------------------------------------------------------

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: CtlError) => void;
  onEvent: ((event: string, data: Record<string, unknown>) => void) | undefined;
}

export class CtlClient {
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private failed: CtlError | null = null;

  private constructor(
    private readonly sock: Socket,
    readonly path: string,
  ) {
    const reader = new LineReader(
      MAX_RESPONSE_LINE,
      (l) => this.onLine(l),
      () => this.fail(new CtlError('E2BIG', `response from the daemon longer than ${MAX_RESPONSE_LINE} bytes`)),
    );
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
    sock.on('error', (e: NodeJS.ErrnoException) =>
      // A daemon that exits with requests in flight may reset rather than close: the same event for the user.
      this.fail(
        e.code === 'ECONNRESET' || e.code === 'EPIPE'
          ? new CtlError('ECONNRESET', 'the daemon closed the connection')
          : new CtlError(e.code ?? 'EIO', `connection to the daemon failed: ${e.message}`),
      ),
    );
    sock.on('close', () => this.fail(new CtlError('ECONNRESET', 'the daemon closed the connection')));
  }

  /** Connects; rejects with a CtlError whose message is meant for the user. */
  static connect(path: string): Promise<CtlClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      const onErr = (e: NodeJS.ErrnoException) => reject(connectErrorMessage(path, e));
      sock.once('error', onErr);
      sock.once('connect', () => {
        sock.off('error', onErr);
        resolve(new CtlClient(sock, path));
      });
    });
  }

  /**
   * Sends one request and resolves with its result; events streamed before
   * the result go to `onEvent`. Rejects with a CtlError (the daemon's, or a
   * connection failure).
   */
  request(cmd: string, args: Record<string, unknown> = {}, onEvent?: (event: string, data: Record<string, unknown>) => void): { id: number; done: Promise<unknown> } {
    const id = this.nextId++;
    const done = new Promise<unknown>((resolve, reject) => {
      if (this.failed) {
        reject(this.failed);
        return;
      }
      this.waiters.set(id, { resolve, reject, onEvent });
      this.sock.write(line({ id, cmd, args }));
    });
    return { id, done };
  }

  /** request() for commands without events. */
  call(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return this.request(cmd, args).done;
  }

  /** Asks the daemon to stop request `id` (its final line still follows). */
  cancel(id: number): Promise<unknown> {
    return this.call('cancel', { id });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }

  private fail(e: CtlError): void {
    if (!this.failed) this.failed = e;
    for (const w of this.waiters.values()) w.reject(e);
    this.waiters.clear();
    this.sock.destroy();
  }

  private onLine(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.fail(new CtlError('EPROTO', 'the daemon sent a malformed line'));
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const id = msg['id'];
    if (id === null) {
      // A failure the daemon could not tie to a request: fail everything outstanding.
      const e = msg['error'] as { code?: string; message?: string } | undefined;
      this.fail(new CtlError(e?.code ?? 'EPROTO', e?.message ?? 'the daemon refused the request'));
      return;
    }
    const w = typeof id === 'number' ? this.waiters.get(id) : undefined;
    if (!w) return;
    if (typeof msg['event'] === 'string') {
      w.onEvent?.(msg['event'], msg);
      return;
    }
    this.waiters.delete(id as number);
    if (msg['ok'] === true) w.resolve(msg['result']);
    else {
      const e = msg['error'] as { code?: string; message?: string } | undefined;
      w.reject(new CtlError(e?.code ?? 'EIO', e?.message ?? 'request failed'));
    }
  }
}
