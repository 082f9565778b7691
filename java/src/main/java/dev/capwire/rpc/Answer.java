package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.transport.InboundFrame;
import dev.capwire.wire.FrameHeader;
import org.agrona.DirectBuffer;

/**
 * A received RESPONSE: its descriptors and content, decoded on demand straight from the receive buffer (the
 * codecs copy what they keep). Valid only while the transport's reply handler runs. Each connection's
 * {@link Caller} reuses one ({@link #take}, {@link #release}): the decoded value never refers to it, and
 * it is released before the question completes, so a caller's callback that makes a call of its own (and,
 * driving the transport, decodes its answer on this thread) gets a fresh one only if it nests.
 */
final class Answer {
    private RpcConnection rpc;
    private InboundFrame reply;
    private DirectBuffer buffer;
    private int start;
    private int end;
    private int capCount;
    private final Incoming incoming = new Incoming();
    private boolean inUse;

    /**
     * {@code spare}, or a new one when it is in use (a callback nested in the decoding of another answer), set to
     * decode {@code reply}. Answers are loop work, which one thread at a time runs, so the connection's one spare
     * needs no thread-local (a thread-local lookup per answer was a visible share of the caller's loop).
     */
    static Answer take(Answer spare, RpcConnection rpc, InboundFrame reply) {
        Answer answer = spare;
        if (answer.inUse) {
            answer = new Answer();
        }
        answer.inUse = true;
        answer.rpc = rpc;
        answer.reply = reply;
        answer.buffer = reply.buffer();
        answer.start = reply.payloadOffset();
        answer.end = answer.start + reply.payloadLength();
        return answer;
    }

    /** Checks the answer header (after {@link #take}; throws for a malformed one, whose fds the loop closes). */
    Answer check() {
        if (reply.payloadLength() < Outgoing.ANSWER_HEADER_BYTES) {
            throw new Codec.MalformedException("an answer of " + reply.payloadLength()
                    + " bytes (the header has 4)");
        }
        this.capCount = buffer.getShort(start, FrameHeader.ORDER) & 0xFFFF;
        if (reply.payloadLength() < Outgoing.ANSWER_HEADER_BYTES + 4 * capCount) {
            throw new Codec.MalformedException("an answer too short for its " + capCount + " descriptors");
        }
        return this;
    }

    /** Decoding is over: the answer refers to no frame any more, and this thread may decode the next here. */
    void release() {
        incoming.clear();
        rpc = null;
        reply = null;
        buffer = null;
        inUse = false;
    }

    private int contentOffset() {
        return start + Outgoing.ANSWER_HEADER_BYTES + 4 * capCount;
    }

    /** The answer's descriptors and content to decode; valid until {@link #release}. */
    Incoming incoming() {
        int[] descriptors = Incoming.descriptors(buffer, start + Outgoing.ANSWER_HEADER_BYTES, capCount);
        FileDescriptor[] fds = reply.fdCount() == 0 ? ConsumerStream.NO_FDS : reply.takeFds();
        if (incoming.tryReset(rpc.importer(), buffer, contentOffset(), end, descriptors, fds)) {
            return incoming;
        }
        return new Incoming(rpc.importer(), buffer, contentOffset(), end, descriptors, fds);
    }

    byte[] content() {
        byte[] bytes = new byte[end - contentOffset()];
        buffer.getBytes(contentOffset(), bytes);
        return bytes;
    }

    Object decode(Codec codec) {
        Incoming in = incoming();
        try {
            Object value = codec.decode(in);
            in.requireAllTaken();
            return value;
        } catch (RuntimeException e) {
            in.discard();
            throw e;
        }
    }
}
