package dev.capwire;

import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.SleepingMillisIdleStrategy;
import org.agrona.concurrent.YieldingIdleStrategy;

/**
 * Every {@code capwire.*} system property, each beside its default, read in this one place. Builders take
 * these as their starting values and may override any of them per server or client.
 */
public final class Configuration {
    /**
     * Number of event-loop threads a transport runs; connections are spread across them. 0 is invoker mode:
     * no threads, the application runs the loop by calling {@code Transport.poll()} from the creating thread.
     */
    public static final String EVENT_LOOPS_PROP_NAME = "capwire.eventLoops";
    public static final int EVENT_LOOPS_DEFAULT = 1;

    /**
     * What an idle event loop does before it parks in the poller: {@code spin}, {@code yield},
     * {@code backoff}, {@code sleep}, or the name of a class implementing Agrona's {@link IdleStrategy}.
     */
    public static final String IDLE_STRATEGY_PROP_NAME = "capwire.idleStrategy";
    public static final String IDLE_STRATEGY_DEFAULT = "backoff";

    /**
     * How long an event loop stays idle under its idle strategy before it parks in the poller's wait. A
     * parked loop costs a wake-up syscall to the next producer (and about 100 µs of scheduler latency on a
     * busy host); {@code spin} never parks. Also how long a thread waiting for something a loop delivers (a
     * reply, a stream's next item or credit, a close) yields before it blocks, and how long a free RPC handler
     * thread of the default pool stays awake for the next call.
     */
    public static final String PARK_AFTER_IDLE_MICROS_PROP_NAME = "capwire.parkAfterIdleMicros";
    public static final long PARK_AFTER_IDLE_MICROS_DEFAULT = 1000;

    /** Capacity in bytes of each connection's outbound ring (a power of two; Agrona's trailer is added). */
    public static final String RING_BYTES_PROP_NAME = "capwire.ringBytes";
    public static final int RING_BYTES_DEFAULT = 256 * 1024;

    /** Largest single frame on the wire, header included; larger messages are fragmented. */
    public static final String MAX_FRAME_BYTES_PROP_NAME = "capwire.maxFrameBytes";
    public static final int MAX_FRAME_BYTES_DEFAULT = 64 * 1024;

    /** Largest message after reassembling its fragments. */
    public static final String MAX_MESSAGE_BYTES_PROP_NAME = "capwire.maxMessageBytes";
    public static final int MAX_MESSAGE_BYTES_DEFAULT = 16 << 20;

    /** Requests awaiting a reply on one connection; past it, new requests fail RESOURCE_EXHAUSTED. */
    public static final String MAX_IN_FLIGHT_PROP_NAME = "capwire.maxInFlight";
    public static final int MAX_IN_FLIGHT_DEFAULT = 1024;

    /** Deadline for a request that sets none. */
    public static final String REQUEST_TIMEOUT_MS_PROP_NAME = "capwire.requestTimeoutMs";
    public static final long REQUEST_TIMEOUT_MS_DEFAULT = 30_000;

    /** How long a client waits for a connection to be established. */
    public static final String CONNECT_TIMEOUT_MS_PROP_NAME = "capwire.connectTimeoutMs";
    public static final long CONNECT_TIMEOUT_MS_DEFAULT = 5_000;

    /**
     * Whether a server binding a Unix socket path replaces a stale socket file there: one nobody listens on
     * (connecting is refused), left by a server that could not remove it (killed with SIGKILL, say). Off, such
     * a file makes the bind fail, saying so. A file another server listens on, or one that is not a socket, is
     * never replaced.
     */
    public static final String REPLACE_STALE_SOCKET_FILE_PROP_NAME = "capwire.replaceStaleSocketFile";
    public static final boolean REPLACE_STALE_SOCKET_FILE_DEFAULT = true;

    /** How long a graceful close waits for queued frames to flush before it closes anyway. */
    public static final String CLOSE_TIMEOUT_MS_PROP_NAME = "capwire.closeTimeoutMs";
    public static final long CLOSE_TIMEOUT_MS_DEFAULT = 5_000;

