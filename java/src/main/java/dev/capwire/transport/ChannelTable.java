package dev.capwire.transport;

import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.Poller;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * One event loop's channels and the poller that watches them: registration by token, readiness dispatch, and
 * the busy-poll mode in which a spinning loop with few connections reads them directly. Loop work only.
 */
final class ChannelTable {
    private static final int POLL_BATCH = 256;
    /**
     * A loop that never parks (spin) and serves at most this many connections reads them directly each duty
     * cycle instead of asking the poller first: one system call per connection instead of epoll_wait plus the
     * read, which is most of a busy-polled round trip. Aeron's media driver polls its transports the same way
     * below a threshold. Such connections are not even registered with the poller: a registered socket makes
     * every write into it run the poller's callback too, about 0.1 us per side of a round trip on our hosts.
     * Once a loop has more connections than this, all of its connections go through the poller.
     */
    static final int BUSY_POLL_MAX_CONNECTIONS = 4;
    /** A busy-polling loop still asks the poller every this many cycles: for accepts and writability. */
    private static final int POLLER_EVERY_CYCLES = 64;

    private final String loopName;
    private final Poller poller;
    private final Long2ObjectHashMap<Channel> channels = new Long2ObjectHashMap<>();
    private final java.util.ArrayList<ConnectionChannel> connections = new java.util.ArrayList<>();
    private final boolean busyPoll;
    /** Whether connection fds are registered with the poller; a busy-polling loop starts without, see above. */
    private boolean pollingConnections;
    private int cycle;
    private long nextToken;

    ChannelTable(String loopName, boolean busyPoll) throws NativeIoException {
        this.loopName = loopName;
        this.poller = new Poller(POLL_BATCH);
        this.busyPoll = busyPoll;
        this.pollingConnections = !busyPoll;
    }

    long register(Channel channel, long fd, int interest) throws NativeIoException {
        long token = ((++nextToken) << 2) | channel.kind();
        if (!(channel instanceof ConnectionChannel)) {
            poller.add(fd, interest, token);
            channels.put(token, channel);
            return token;
        }
        ConnectionChannel connection = (ConnectionChannel) channel;
        if (pollingConnections) {
            poller.add(fd, interest, token);
        }
        channels.put(token, channel);
        connections.add(connection);
        if (!pollingConnections && connections.size() > BUSY_POLL_MAX_CONNECTIONS) {
            startPollingConnections();
        }
        return token;
    }

    /** Too many connections to read each one every cycle: register them all with the poller, for good. */
    private void startPollingConnections() throws NativeIoException {
        pollingConnections = true;
        for (Long2ObjectHashMap<Channel>.EntryIterator entries = channels.entrySet().iterator(); entries.hasNext();) {
            entries.next();
            if (entries.getValue() instanceof ConnectionChannel) {
                ConnectionChannel connection = (ConnectionChannel) entries.getValue();
                poller.add(connection.fd(), connection.interest(), entries.getLongKey());
            }
        }
    }

    void modify(long fd, int interest, long token) throws NativeIoException {
        if (pollingConnections || (token & Channel.KIND_MASK) != Channel.KIND_CONNECTION) {
            poller.modify(fd, interest, token);
        }
        // Else the connection is read (and, while it wants to, written) directly every cycle.
    }

    /** Removes a channel whose fd is still open, the poller's registration with it. */
    void deregister(long fd, long token) {
        Channel channel = channels.remove(token);
        if (channel != null) {
            if (channel instanceof ConnectionChannel) {
                connections.remove(channel);
                if (!pollingConnections) {
                    return; // never registered
                }
            }
            try {
                poller.remove(fd);
            } catch (NativeIoException ignored) {
                // The fd is about to be closed, which removes it from epoll anyway.
            }
        }
    }

    /**
     * Forgets a connection whose fd is already closed. Closing the last fd of a socket removes it from epoll
     * by itself, so the removal would be a system call spent for nothing (Netty skips it the same way). Should
     * the socket outlive the fd a little (a child process between fork and exec holds it, or another thread's
     * call finishes on the number first), the poller may still report its old token meanwhile; it names no
     * channel any more and is skipped.
     */
    void forgetClosed(ConnectionChannel connection, long token) {
        if (channels.remove(token) != null) {
            connections.remove(connection);
        }
    }

    private int readConnectionsDirectly() {
        int work = 0;
        // Backwards: a connection that closes while being read leaves the list, shifting only those already read.
        for (int i = connections.size() - 1; i >= 0; i--) {
            if (i < connections.size()) {
                work += connections.get(i).pollDirectly();
            }
        }
        return work;
    }

    /**
     * Reads what is ready without blocking: a busy-polling loop with few connections reads them directly (and
     * asks the poller every {@link #POLLER_EVERY_CYCLES}th cycle, for accepts and writability); any other asks
     * the poller and dispatches what it reports.
     */
    int readReady() {
        if (busyPoll && connections.size() <= BUSY_POLL_MAX_CONNECTIONS && ++cycle % POLLER_EVERY_CYCLES != 0) {
            return readConnectionsDirectly();
        }
        return dispatch(awaitReadiness(0));
    }

    /** Waits for readiness; the events land in the poller's buffer, which only the loop's thread touches. */
    int awaitReadiness(int timeoutMs) {
        try {
            return poller.await(timeoutMs);
        } catch (NativeIoException e) {
            throw new IllegalStateException(loopName + ": poller failed", e);
        }
    }

    /** Owner: hands each ready channel its events (a token whose channel has closed meanwhile finds nothing). */
    int dispatch(int count) {
        for (int i = 0; i < count; i++) {
            Channel channel = channels.get(poller.token(i));
            if (channel != null) {
                channel.onReady(poller.ready(i));
            }
        }
        return count;
    }


    /** Any thread: interrupts a wait in the poller. */
    void wake() throws NativeIoException {
        poller.wake();
    }

    /** The loop stops: every channel still here is aborted with {@code reason}. */
    void abortAll(CloseReason reason) {
        for (Object channel : channels.values().toArray()) {
            ((Channel) channel).abort(reason);
        }
    }

    void close() {
        poller.close();
    }
}
