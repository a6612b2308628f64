/**
 * A TCP proxy on 127.0.0.1 that adds latency and injects faults between a client and a
 * server (normally the action and a test sshd).
 *
 * Latency model: each chunk is delivered `delay` ms after it arrived, in order. Chunks are
 * not serialised behind each other's timers: one arriving 1 ms after another leaves 1 ms
 * after it, so throughput is limited only by the windows of the protocols on top (as on a
 * real long link), not by the proxy.
 *
 * Bandwidth model (`setRate`): each direction of each connection is a link of that many bytes
 * per second, as a slow line is: a chunk is sent once the ones before it are, takes its size
 * over the rate to go out, and arrives `delay` ms after that. The queue in front of the link
 * is then kept small (as a router's is), so the sender sees the link's pace.
 *
 * This module imports nothing but Node built-ins and uses only erasable TypeScript syntax, so
 * plain `node` (type stripping) can import it from benchmarks as well as tests.
 */
import net from 'node:net'

export interface LatencyProxyOptions {
  /** Added delay in ms each way (RTT grows by twice this); default 0. */
  delayMsEachWay?: number
  /** Port to listen on; default an ephemeral one. */
  port?: number
  /**
   * Most bytes held in the delay line per direction and connection before the source is
   * paused (like a TCP window); default 16 MiB, far above SSH's own channel windows.
   */
  maxQueuedBytes?: number
}

export interface LatencyProxy {
  port: number
  /** Change the added delay at run time (ms each way; RTT adds 2x). Applies to data arriving from now on. */
  setDelay(msEachWay: number): void
  /**
   * Cap each direction of each connection at `bytesPerSecond` (undefined: no cap). Applies to
   * data arriving from now on.
   */
  setRate(bytesPerSecond: number | undefined): void
  /** Destroy all current connections abruptly with a TCP RST (ECONNRESET on both ends); new ones are still accepted unless paused. */
  cutAll(): void
  /**
   * Refuse or blackhole new connections until resume(). 'blackhole' (default) accepts them
   * and forwards nothing, like a partition: clients see a connection but no bytes, and if
   * they are still waiting at resume() they get connected through. 'refuse' stops listening,
   * so connects fail with ECONNREFUSED, like a host with nothing on the port.
   */
  pause(mode?: 'blackhole' | 'refuse'): void
  resume(): void
  /**
   * Silently stop forwarding, both ways, on every connection (current and new) without
   * closing anything: a pulled cable that only timeouts and keepalives notice. thawAll()
   * delivers everything held, as TCP would once the link is back.
   */
  freezeAll(): void
  thawAll(): void
  /**
   * Cut a connection (RST both ends) once `bytes` bytes have flowed client->server in it,
   * counted from this call or from the connection's start, whichever is later (mid-upload
   * cut). Exactly `bytes` bytes reach the server. Resolves when the cut happened. One cut by
   * default; with `repeat: true` every connection crossing the threshold is cut until
   * disarmCut(). Rejects if the proxy closes first.
   */
  cutAfterBytes(bytes: number, options?: { repeat?: boolean }): Promise<void>
  disarmCut(): void
  /** Bytes forwarded so far each direction; connections accepted so far and open now. */
  stats(): { up: number; down: number; connections: number; active: number }
  close(): Promise<void>
}

const HOST = '127.0.0.1'

interface Item {
  /** Data, or a marker: 'end' half-closes the destination, 'cut' cuts the whole link. */
  data: Buffer | 'end' | 'cut'
  due: number
}

interface Shared {
  delay: number
  maxQueued: number
  frozen: boolean
  /** Bytes per second each way, or undefined for no cap. */
  rate: number | undefined
}

/** The queue in front of a capped link: about a tenth of a second at 1 MiB/s. */
const CAPPED_QUEUE_BYTES = 128 * 1024

/** One direction of one connection: a delay line from `source` to `dest`. */
class DelayLine {
  source: net.Socket
  dest: net.Socket
  shared: Shared
  count: (bytes: number) => void
  onCut: () => void
  items: Item[] = []
  head = 0
  queued = 0
  timer: NodeJS.Timeout | undefined
  destBlocked = false
  stopped = false
  /** When the capped link has sent everything queued so far (performance.now() ms). */
  linkFree = 0

  constructor(
    source: net.Socket,
    dest: net.Socket,
    shared: Shared,
    count: (bytes: number) => void,
    onCut: () => void
  ) {
    this.source = source
    this.dest = dest
    this.shared = shared
    this.count = count
    this.onCut = onCut
  }

  push(data: Item['data']): void {
    if (this.stopped) return
    const now = performance.now()
    let sent = now
    if (typeof data !== 'string') {
      this.queued += data.length
      const { rate } = this.shared
      if (rate !== undefined) {
        this.linkFree = Math.max(now, this.linkFree) + (data.length * 1000) / rate
        sent = this.linkFree
      }
    }
    this.items.push({ data, due: sent + this.shared.delay })
    this.flush()
  }