    /** Kernel socket buffer sizes (SO_SNDBUF / SO_RCVBUF); 0 keeps the operating system's default. */
    public static final String SOCKET_SEND_BUFFER_BYTES_PROP_NAME = "capwire.socketSendBufferBytes";
    public static final int SOCKET_SEND_BUFFER_BYTES_DEFAULT = 0;
    public static final String SOCKET_RECEIVE_BUFFER_BYTES_PROP_NAME = "capwire.socketReceiveBufferBytes";
    public static final int SOCKET_RECEIVE_BUFFER_BYTES_DEFAULT = 0;

    /**
     * Whether a request handler's exception is described (its class and message) in the INTERNAL error the
     * caller gets; off for servers whose exception messages may carry what callers must not see.
     */
    public static final String EXPOSE_HANDLER_ERRORS_PROP_NAME = "capwire.exposeHandlerErrors";
    public static final boolean EXPOSE_HANDLER_ERRORS_DEFAULT = true;

    /**
     * Frames an {@code OffLoopListener} holds at once, across all its connections: queued for its executor or
     * being handled there. Past it a REQUEST is answered RESOURCE_EXHAUSTED at once, from the loop, and a
     * NOTIFY or CANCEL is dropped (counted, and reported once per overload), so a slow handler costs memory
     * up to this bound and never stalls the loop.
     */
    public static final String HANDLER_QUEUE_FRAMES_PROP_NAME = "capwire.handlerQueueFrames";
    public static final int HANDLER_QUEUE_FRAMES_DEFAULT = 8192;

    /**
     * The same bound for one connection, so one busy client cannot take the whole queue from the others. At
     * the default it equals {@code capwire.maxInFlight}'s default: a peer that keeps within that limit is
     * never refused for queueing requests alone.
     */
    public static final String HANDLER_QUEUE_FRAMES_PER_CONNECTION_PROP_NAME = "capwire.handlerQueueFramesPerConnection";
    public static final int HANDLER_QUEUE_FRAMES_PER_CONNECTION_DEFAULT = 1024;

    /**
     * Threads of the default handler executor. 0 (the default): a virtual thread per busy connection where
     * the JVM has them (Java 21+), else a pool of 4 per core (at least 8) daemon threads; a positive number
     * always means a pool of that many daemon threads.
     */
    public static final String HANDLER_THREADS_PROP_NAME = "capwire.handlerThreads";
    public static final int HANDLER_THREADS_DEFAULT = 0;

    /**
     * Bytes a connection's loop may hold for a peer that is not reading them before the connection stops being
     * read (its handlers stop producing); reading resumes below half of it. The loop itself never waits.
     */
    public static final String SEND_HIGH_WATER_BYTES_PROP_NAME = "capwire.sendHighWaterBytes";
    public static final int SEND_HIGH_WATER_BYTES_DEFAULT = 1 << 20;

    /**
     * Bytes of loop work's frames (replies, and an invoker-mode application's sends) staged for one peer at which
     * the loop writes them out at once instead of at the end of its duty cycle, so the peer starts on a large batch
     * while this side still makes the rest of it (with 128 calls in flight, the two sides otherwise take turns).
     * 0: only at the end of each duty cycle.
     */
    public static final String EARLY_WRITE_BYTES_PROP_NAME = "capwire.earlyWriteBytes";
    public static final int EARLY_WRITE_BYTES_DEFAULT = 8 * 1024;

    /** How long a connection's socket may take nothing of what waits for it before the connection is closed. */
    public static final String SEND_STALL_TIMEOUT_MS_PROP_NAME = "capwire.sendStallTimeoutMs";
    public static final long SEND_STALL_TIMEOUT_MS_DEFAULT = 30_000;

    /**
     * How long {@code respond} from an application thread waits for room in a full outbound ring before it
     * fails RESOURCE_EXHAUSTED: short, so one client that stops reading cannot hold a shared executor.
     */
    public static final String SEND_TIMEOUT_MS_PROP_NAME = "capwire.sendTimeoutMs";
    public static final long SEND_TIMEOUT_MS_DEFAULT = 1_000;

    /**
     * RPC: exports one side of a connection holds for its peer at once (ids 0 and 1 not counted); a call whose
     * result would need one more is answered RESOURCE_EXHAUSTED with this name as its reason.
     */
    public static final String RPC_MAX_CAPS_PROP_NAME = "capwire.rpc.maxCaps";
    public static final int RPC_MAX_CAPS_DEFAULT = 1024;

