package dev.capwire.transport;

import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;

/**
 * How the loop's poller watches one connection's socket: registered once the connection has opened, told what
 * to report (reading unless backpressure paused it, writability only while the socket is full), and let go of
 * when the socket is handed over or closed. Loop work only.
 */
final class LoopRegistration {
    private final EventLoop loop;
    private final ConnectionChannel channel;
    private final long fd;
    private final InboundPath inbound;
    private final WriteInterest writeInterest;
    private long token; // the loop's name for this connection; 0 until registered

    LoopRegistration(EventLoop loop, ConnectionChannel channel, long fd, InboundPath inbound,
            WriteInterest writeInterest) {
        this.loop = loop;
        this.channel = channel;
        this.fd = fd;
        this.inbound = inbound;
        this.writeInterest = writeInterest;
    }

    /** Reads unless paused by backpressure; writes while the socket is full. */
    int interest() {
        return (inbound.isPaused() ? 0 : Native.INTEREST_READ) | (writeInterest.isWanted() ? Native.INTEREST_WRITE : 0);
    }

    void register() throws NativeIoException {
        token = loop.register(channel, fd, interest());
    }

    /** What the poller should report changed; nothing to do before {@link #register()}, which asks for it. */
    void interestChanged() throws NativeIoException {
        if (token == 0) {
            return;
        }
        loop.modify(fd, interest(), token);
    }

    /** The socket stays open for a new owner: only the poller's registration goes. */
    void deregister() {
        if (token != 0) {
            loop.deregister(fd, token);
        }
    }

    /** The socket is closed: the loop forgets the connection. */
    void forget() {
        loop.forgetClosed(channel, token);
    }
}
