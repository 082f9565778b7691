package dev.capwire.transport;

import dev.capwire.bindings.Errno;
import dev.capwire.bindings.Native;
import dev.capwire.wire.ClaimedFds;
import dev.capwire.wire.FrameDecoder;
import dev.capwire.wire.FrameHandler;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAwayReason;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import org.agrona.DirectBuffer;
import org.agrona.collections.LongArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One connection's way in: reading, decoding in place, binding received fds to the frames that declare them,
 * the inbound gate, and dispatch (replies to the request table, PINGs answered, GOAWAY to the close sequence,
 * everything else to the listener). Loop work only.
 *
 * <p>The loop reads into a direct receive buffer (with recvmsg on Unix sockets, so fds are collected in
 * arrival order) and decodes frames in place. Each frame claims exactly the number of fds its header declares;
 * a frame that claims more than have arrived is a protocol error.
 */
final class InboundPath {
    /** Where the inbound path hands what it reads, and what it needs to know of its connection. */
    interface Owner {
        ConnectionState state();

        /** The peer broke the protocol: GOAWAY with {@code reason}, then close. */
        void protocolError(GoAwayReason reason, String message);

        void readFailed(CloseReason reason);

        void endOfStream();

        /** Bytes arrived (keepalive's sign of life). */
        void received();

        /** A RESPONSE or ERROR to one of this side's requests. */
        void reply(byte type, long correlationId, DirectBuffer buffer, int offset, int length, ClaimedFds fds);

        /** Echo a PING's payload in a PONG; best effort. */
        void pong(long correlationId, DirectBuffer buffer, int offset, int length);

        void goAway(DirectBuffer buffer, int offset, int length);

        /** A REQUEST, NOTIFY or CANCEL for the listener; the frame is a view valid during the call only. */
        void frame(InboundFrame frame);
    }

    /**
     * The most one connection reads in one pass of its loop. A peer that keeps its socket full would otherwise have
     * the loop decode and dispatch everything it sent (up to the socket's buffer, some hundreds of KiB) before the
     * loop comes back to its other connections; what is left is read in the next pass, since level-triggered
     * polling reports the socket again.
     */
    static final int READ_BUDGET_BYTES = 64 * 1024;
    static final int PING_PAYLOAD_LENGTH = 8;
    private static final LongConsumer CLOSE_FD = Native::close;
    private static final byte[] NO_BYTES = new byte[0];
    /** An unfinished frame this small keeps its carry array; a larger one's is dropped once it completes. */
    private static final int KEPT_CARRY_BYTES = 256;

    private final Owner owner;
    private final EventLoop loop;
    private final long fd;
    private final boolean unix;
    private final UnsafeBuffer receive; // the loop's, lent to each connection for the length of a read
    private byte[] carry = NO_BYTES; // an unfinished frame, kept between reads
    private int carried;
    private final FrameDecoder decoder;
    private final LongArrayQueue arrivedFds = new LongArrayQueue();
    private final InboundFrame inbound = new InboundFrame();
    private long bytesReceived;
    private boolean paused; // backpressure: the peer is not reading what we send, so we stop reading it
    private InboundGate gate; // null while open
    private long lastRequestId;
    private boolean fdsRefused; // the layer above did not negotiate fd passing
    private long gateTimer = -1;
    private org.agrona.ExpandableArrayBuffer unread; // while handing the socket off: frames kept as bytes
    private int unreadLength;
    private boolean seeded; // carry holds bytes another process read from this socket: decode them first

    InboundPath(Owner owner, EventLoop loop, long fd, boolean unix, TransportOptions options) {
        this.owner = owner;
        this.loop = loop;
        this.fd = fd;
        this.unix = unix;
        this.receive = loop.receiveBuffer();
        this.decoder = new FrameDecoder(receive, options.maxFrameBytes(), options.maxMessageBytes(), unix,
                arrivedFds, new Dispatcher());
    }

    /** Bytes read so far: a busy-polling loop counts a read that moved it as work. */
    long bytesReceived() {
        return bytesReceived;
    }

    // ---------------------------------------------------------------------------------------------------
    // The gate
    // ---------------------------------------------------------------------------------------------------