    /**
     * RPC: calls in flight on one connection in each direction: calls this side makes and awaits, and calls from
     * the peer running here. Past it a call fails RESOURCE_EXHAUSTED with this name as its reason.
     */
    public static final String RPC_MAX_IN_FLIGHT_PROP_NAME = "capwire.rpc.maxInFlight";
    public static final int RPC_MAX_IN_FLIGHT_DEFAULT = 1024;

    /** RPC: stream items a caller accepts before it grants more credit (it grants as it consumes). */
    public static final String RPC_INITIAL_CREDIT_PROP_NAME = "capwire.rpc.initialCredit";
    public static final int RPC_INITIAL_CREDIT_DEFAULT = 32;

    /**
     * RPC: the most threads the default handler executor (a {@code HandlerPool}) runs at once. Handlers that call back into their peer hold a thread each while they
     * wait, so a chain of callbacks N deep needs N/2 threads on each side; a call that finds all of them busy is
     * answered RESOURCE_EXHAUSTED (reason {@code handler.executor}).
     */
    public static final String RPC_HANDLER_THREADS_PROP_NAME = "capwire.rpc.handlerThreads";
    public static final int RPC_HANDLER_THREADS_DEFAULT = 256;

    /**
     * RPC, Java 21+: true runs each call's handler on a virtual thread of its own instead of the bounded handler
     * pool ({@code capwire.rpc.handlerThreads}): no limit but the in-flight one per connection, and a handler that
     * blocks holds no platform thread. Off by default: on Java 25 the pool served 1.6 to 2 times the calls per
     * second with a third of the allocation, and a lower blocking-call latency (docs/benchmark-log.md).
     */
    public static final String RPC_VIRTUAL_THREADS_PROP_NAME = "capwire.rpc.virtualThreads";
    public static final boolean RPC_VIRTUAL_THREADS_DEFAULT = false;

    /**
     * Whether a client a broker hands off sends calls as soon as the broker's Negotiated reply came, instead of
     * waiting for the backend's takeover frame (the default since the measurements in docs/benchmark-log.md,
     * "The brokered connect's CPU, profiled"). It saves a hop between processes on every brokered connect; the price is that a hand-off the
     * broker abandons then fails the calls sent meanwhile (UNAVAILABLE) instead of falling back to the backend's
     * address inside the connect. Only brokered connections are affected: a direct one has no takeover.
     */
    public static final String HANDOFF_CALLS_BEFORE_TAKEOVER_PROP_NAME = "capwire.handoff.callsBeforeTakeover";
    public static final boolean HANDOFF_CALLS_BEFORE_TAKEOVER_DEFAULT = true;

    /** How long a server waits for a connection's Hello (and a client for the reply) before closing it. */
    public static final String HANDSHAKE_TIMEOUT_MS_PROP_NAME = "capwire.handshakeTimeoutMs";
    public static final long HANDSHAKE_TIMEOUT_MS_DEFAULT = 5_000;

    /**
     * How long a broker waits for the backend's acknowledgement of a handed-off client socket; then it revokes
     * the token and shuts the socket down, which sends the client to the backend's own address. Keep it below
     * {@code capwire.handshakeTimeoutMs}, the client's whole wait.
     */
    public static final String BROKER_HANDOFF_ACK_MS_PROP_NAME = "capwire.broker.handoffAckMs";
    public static final long BROKER_HANDOFF_ACK_MS_DEFAULT = 2_000;

    /**
     * How long a broker waits for a backend it launched (activation) to register; then it stops the process,
     * reports it, and restarts it with back-off. Clients asking meanwhile get UNAVAILABLE with retry_after_ms.
     */
    public static final String BROKER_ACTIVATION_TIMEOUT_MS_PROP_NAME = "capwire.broker.activationTimeoutMs";
    public static final long BROKER_ACTIVATION_TIMEOUT_MS_DEFAULT = 10_000;

    /**
     * How many backends a broker launches at once (started, not yet registered), over all its activatable
     * services. A client whose service would need one more is refused UNAVAILABLE with retry_after_ms, and its
     * backend is started once a launch in flight registered or failed.
     */
    public static final String BROKER_MAX_CONCURRENT_LAUNCHES_PROP_NAME = "capwire.broker.maxConcurrentLaunches";
    public static final int BROKER_MAX_CONCURRENT_LAUNCHES_DEFAULT = 4;