  /** Deliver everything that is due, then wait for the next item's due time. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.stopped) return
    const now = performance.now()
    while (!this.shared.frozen && this.head < this.items.length) {
      const item = this.items[this.head]!
      // Items are due in arrival order (a delay lowered meanwhile just lets later items wait
      // for earlier ones), so only the head needs a timer.
      if (item.due > now) {
        this.timer = setTimeout(() => this.flush(), Math.max(1, Math.ceil(item.due - now)))
        break
      }
      this.head++
      if (item.data === 'cut') {
        this.onCut()
        return
      }
      if (item.data === 'end') {
        this.dest.end()
        continue
      }
      this.queued -= item.data.length
      this.count(item.data.length)
      if (!this.dest.write(item.data) && !this.destBlocked) {
        this.destBlocked = true
        this.dest.once('drain', () => {
          this.destBlocked = false
          this.updateFlow()
        })
      }
    }
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    this.updateFlow()
  }

  /** Backpressure: stop reading while the destination or the delay line is full. */
  updateFlow(): void {
    if (this.stopped) return
    const limit =
      this.shared.rate === undefined
        ? this.shared.maxQueued
        : // What the link holds in flight (rate x delay), plus the queue in front of it.
          (this.shared.rate * this.shared.delay) / 1000 + CAPPED_QUEUE_BYTES
    const hold = this.destBlocked || this.queued > limit || this.shared.frozen
    if (hold && !this.source.isPaused()) this.source.pause()
    else if (!hold && this.source.isPaused()) this.source.resume()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.items = []
  }
}

interface CutRule {
  bytes: number
  repeat: boolean
  resolve: () => void
  reject: (error: Error) => void
  fired: boolean
}

class Link {
  proxy: ProxyServer
  client: net.Socket
  server: net.Socket | undefined
  up: DelayLine | undefined
  down: DelayLine | undefined
  /** Bytes the client may still send before the armed cut, when one is armed. */
  cutBudget: number | undefined
  cutRule: CutRule | undefined
  cutting = false
  closed = false
  early: Buffer[] = []
  clientEnded = false

  constructor(proxy: ProxyServer, client: net.Socket) {
    this.proxy = proxy
    this.client = client
    client.on('error', () => this.abort())
    client.on('close', hadError => this.onSocketClose(hadError))
    // Until connected upstream (blackholed), keep what the client sends.
    client.on('data', (chunk: Buffer) => this.fromClient(chunk))
    client.on('end', () => {
      if (this.up) this.up.push('end')
      else this.clientEnded = true
    })
  }

  connect(target: { host: string; port: number }): void {
    if (this.closed || this.server) return
    const server = net.connect({ host: target.host, port: target.port, allowHalfOpen: true })
    this.server = server
    server.setNoDelay(true)
    const shared = this.proxy.shared
    this.up = new DelayLine(
      this.client,
      server,
      shared,
      n => (this.proxy.up += n),
      () => this.cut()
    )
    this.down = new DelayLine(
      server,
      this.client,
      shared,
      n => (this.proxy.down += n),
      () => this.cut()
    )
    server.on('error', () => this.abort())
    server.on('close', hadError => this.onSocketClose(hadError))
    server.on('data', (chunk: Buffer) => this.down!.push(chunk))
    server.on('end', () => this.down!.push('end'))
    for (const chunk of this.early) this.up.push(chunk)
    this.early = []
    if (this.clientEnded) this.up.push('end')
  }

  fromClient(chunk: Buffer): void {
    if (this.cutting) return
    if (this.cutBudget !== undefined && chunk.length >= this.cutBudget) {
      // Forward exactly up to the threshold, then cut once that much has been delivered.
      const rule = this.cutRule!
      const prefix = chunk.subarray(0, this.cutBudget)
      this.cutting = true
      this.client.pause()
      this.proxy.triggered(rule)
      this.cutRule = rule
      this.forward(prefix)
      this.forward('cut')
      return
    }
    if (this.cutBudget !== undefined) this.cutBudget -= chunk.length
    this.forward(chunk)
  }

  forward(data: Buffer | 'cut'): void {
    if (this.up) this.up.push(data)
    else if (data === 'cut') this.cut()
    else this.early.push(data)
  }

  cut(): void {
    const rule = this.cutRule
    this.abort()
    rule?.resolve()
  }

  onSocketClose(hadError: boolean): void {
    // A reset propagates at once. After an orderly close the other socket is left alone: its
    // delay line may still hold data and the 'end' that closes it in turn.
    if (hadError) this.abort()
    else if (this.client.destroyed && (!this.server || this.server.destroyed)) this.finish()
  }

  abort(): void {
    if (this.closed) return
    for (const socket of [this.client, this.server]) {
      if (!socket || socket.destroyed) continue
      try {
        socket.resetAndDestroy()
      } catch {
        socket.destroy()
      }
    }
    this.finish()
  }

  finish(): void {
    if (this.closed) return
    this.closed = true
    this.up?.stop()
    this.down?.stop()
    this.proxy.links.delete(this)
    this.proxy.held.delete(this)
  }
}

