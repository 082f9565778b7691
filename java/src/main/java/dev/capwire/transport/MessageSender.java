package dev.capwire.transport;

import dev.capwire.bindings.Errors;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.agrona.DirectBuffer;

/**
 * Sends whole messages over one connection's way out (an application thread's frames into the {@link
 * OutboundRing}, loop work's into the {@link OutboundPath}'s staging): splits them into fragments, duplicates the
 * fds they pass (the caller keeps its own), and decides how a sender waits for room, which depends on who it
 * is. An application thread parks until its ring has room; loop work never waits (the outbound path's
 * backpressure pauses reading instead); an invoker-mode application runs its loop while it waits, outside the
 * loop's callbacks (inside them it is loop work).
 *
 * <p>Once a message's first fragment is queued the rest always follow, deadline or not (docs/wire-protocol.md,
 * "Fragmentation"): cutting a message off would leave the peer waiting for fragments that never come, so a
 * passed deadline fails only that request.
 */
final class MessageSender {
    /** A deadline not read from the clock yet: the sender's timeout starts when it first has to wait. */
    private static final long DEADLINE_FROM_TIMEOUT = Long.MIN_VALUE;

    private final OutboundPath outbound;
    private final OutboundRing ring;
    private final OutboundLimits limits;
    private final EventLoop loop;
    private final boolean unix;
    private final int maxMessageBytes;
    private volatile boolean fdsRefused; // set once, by the layer above, before the application sends

    MessageSender(OutboundPath outbound, OutboundRing ring, OutboundLimits limits, EventLoop loop, boolean unix,
            int maxMessageBytes) {
        this.outbound = outbound;
        this.ring = ring;
        this.limits = limits;
        this.loop = loop;
        this.unix = unix;
        this.maxMessageBytes = maxMessageBytes;
    }

    /**
     * Any thread: writes one message as one or more frames. An application thread waits for ring space (parking,
     * never spinning or waiting in a native call) until {@code deadlineNanos} for the first fragment; loop work
     * never waits (in invoker mode, where the application is the loop, it runs the loop while it waits, outside
     * the loop's callbacks).
     *
     * @throws StatusException RESOURCE_EXHAUSTED when no room came before the deadline, UNAVAILABLE when closed
     */
    void send(byte type, long correlationId, int capId, int methodId, DirectBuffer payload, int offset, int length,
            FileDescriptor[] fds, long deadlineNanos) {
        send(type, correlationId, capId, methodId, payload, offset, length, fds, deadlineNanos, 0);
    }

    /**
     * As {@link #send(byte, long, int, int, DirectBuffer, int, int, FileDescriptor[], long)}, waiting at most
     * {@code timeoutMs}: the clock is read only if the sender has to wait, so a reply staged as loop work, or a
     * frame that finds room in the ring, costs no clock read.
     */
    void sendWithin(byte type, long correlationId, int capId, int methodId, DirectBuffer payload, int offset,
            int length, FileDescriptor[] fds, long timeoutMs) {
        send(type, correlationId, capId, methodId, payload, offset, length, fds, DEADLINE_FROM_TIMEOUT,
                TimeUnit.MILLISECONDS.toNanos(timeoutMs));
    }

    private long deadline(long deadlineNanos, long timeoutNanos) {
        return deadlineNanos != DEADLINE_FROM_TIMEOUT ? deadlineNanos : loop.clock().nanoTime() + timeoutNanos;
    }

    /**
     * The usual message first, in a method small enough to be inlined into its callers: one frame, no fds, a
     * connection that takes sends, and either loop work that need not wait (staged) or a ring with room now.
     * Everything else, including every refusal and every wait, is {@link #sendChecked}'s.
     */
    private void send(byte type, long correlationId, int capId, int methodId, DirectBuffer payload, int offset,
            int length, FileDescriptor[] fds, long deadlineNanos, long timeoutNanos) {
        if (fds != null && fds.length == 0) {
            fds = null; // a varargs call that passed none: still the usual message
        }
        if (fds == null && length <= limits.maxFramePayload() && length <= maxMessageBytes
                && outbound.state().acceptsSends()) {
            if (loop.inLoop()) {
                if (!loop.isInvoker() || !outbound.overHighWater()) {
                    outbound.stage(type, correlationId, capId, methodId, 0, payload, offset, length, null);
                    return;
                }
            } else if (ring.offer(type, correlationId, capId, methodId, 0, payload, offset, length, null, 0)) {
                return;
            }
        }
        sendChecked(type, correlationId, capId, methodId, payload, offset, length, fds, deadlineNanos, timeoutNanos);
    }

