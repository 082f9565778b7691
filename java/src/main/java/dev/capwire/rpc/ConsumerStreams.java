package dev.capwire.rpc;

import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.StatusException;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.collections.Int2ObjectHashMap;

/**
 * The server streams one connection consumes: each open stream by its id, so that the loop can hand a STREAM_ITEM
 * to the stream it belongs to. The calling thread opens a stream before its call goes out (an item can come before
 * the call's own send returns) and forgets it once the call has ended and the consumer is done with it; the close
 * ends every stream still open.
 *
 * <p>Stream ids only grow, so an item for an id above the last one opened is the peer's invention (a protocol
 * error), while one for an id at or below it belongs to a stream that ended here and is dropped.
 */
final class ConsumerStreams {
    private final RpcConnection rpc;
    private final AtomicInteger lastId = new AtomicInteger();
    private final Int2ObjectHashMap<ConsumerStream> open = new Int2ObjectHashMap<>(); // guarded by itself

    ConsumerStreams(RpcConnection rpc) {
        this.rpc = rpc;
    }

    /** A new stream, under a new id, that the peer may send {@code window} items before it grants more. */
    ConsumerStream open(int window) {
        int id = lastId.incrementAndGet();
        ConsumerStream stream = new ConsumerStream(rpc, id, window);
        synchronized (open) {
            open.put(id, stream);
        }
        return stream;
    }

    /** The stream is over here: late items for it are dropped, and the items it still held are let go. */
    void forget(ConsumerStream stream) {
        synchronized (open) {
            open.remove(stream.id());
        }
        stream.closeUnconsumed();
    }

    int count() {
        synchronized (open) {
            return open.size();
        }
    }

    /** Loop: an item for stream {@code id}; the frame's payload starts with that id. */
    void onItem(int id, InboundFrame frame) {
        ConsumerStream stream;
        synchronized (open) {
            stream = open.get(id);
        }
        if (stream == null) {
            if (Integer.compareUnsigned(id, lastId.get()) > 0) {
                rpc.protocolError("a STREAM_ITEM for stream " + Integer.toUnsignedString(id)
                        + ", which this side never opened");
            }
            return; // it ended or was cancelled here: late items are dropped, their fds closed by the loop
        }
        int offset = frame.payloadOffset() + Outgoing.STREAM_ID_BYTES;
        byte[] content = new byte[frame.payloadLength() - Outgoing.STREAM_ID_BYTES];
        frame.buffer().getBytes(offset, content);
        if (!stream.offer(content, frame.fdCount() == 0 ? ConsumerStream.NO_FDS : frame.takeFds())) {
            rpc.protocolError("stream " + id + " sent an item beyond the credit it was granted");
        }
    }

    /** The connection closed: every stream still open ends with {@code why}. */
    void closed(StatusException why) {
        ConsumerStream[] all;
        synchronized (open) {
            all = open.values().toArray(new ConsumerStream[0]);
        }
        for (ConsumerStream stream : all) {
            stream.end(why);
        }
    }
}