    /**
     * How long a backend a broker started (activation) may serve no client connection (as it reports in
     * broker.proto's Load) before the broker stops it; the next Hello for its service starts it again. 0: never.
     */
    public static final String BROKER_IDLE_STOP_MS_PROP_NAME = "capwire.broker.idleStopMs";
    public static final long BROKER_IDLE_STOP_MS_DEFAULT = 0;

    /**
     * How many backends may register one service with a broker at once (all on the same terms; clients go to
     * the least loaded). A registration past it is refused RESOURCE_EXHAUSTED with the reason. The default, 1,
     * refuses a second backend naming a registered service, as it would a process trying to take one over.
     */
    public static final String BROKER_MAX_BACKENDS_PER_SERVICE_PROP_NAME = "capwire.broker.maxBackendsPerService";
    public static final int BROKER_MAX_BACKENDS_PER_SERVICE_DEFAULT = 1;

    /** Hellos a server accepts per second from one peer (one pid on Unix sockets, one address on TCP). */
    public static final String HELLO_RATE_LIMIT_PROP_NAME = "capwire.hello.rateLimit";
    public static final int HELLO_RATE_LIMIT_DEFAULT = 256;

    /**
     * The keepalive interval a server grants when the client asks for none, and the upper bound of what it
     * grants; 0 turns keepalive off. Each side PINGs after this long without receiving anything.
     */
    public static final String KEEPALIVE_INTERVAL_MS_PROP_NAME = "capwire.keepaliveIntervalMs";
    public static final long KEEPALIVE_INTERVAL_MS_DEFAULT = 10_000;

    /** The lower bound a server grants for keepalive intervals: pings more often than this are waste. */
    public static final String KEEPALIVE_MIN_INTERVAL_MS_PROP_NAME = "capwire.keepaliveMinIntervalMs";
    public static final long KEEPALIVE_MIN_INTERVAL_MS_DEFAULT = 100;

    /** Intervals in a row with nothing received after which a peer is declared dead. */
    public static final String KEEPALIVE_MAX_MISSED_PROP_NAME = "capwire.keepaliveMaxMissed";
    public static final int KEEPALIVE_MAX_MISSED_DEFAULT = 3;

    /** Connections one server holds at once (handshaking or negotiated); past it, Hellos are refused. */
    public static final String MAX_CONNECTIONS_PROP_NAME = "capwire.server.maxConnections";
    public static final int MAX_CONNECTIONS_DEFAULT = 4096;

    /** Connections one server holds at once from one uid (Unix sockets). */
    public static final String MAX_CONNECTIONS_PER_UID_PROP_NAME = "capwire.server.maxConnectionsPerUid";
    public static final int MAX_CONNECTIONS_PER_UID_DEFAULT = 1024;

    /**
     * Connections one server lets wait for their handshake at once. Each holds buffers until its Hello arrives
     * or the handshake timeout passes, so this bounds what silent connections can pin; past it a new
     * connection is closed at once, before its Hello, as a full listen backlog would refuse it.
     */
    public static final String MAX_HANDSHAKING_PROP_NAME = "capwire.server.maxHandshaking";
    public static final int MAX_HANDSHAKING_DEFAULT = 256;

    /**
     * Connections one peer (the kernel-verified uid on Unix sockets, the remote IP address on TCP) may have
     * waiting for their handshake on one server at once; past it that peer's new connection is closed at once,
     * at the accept, while other peers still get in. It keeps one peer from filling
     * {@link #MAX_HANDSHAKING_PROP_NAME} and locking everyone else out, as long as it is below that bound.
     * The default, a quarter of the global default, leaves three quarters of the handshake slots to others
     * when one peer holds all of its own (it takes four peers at their limit to fill the global bound), and
     * is still far more than a well-behaved peer needs: a local handshake takes one round trip, well under a
     * millisecond, so even a pool of 64 connections opened at once passes without touching the limit. Peers
     * are keyed per transport: a uid on a Unix socket and an address on TCP never share a count. Note that
     * on Unix sockets every process of one user is one peer.
     */
    public static final String MAX_HANDSHAKING_PER_PEER_PROP_NAME = "capwire.server.maxHandshakingPerPeer";
    public static final int MAX_HANDSHAKING_PER_PEER_DEFAULT = 64;