class ProxyServer implements LatencyProxy {
  port = 0
  target: { host: string; port: number }
  shared: Shared
  links = new Set<Link>()
  held = new Set<Link>()
  up = 0
  down = 0
  connections = 0
  mode: 'open' | 'blackhole' | 'refuse' = 'open'
  server: net.Server | undefined
  rule: CutRule | undefined
  closing = false

  constructor(target: { host: string; port: number }, shared: Shared) {
    this.target = target
    this.shared = shared
  }

  listen(port: number): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, socket =>
      this.accept(socket)
    )
    this.server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, HOST, () => {
        server.off('error', reject)
        server.on('error', () => {})
        const address = server.address()
        if (address && typeof address === 'object') this.port = address.port
        resolve()
      })
    })
  }

  accept(socket: net.Socket): void {
    this.connections++
    const link = new Link(this, socket)
    this.links.add(link)
    if (this.rule && !this.rule.fired) {
      link.cutBudget = this.rule.bytes
      link.cutRule = this.rule
    }
    if (this.mode === 'blackhole') {
      this.held.add(link)
      return
    }
    link.connect(this.target)
  }

  setDelay(msEachWay: number): void {
    if (!(msEachWay >= 0)) throw new Error(`bad delay ${msEachWay}`)
    this.shared.delay = msEachWay
  }

  setRate(bytesPerSecond: number | undefined): void {
    if (bytesPerSecond !== undefined && !(bytesPerSecond > 0))
      throw new Error(`bad rate ${bytesPerSecond}`)
    this.shared.rate = bytesPerSecond
  }

  cutAll(): void {
    for (const link of [...this.links]) link.abort()
    this.held.clear()
  }

  pause(mode: 'blackhole' | 'refuse' = 'blackhole'): void {
    if (this.closing) return
    if (mode === 'refuse' && this.mode !== 'refuse') {
      // Closing the listener gives ECONNREFUSED; the port is taken up again by resume().
      this.server?.close()
      this.server = undefined
    }
    this.mode = mode
  }

  resume(): void {
    if (this.closing) return
    const wasRefusing = this.mode === 'refuse'
    this.mode = 'open'
    for (const link of this.held) link.connect(this.target)
    this.held.clear()
    // Binding happens synchronously inside listen(), so connects right after resume() work.
    if (wasRefusing) this.listen(this.port).catch(() => {})
  }

  freezeAll(): void {
    this.shared.frozen = true
    for (const link of this.links) {
      link.up?.updateFlow()
      link.down?.updateFlow()
    }
  }

  thawAll(): void {
    this.shared.frozen = false
    for (const link of this.links) {
      link.up?.flush()
      link.down?.flush()
    }
  }

  cutAfterBytes(bytes: number, options: { repeat?: boolean } = {}): Promise<void> {
    if (!(bytes >= 0)) throw new Error(`bad byte count ${bytes}`)
    if (this.rule && !this.rule.fired) throw new Error('a cut is already armed; disarmCut() first')
    let resolve!: () => void
    let reject!: (error: Error) => void
    const promise = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    // Callers may ignore the promise; a later rejection (proxy closed) must not count as
    // unhandled, while anyone awaiting it still sees it.
    promise.catch(() => {})
    const rule: CutRule = { bytes, repeat: options.repeat ?? false, resolve, reject, fired: false }
    this.rule = rule
    for (const link of this.links) {
      if (link.cutting) continue
      link.cutBudget = bytes
      link.cutRule = rule
    }
    return promise
  }

  /** Called when a connection reaches the threshold: a one-shot rule disarms everywhere. */
  triggered(rule: CutRule): void {
    if (rule.repeat) return
    rule.fired = true
    for (const link of this.links) {
      if (link.cutting || link.cutRule !== rule) continue
      link.cutBudget = undefined
      link.cutRule = undefined
    }
  }

  disarmCut(): void {
    const rule = this.rule
    if (!rule) return
    rule.fired = true
    for (const link of this.links) {
      if (link.cutting || link.cutRule !== rule) continue
      link.cutBudget = undefined
      link.cutRule = undefined
    }
  }

  stats(): { up: number; down: number; connections: number; active: number } {
    return { up: this.up, down: this.down, connections: this.connections, active: this.links.size }
  }

  close(): Promise<void> {
    this.closing = true
    this.rule?.reject(new Error('proxy closed before the cut happened'))
    this.disarmCut()
    this.cutAll()
    const server = this.server
    this.server = undefined
    if (!server) return Promise.resolve()
    return new Promise(resolve => server.close(() => resolve()))
  }
}

export async function startLatencyProxy(
  target: { host: string; port: number },
  options: LatencyProxyOptions = {}
): Promise<LatencyProxy> {
  const proxy = new ProxyServer(target, {
    delay: 0,
    maxQueued: options.maxQueuedBytes ?? 16 * 1024 * 1024,
    frozen: false,
    rate: undefined
  })
  proxy.setDelay(options.delayMsEachWay ?? 0)
  await proxy.listen(options.port ?? 0)
  return proxy
}
