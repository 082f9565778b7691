package dev.capwire.bench.peers;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import java.nio.file.Path;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Capwire's one-way stream: every frame a NOTIFY offered from the benchmark thread with
 * {@link Connection#offerNotify}, spinning while the ring pushes back. The default transport (one event loop
 * that backs off while idle) drains the ring into the socket.
 */
public final class CapwireStreamPeer implements StreamPeer, FrameListener {
    private final Transport transport;
    private final Connection connection;
    private final UnsafeBuffer payload;
    private final UnsafeBuffer syncPayload;
    private volatile long syncsEchoed;
    private long syncsSent;

    public CapwireStreamPeer(Path socket, int payloadBytes) throws Exception {
        transport = Transport.create(TransportOptions.defaults());
        connection = transport.connect(Endpoint.unix(socket), this);
        payload = new UnsafeBuffer(Frames.notify(payloadBytes), FrameHeader.HEADER_LENGTH, payloadBytes);
        syncPayload = new UnsafeBuffer(new byte[payloadBytes]);
    }

    Connection connection() {
        return connection;
    }

    int payloadBytes() {
        return payload.capacity();
    }

    UnsafeBuffer payload() {
        return payload;
    }

    @Override
    public void onFrame(Connection from, InboundFrame frame) {
        syncsEchoed++; // the loop is the only writer; the sink echoes nothing but syncs
    }

    @Override
    public void send(int frames) {
        for (int i = 0; i < frames; i++) {
            while (!connection.offerNotify(Frames.CAP_ID, Frames.METHOD_ID, payload, 0, payload.capacity())) {
                Thread.onSpinWait();
            }
        }
    }

    @Override
    public void sync() {
        syncsSent++;
        while (!connection.offerNotify(Frames.CAP_ID, Frames.SYNC_METHOD_ID, syncPayload, 0, syncPayload.capacity())) {
            Thread.onSpinWait();
        }
        while (syncsEchoed < syncsSent) {
            Thread.yield();
        }
    }

    @Override
    public void close() {
        transport.close();
    }
}