    /**
     * Where the 32-byte shared secret comes from, first match wins: a file (32 raw bytes, or 64 hex digits),
     * the environment variable named by {@code capwire.secret.env}, or {@code capwire.secret} itself (64 hex
     * digits; visible to anyone who can list the process's arguments, so prefer the other two). Unset: no
     * secret.
     */
    public static final String SECRET_FILE_PROP_NAME = "capwire.secret.file";
    public static final String SECRET_ENV_PROP_NAME = "capwire.secret.env";
    public static final String SECRET_PROP_NAME = "capwire.secret";

    /** How long a reconnecting client keeps trying after losing its connection before it gives up. */
    public static final String RECONNECT_GIVE_UP_MS_PROP_NAME = "capwire.reconnect.giveUpMs";
    public static final long RECONNECT_GIVE_UP_MS_DEFAULT = 30_000;

    /**
     * How long a server stops accepting after accept fails for want of resources (EMFILE, ENFILE, ENOBUFS,
     * ENOMEM) or for any other reason: the listener stays readable while connections wait, so retrying at
     * once would spin the loop. Netty waits a second too.
     */
    public static final String ACCEPT_BACKOFF_MS_PROP_NAME = "capwire.acceptBackoffMs";
    public static final long ACCEPT_BACKOFF_MS_DEFAULT = 1_000;

    /**
     * Connections one transport-level server holds open at once; past it an accepted socket is closed at once,
     * before any buffer is allocated for it. Above {@link #MAX_CONNECTIONS_PROP_NAME} (the handshake's limit,
     * which refuses politely with RESOURCE_EXHAUSTED), so a handshake server reaches that one first.
     */
    public static final String MAX_CONNECTIONS_PER_SERVER_PROP_NAME = "capwire.maxConnectionsPerServer";
    public static final int MAX_CONNECTIONS_PER_SERVER_DEFAULT = 8192;

    private Configuration() {
    }

    public static boolean handoffCallsBeforeTakeover() {
        String value = System.getProperty(HANDOFF_CALLS_BEFORE_TAKEOVER_PROP_NAME);
        return value == null ? HANDOFF_CALLS_BEFORE_TAKEOVER_DEFAULT : Boolean.parseBoolean(value);
    }

    public static long handshakeTimeoutMs() {
        return Long.getLong(HANDSHAKE_TIMEOUT_MS_PROP_NAME, HANDSHAKE_TIMEOUT_MS_DEFAULT);
    }

    public static long brokerHandoffAckMs() {
        return Long.getLong(BROKER_HANDOFF_ACK_MS_PROP_NAME, BROKER_HANDOFF_ACK_MS_DEFAULT);
    }

    public static long brokerActivationTimeoutMs() {
        return Long.getLong(BROKER_ACTIVATION_TIMEOUT_MS_PROP_NAME, BROKER_ACTIVATION_TIMEOUT_MS_DEFAULT);
    }

    public static long brokerIdleStopMs() {
        return Long.getLong(BROKER_IDLE_STOP_MS_PROP_NAME, BROKER_IDLE_STOP_MS_DEFAULT);
    }

    public static int brokerMaxConcurrentLaunches() {
        return Integer.getInteger(BROKER_MAX_CONCURRENT_LAUNCHES_PROP_NAME, BROKER_MAX_CONCURRENT_LAUNCHES_DEFAULT);
    }

    public static int brokerMaxBackendsPerService() {
        return Integer.getInteger(BROKER_MAX_BACKENDS_PER_SERVICE_PROP_NAME, BROKER_MAX_BACKENDS_PER_SERVICE_DEFAULT);
    }

    public static int helloRateLimit() {
        return Integer.getInteger(HELLO_RATE_LIMIT_PROP_NAME, HELLO_RATE_LIMIT_DEFAULT);
    }

    public static long keepaliveIntervalMs() {
        return Long.getLong(KEEPALIVE_INTERVAL_MS_PROP_NAME, KEEPALIVE_INTERVAL_MS_DEFAULT);
    }

    public static long keepaliveMinIntervalMs() {
        return Long.getLong(KEEPALIVE_MIN_INTERVAL_MS_PROP_NAME, KEEPALIVE_MIN_INTERVAL_MS_DEFAULT);
    }