    void shutGate(InboundGate shut) {
        gate = shut;
        decoder.refuseFragments(shut.reason(), "before the " + shut.awaiting() + " completed");
        cancelGateTimer();
        gateTimer = loop.timers().schedule(loop.clock().nanoTime() + TimeUnit.MILLISECONDS.toNanos(shut.timeoutMs()),
                id -> {
                    gateTimer = -1;
                    owner.protocolError(shut.reason(), "no " + shut.awaiting() + " within "
                            + shut.timeoutMs() + " ms");
                });
    }

    void openGate() {
        gate = null;
        decoder.allowFragments();
        cancelGateTimer();
    }

    private void cancelGateTimer() {
        if (gateTimer != -1) {
            loop.timers().cancel(gateTimer);
            gateTimer = -1;
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Reading
    // ---------------------------------------------------------------------------------------------------

    /** Whether backpressure has stopped reading: this side's replies to the peer wait unread. */
    boolean isPaused() {
        return paused;
    }

    /** Stops or resumes reading (backpressure); the caller tells the poller. */
    void pause(boolean stop) {
        paused = stop;
    }

    /**
     * Reads what has arrived, unless paused; {@code evenIfPaused} for a hang-up, whose end of stream must be
     * seen. The receive buffer is the loop's, lent for this read: an unfinished frame is put back into it first
     * and carried away again afterwards, so an idle connection holds no receive buffer at all. Returns false
     * when the buffer is lent out already (a listener of another connection's read got here): the poller
     * reports the socket again.
     */
    boolean readIn(boolean evenIfPaused) {
        if (paused && !evenIfPaused) {
            return true;
        }
        if (!loop.borrowReceiveBuffer()) {
            return false;
        }
        try {
            if (carried > 0) {
                receive.putBytes(0, carry, 0, carried);
            }
            decoder.restore(carried);
            if (seeded) {
                seeded = false;
                decoder.onBytesReceived(0); // frames complete in the seed are not waiting for any read
            }
            readSome();
        } finally {
            carryUnfinished();
            loop.returnReceiveBuffer();
        }
        return true;
    }

    /** Keeps what a read left undecoded (the start of a frame) until the next read. */
    private void carryUnfinished() {
        int pending = owner.state() == ConnectionState.CLOSED || decoder.isStopped() ? 0 : decoder.pendingBytes();
        if (pending > carry.length) {
            carry = new byte[Math.max(pending, Math.min(2 * carry.length, decoder.writableBytes() + pending))];
        }
        if (pending > 0) {
            receive.getBytes(decoder.pendingOffset(), carry, 0, pending);
        } else if (carry.length > KEPT_CARRY_BYTES) {
            carry = NO_BYTES; // the big frame is done: give its memory back
        }
        carried = pending;
        decoder.restore(0);
    }

    private void readSome() {
        for (int budget = READ_BUDGET_BYTES; budget > 0 && owner.state() != ConnectionState.CLOSED;) {
            int space = Math.min(decoder.writableBytes(), budget);
            long at = receive.addressOffset() + decoder.writeOffset();
            int received;
            if (unix) {
                UnsafeBuffer fdScratch = loop.fdScratch();
                long fdsAddress = fdScratch.addressOffset();
                received = Native.recvFds(fd, at, space, fdsAddress, FrameHeader.MAX_FDS,
                        fdsAddress + Handles.bytes(FrameHeader.MAX_FDS));
                if (received == -Errno.EMSGSIZE) {
                    // MSG_CTRUNC: the kernel could not hand over every fd, because the message carried more than
                    // our buffer takes or because this process's fd table is full (EMFILE) - it cannot say which.
                    owner.protocolError(GoAwayReason.FD_MISMATCH, "the kernel truncated the fds of a message (more"
                            + " than " + FrameHeader.MAX_FDS + " in one, or this process is out of fds); every fd"
                            + " that did arrive was closed");
                    return;
                }
                int fdCount = received >= 0 ? fdScratch.getInt(Handles.bytes(FrameHeader.MAX_FDS)) : 0;
                if (fdCount > 0 && fdsRefused) {
                    Handles.closeAll(fdScratch, 0, fdCount);
                    owner.protocolError(GoAwayReason.FD_MISMATCH, fdCount + " fds arrived on a connection that did"
                            + " not negotiate fd passing");
                    return;
                }
                InboundGate shut = gate;
                if (fdCount > 0 && shut != null) {
                    // Nobody has checked this peer yet: its fds must not sit in our table even briefly (systemd
                    // once let fds land in a server before its authorization check).
                    Handles.closeAll(fdScratch, 0, fdCount);
                    owner.protocolError(shut.reason(), fdCount + " fds arrived before the " + shut.awaiting()
                            + " completed");
                    return;
                }
                for (int i = 0; i < fdCount; i++) {
                    if (decoder.isStopped()) {
                        Native.close(Handles.get(fdScratch, 0, i)); // nobody will claim them any more
                    } else {
                        arrivedFds.addLong(Handles.get(fdScratch, 0, i));
                    }
                }
            } else {
                received = Native.read(fd, at, space);
            }
            if (received == -Errno.EAGAIN) {
                return;
            }
            if (received < 0) {
                owner.readFailed(CloseReason.ioError(unix ? "recvmsg" : "read", received));
                return;
            }
            if (received == 0) {
                owner.endOfStream();
                return;
            }
            owner.received();
            bytesReceived += received;
            budget -= received;
            decoder.onBytesReceived(received);
            if (arrivedFds.size() > FrameHeader.MAX_FDS && owner.state() != ConnectionState.CLOSED) {
                // Only the frame whose header is still incomplete may have fds waiting, at most MAX_FDS of them;
                // more are fds sent with frames that declared none, and keeping them would let a peer use up
                // this process's fd table.
                int unclaimed = arrivedFds.size();
                closeArrivedFds();
                owner.protocolError(GoAwayReason.FD_MISMATCH, unclaimed + " fds arrived that no frame declared");
                return;
            }
            if (received < space) {
                return; // drained for now; level-triggered polling brings us back when more arrives
            }
        }
    }

    /** Receives the decoder's frames; whatever fds the receiver did not take are closed after each. */
    private final class Dispatcher implements FrameHandler {
        @Override
        public void onFrame(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength,
                ClaimedFds fds) {
            try {
                dispatch(header, buffer, payloadOffset, payloadLength, fds);
            } finally {
                fds.releaseAll(CLOSE_FD);
            }
        }

        @Override
        public void onError(GoAwayReason reason, String message) {
            owner.protocolError(reason, message);
        }
    }

    /**
     * The frames of a busy connection, kept small so that the compiler inlines it into the decoder's loop: on an
     * open connection with no gate and nothing being handed off, a NOTIFY or a REQUEST with an id goes to the
     * listener and a RESPONSE or ERROR to the request table at once. Every other case is {@link #dispatchChecked}'s,
     * which decides them as before.
     */
    private void dispatch(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength,
            ClaimedFds fds) {
        byte type = header.type();
        long id = header.correlationId();
        if (gate == null && unread == null && owner.state() == ConnectionState.OPEN) {
            if (type == FrameType.NOTIFY || type == FrameType.REQUEST && id != 0) {
                if (type == FrameType.REQUEST && Long.compareUnsigned(id, lastRequestId) > 0) {
                    lastRequestId = id;
                }
                inbound.set(type, id, header.capId(), header.methodId(), buffer, payloadOffset, payloadLength, fds);
                owner.frame(inbound);
                return;
            }
            if (type == FrameType.RESPONSE || type == FrameType.ERROR) {
                owner.reply(type, id, buffer, payloadOffset, payloadLength, fds);
                return;
            }
        }
        dispatchChecked(header, buffer, payloadOffset, payloadLength, fds);
    }

    private void dispatchChecked(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength,
            ClaimedFds fds) {
        ConnectionState state = owner.state();
        if (state == ConnectionState.CLOSED) {
            return;
        }
        if (unread != null) {
            int frameLength = (int) header.frameLength();
            unread.putBytes(unreadLength, buffer, payloadOffset - FrameHeader.HEADER_LENGTH, frameLength);
            unreadLength += frameLength;
            return;
        }
        byte type = header.type();
        InboundGate shut = gate;
        if (shut != null && !shut.admits(type)) {
            owner.protocolError(shut.reason(), FrameType.name(type) + " before the "
                    + shut.awaiting() + " completed");
            return;
        }
        switch (type) {
            case FrameType.RESPONSE:
            case FrameType.ERROR:
                owner.reply(type, header.correlationId(), buffer, payloadOffset, payloadLength, fds);
                return;
            case FrameType.PING:
                if (payloadLength != PING_PAYLOAD_LENGTH) {
                    // The echo copies the payload: any other size lets a peer make us send what it likes.
                    owner.protocolError(GoAwayReason.PROTOCOL_ERROR, "PING with a payload of "
                            + payloadLength + " bytes (must be " + PING_PAYLOAD_LENGTH + ")");
                    return;
                }
                if (state.acceptsSends()) {
                    owner.pong(header.correlationId(), buffer, payloadOffset, payloadLength);
                }
                return;
            case FrameType.PONG:
                return;
            case FrameType.CANCEL:
                if (payloadLength != 0) {
                    owner.protocolError(GoAwayReason.PROTOCOL_ERROR, "CANCEL with a payload of " + payloadLength
                            + " bytes (must be empty)");
                    return;
                }
                break;
            case FrameType.REQUEST:
                if (header.correlationId() == 0) {
                    // A reply is matched by its id, and 0 means "none": such a request could never be answered.
                    owner.protocolError(GoAwayReason.PROTOCOL_ERROR, "REQUEST with correlation id 0");
                    return;
                }
                break;
            case FrameType.GOAWAY:
                owner.goAway(buffer, payloadOffset, payloadLength);
                return;
            default:
                break;
        }
        if (!state.acceptsSends()) {
            return; // closing: requests that arrive now would get no reply anyway
        }
        if (type == FrameType.REQUEST) {
            long id = header.correlationId();
            if (Long.compareUnsigned(id, lastRequestId) > 0) {
                lastRequestId = id; // ids are unsigned 64-bit
            }
        }
        inbound.set(type, header.correlationId(), header.capId(), header.methodId(), buffer, payloadOffset,
                payloadLength, fds);
        owner.frame(inbound);
    }

    // ---------------------------------------------------------------------------------------------------
    // Handing the socket to another process, and taking one over
    // ---------------------------------------------------------------------------------------------------

    /**
     * From now on frames are kept as the bytes they arrived as, not dispatched: the socket is being handed to
     * another process, which must read them as if it had read them itself.
     */
    void keepFramesUnread() {
        if (unread == null) {
            unread = new org.agrona.ExpandableArrayBuffer(256);
        }
    }

    /** Every byte read but not dispatched since {@link #keepFramesUnread()}, in arrival order. */
    byte[] unreadBytes() {
        byte[] bytes = new byte[unreadLength + carried];
        if (unread != null) {
            unread.getBytes(0, bytes, 0, unreadLength);
        }
        System.arraycopy(carry, 0, bytes, unreadLength, carried);
        return bytes;
    }

    /** Whether seeded bytes still wait to be decoded. */
    boolean isSeeded() {
        return seeded;
    }

    /** Before the first read: {@code bytes} were read from this socket by its previous owner, and come first. */
    void seed(byte[] bytes) {
        carry = bytes.clone();
        carried = bytes.length;
        seeded = carried > 0;
    }

    /** The highest REQUEST id handed to the listener, for our GOAWAY's {@code last_correlation_id}; 0 if none. */
    long lastRequestId() {
        return lastRequestId;
    }

    /** fds that arrive from now on end the connection (fd passing was not negotiated). */
    void refuseFds() {
        fdsRefused = true;
    }

    /** Frames above {@code maxFrameBytes} are refused from now on (the negotiated limit). */
    void limitFrameBytes(int maxFrameBytes) {
        decoder.limitFrameBytes(maxFrameBytes);
    }

    // ---------------------------------------------------------------------------------------------------
    // Closing
    // ---------------------------------------------------------------------------------------------------

    /** Later bytes are read only to be discarded (after a protocol violation, or once closed). */
    void stopDecoding() {
        decoder.stop();
    }

    private void closeArrivedFds() {
        while (!arrivedFds.isEmpty()) {
            Native.close(arrivedFds.pollLong());
        }
    }

    /** Loop, at close: fds nobody claimed are closed, and what was carried is dropped. */
    void release() {
        cancelGateTimer();
        decoder.stop(); // a listener that closed while a read delivers its frames gets no more of them
        decoder.releaseFds(CLOSE_FD);
        closeArrivedFds();
        carry = NO_BYTES;
        carried = 0;
    }
}