    private void sendChecked(byte type, long correlationId, int capId, int methodId, DirectBuffer payload,
            int offset, int length, FileDescriptor[] fds, long deadlineNanos, long timeoutNanos) {
        if (!outbound.state().acceptsSends()) {
            throw outbound.unavailable(); // nothing may follow our GOAWAY
        }
        int fdCount = fds == null ? 0 : fds.length;
        if (fdCount > 0 && !unix) {
            throw new IllegalArgumentException("fds can only be passed over Unix-domain sockets");
        }
        if (fdCount > 0 && fdsRefused) {
            throw new IllegalArgumentException("fd passing was not negotiated on " + outbound.channel());
        }
        limits.checkSingleFrame(0, fdCount);
        if (length > maxMessageBytes) {
            throw new StatusException(StatusCode.RESOURCE_EXHAUSTED, "message of " + length
                    + " bytes exceeds capwire.maxMessageBytes=" + maxMessageBytes);
        }
        // Checked before the first fragment: a payload that falls short would otherwise be found out at the fragment
        // that runs past its end, after the ones before had reached the peer, which would hold them as an
        // unfinished message for as long as the connection lasts.
        payload.boundsCheck(offset, length);
        if (outbound.overHighWater() && loop.drivenByCurrentThread()) {
            deadlineNanos = deadline(deadlineNanos, timeoutNanos);
            awaitRoom(deadlineNanos);
        }
        long[] duplicated = fdCount == 0 ? null : duplicate(fds);
        int framePayload = limits.maxFramePayload();
        // The first fragment's ring record also carries its fd numbers, 8 bytes each, after the frame.
        int firstPayload = Math.min(framePayload,
                limits.maxRecordLength() - FrameHeader.HEADER_LENGTH - Handles.bytes(fdCount));
        int sent = 0;
        boolean first = true;
        try {
            do {
                int chunk = Math.min(first ? firstPayload : framePayload, length - sent);
                int flags = sent + chunk < length ? FrameHeader.FLAG_MORE_FRAGMENTS : 0;
                long[] frameFds = first ? duplicated : null;
                if (loop.inLoop()) {
                    outbound.stage(type, correlationId, capId, methodId, flags, payload, offset + sent, chunk,
                            frameFds);
                } else {
                    if (!ring.offer(type, correlationId, capId, methodId, flags, payload, offset + sent, chunk,
                            frameFds, frameFds == null ? 0 : frameFds.length)) {
                        if (first) {
                            deadlineNanos = deadline(deadlineNanos, timeoutNanos);
                        }
                        waitForRing(type, correlationId, capId, methodId, flags, payload, offset + sent, chunk,
                                frameFds, first ? deadlineNanos : Long.MAX_VALUE);
                    }
                }
                first = false;
                sent += chunk;
            } while (sent < length);
        } finally {
            if (first && duplicated != null) {
                Handles.closeAll(duplicated); // never handed to the ring or staging
            }
        }
    }

    /** Fds may not be sent from now on (see {@link Connection#refuseFds()}). */
    void refuseFds() {
        fdsRefused = true;
    }

    /**
     * Invoker mode only, the owning thread outside the loop's callbacks (the application is the loop): past
     * the high-water mark, runs the loop until the peer has read enough or the deadline passes. Loop work never
     * waits, a callback of an invoker-mode loop included (the loop it would run is the one running it); its
     * backpressure is that the connection stops being read.
     */
    private void awaitRoom(long deadlineNanos) {
        for (int attempt = 0; outbound.overHighWater(); attempt++) {
            if (!outbound.state().acceptsSends()) {
                throw outbound.unavailable();
            }
            if (loop.clock().nanoTime() - deadlineNanos >= 0) {
                throw full();
            }
            if (loop.invoker().cycle() == 0) {
                pause(attempt);
            }
        }
    }

    /**
     * An application thread puts one frame into the ring, waiting for room. Before the message has started
     * ({@code deadlineNanos} set) a passed deadline fails it; after, the fragment waits as long as the
     * connection lives, which the stall timeout bounds when the peer reads nothing at all.
     */
    private void waitForRing(byte type, long correlationId, int capId, int methodId, int flags,
            DirectBuffer payload, int offset, int length, long[] fds, long deadlineNanos) {
        int fdCount = fds == null ? 0 : fds.length;
        for (int attempt = 0; !ring.offer(type, correlationId, capId, methodId, flags, payload, offset, length, fds,
                fdCount); attempt++) {
            if (!outbound.state().acceptsSends()) {
                throw outbound.unavailable();
            }
            if (deadlineNanos != Long.MAX_VALUE && loop.clock().nanoTime() - deadlineNanos >= 0) {
                throw full();
            }
            pause(attempt);
        }
    }

    private StatusException full() {
        return new StatusException(StatusCode.RESOURCE_EXHAUSTED, "outbound queue of " + outbound.channel()
                + " stayed full (is the peer reading?)");
    }

    /**
     * How a sender waits for room: a few spins and yields for a loop that is about to drain, then parking in
     * growing steps up to a millisecond. Parking is plain Java, so a virtual thread waiting here unmounts
     * instead of pinning its carrier. {@link NotifyBatch} waits the same way.
     */
    static void pause(int attempt) {
        if (attempt < 8) {
            Thread.onSpinWait();
        } else if (attempt < 16) {
            Thread.yield();
        } else {
            LockSupport.parkNanos(Math.min(TimeUnit.MILLISECONDS.toNanos(1), 1_000L << Math.min(10, attempt - 16)));
        }
    }

    private static long[] duplicate(FileDescriptor[] fds) {
        long[] numbers = new long[fds.length];
        int done = 0;
        try {
            for (; done < fds.length; done++) {
                long number = fds[done].acquire();
                try {
                    numbers[done] = Errors.check(Native.dup(number), "dup", fds[done]);
                } finally {
                    fds[done].release();
                }
            }
            return numbers;
        } catch (NativeIoException e) {
            for (int i = 0; i < done; i++) {
                Native.close(numbers[i]);
            }
            throw new StatusException(StatusCode.INVALID_ARGUMENT, "cannot pass " + e.getMessage(), e);
        }
    }
}