    public static int keepaliveMaxMissed() {
        return Integer.getInteger(KEEPALIVE_MAX_MISSED_PROP_NAME, KEEPALIVE_MAX_MISSED_DEFAULT);
    }

    public static int maxConnections() {
        return Integer.getInteger(MAX_CONNECTIONS_PROP_NAME, MAX_CONNECTIONS_DEFAULT);
    }

    public static int maxConnectionsPerUid() {
        return Integer.getInteger(MAX_CONNECTIONS_PER_UID_PROP_NAME, MAX_CONNECTIONS_PER_UID_DEFAULT);
    }

    public static int maxHandshaking() {
        return Integer.getInteger(MAX_HANDSHAKING_PROP_NAME, MAX_HANDSHAKING_DEFAULT);
    }

    public static int maxHandshakingPerPeer() {
        return Integer.getInteger(MAX_HANDSHAKING_PER_PEER_PROP_NAME, MAX_HANDSHAKING_PER_PEER_DEFAULT);
    }

    public static long reconnectGiveUpMs() {
        return Long.getLong(RECONNECT_GIVE_UP_MS_PROP_NAME, RECONNECT_GIVE_UP_MS_DEFAULT);
    }

    public static int eventLoops() {
        return Integer.getInteger(EVENT_LOOPS_PROP_NAME, EVENT_LOOPS_DEFAULT);
    }

    public static String idleStrategy() {
        return System.getProperty(IDLE_STRATEGY_PROP_NAME, IDLE_STRATEGY_DEFAULT);
    }

    public static long parkAfterIdleMicros() {
        return Long.getLong(PARK_AFTER_IDLE_MICROS_PROP_NAME, PARK_AFTER_IDLE_MICROS_DEFAULT);
    }

    public static int ringBytes() {
        return Integer.getInteger(RING_BYTES_PROP_NAME, RING_BYTES_DEFAULT);
    }

    public static int maxFrameBytes() {
        return Integer.getInteger(MAX_FRAME_BYTES_PROP_NAME, MAX_FRAME_BYTES_DEFAULT);
    }

    public static int maxMessageBytes() {
        return Integer.getInteger(MAX_MESSAGE_BYTES_PROP_NAME, MAX_MESSAGE_BYTES_DEFAULT);
    }

    public static int maxInFlight() {
        return Integer.getInteger(MAX_IN_FLIGHT_PROP_NAME, MAX_IN_FLIGHT_DEFAULT);
    }

    public static long requestTimeoutMs() {
        return Long.getLong(REQUEST_TIMEOUT_MS_PROP_NAME, REQUEST_TIMEOUT_MS_DEFAULT);
    }

    public static long connectTimeoutMs() {
        return Long.getLong(CONNECT_TIMEOUT_MS_PROP_NAME, CONNECT_TIMEOUT_MS_DEFAULT);
    }

    public static boolean replaceStaleSocketFile() {
        return Boolean.parseBoolean(System.getProperty(REPLACE_STALE_SOCKET_FILE_PROP_NAME,
                Boolean.toString(REPLACE_STALE_SOCKET_FILE_DEFAULT)));
    }

    public static long closeTimeoutMs() {
        return Long.getLong(CLOSE_TIMEOUT_MS_PROP_NAME, CLOSE_TIMEOUT_MS_DEFAULT);
    }

    public static int socketSendBufferBytes() {
        return Integer.getInteger(SOCKET_SEND_BUFFER_BYTES_PROP_NAME, SOCKET_SEND_BUFFER_BYTES_DEFAULT);
    }

    public static int socketReceiveBufferBytes() {
        return Integer.getInteger(SOCKET_RECEIVE_BUFFER_BYTES_PROP_NAME, SOCKET_RECEIVE_BUFFER_BYTES_DEFAULT);
    }

    public static boolean exposeHandlerErrors() {
        String value = System.getProperty(EXPOSE_HANDLER_ERRORS_PROP_NAME);
        return value == null ? EXPOSE_HANDLER_ERRORS_DEFAULT : Boolean.parseBoolean(value);
    }

    public static int handlerQueueFrames() {
        return Integer.getInteger(HANDLER_QUEUE_FRAMES_PROP_NAME, HANDLER_QUEUE_FRAMES_DEFAULT);
    }

    public static int handlerQueueFramesPerConnection() {
        return Integer.getInteger(HANDLER_QUEUE_FRAMES_PER_CONNECTION_PROP_NAME,
                HANDLER_QUEUE_FRAMES_PER_CONNECTION_DEFAULT);
    }

    public static int handlerThreads() {
        return Integer.getInteger(HANDLER_THREADS_PROP_NAME, HANDLER_THREADS_DEFAULT);
    }

    public static int sendHighWaterBytes() {
        return Integer.getInteger(SEND_HIGH_WATER_BYTES_PROP_NAME, SEND_HIGH_WATER_BYTES_DEFAULT);
    }

    public static int earlyWriteBytes() {
        return Integer.getInteger(EARLY_WRITE_BYTES_PROP_NAME, EARLY_WRITE_BYTES_DEFAULT);
    }

    public static long sendStallTimeoutMs() {
        return Long.getLong(SEND_STALL_TIMEOUT_MS_PROP_NAME, SEND_STALL_TIMEOUT_MS_DEFAULT);
    }

    public static long sendTimeoutMs() {
        return Long.getLong(SEND_TIMEOUT_MS_PROP_NAME, SEND_TIMEOUT_MS_DEFAULT);
    }

    public static int rpcMaxCaps() {
        return Integer.getInteger(RPC_MAX_CAPS_PROP_NAME, RPC_MAX_CAPS_DEFAULT);
    }

    public static int rpcMaxInFlight() {
        return Integer.getInteger(RPC_MAX_IN_FLIGHT_PROP_NAME, RPC_MAX_IN_FLIGHT_DEFAULT);
    }

    public static int rpcInitialCredit() {
        return Integer.getInteger(RPC_INITIAL_CREDIT_PROP_NAME, RPC_INITIAL_CREDIT_DEFAULT);
    }

    public static int rpcHandlerThreads() {
        return Integer.getInteger(RPC_HANDLER_THREADS_PROP_NAME, RPC_HANDLER_THREADS_DEFAULT);
    }

    public static boolean rpcVirtualThreads() {
        String value = System.getProperty(RPC_VIRTUAL_THREADS_PROP_NAME);
        return value == null ? RPC_VIRTUAL_THREADS_DEFAULT : Boolean.parseBoolean(value);
    }

    public static long acceptBackoffMs() {
        return Long.getLong(ACCEPT_BACKOFF_MS_PROP_NAME, ACCEPT_BACKOFF_MS_DEFAULT);
    }

    public static int maxConnectionsPerServer() {
        return Integer.getInteger(MAX_CONNECTIONS_PER_SERVER_PROP_NAME, MAX_CONNECTIONS_PER_SERVER_DEFAULT);
    }

    /** Builds the idle strategy a name stands for (see {@link #IDLE_STRATEGY_PROP_NAME}). */
    public static IdleStrategy idleStrategy(String name) {
        switch (name) {
            case "spin":
                return new BusySpinIdleStrategy();
            case "yield":
                return new YieldingIdleStrategy();
            case "backoff":
                // Yield, without a spin phase, for the whole idle time until parkAfterIdleMicros, then park
                // in the poller, where an arriving frame wakes the loop. Measured on the 2-core KVM hosts we
                // run on: 100 onSpinWait() spins before yielding tripled the round trip (p50 51 us against
                // 15 us), and a parkNanos wake-up costs tens of microseconds, as much as the poller's.
                return new BackoffIdleStrategy(0, 100_000, TimeUnit.MICROSECONDS.toNanos(1),
                        TimeUnit.MICROSECONDS.toNanos(100));
            case "sleep":
                return new SleepingMillisIdleStrategy(1);
            default:
                try {
                    return (IdleStrategy) Class.forName(name).getDeclaredConstructor().newInstance();
                } catch (ReflectiveOperationException | ClassCastException e) {
                    throw new IllegalArgumentException(IDLE_STRATEGY_PROP_NAME + "=" + name
                            + ": expected spin, yield, backoff, sleep, or the name of a class implementing "
                            + IdleStrategy.class.getName() + " with a public no-argument constructor", e);
                }
        }
    }

    /** Whether a loop under this strategy ever parks in the poller (a spinning loop never does). */
    public static boolean parks(String idleStrategyName) {
        return !"spin".equals(idleStrategyName);
    }
}
