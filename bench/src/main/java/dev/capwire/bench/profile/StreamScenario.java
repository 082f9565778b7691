package dev.capwire.bench.profile;

import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.bench.peers.StreamLatencySink;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.NotifyBatch;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A one-way NOTIFY stream on one connection, each thread sending through its own {@link NotifyBatch} (filled to
 * the ring's largest record, then committed) or with one {@link Connection#sendNotify} per frame. Every payload
 * starts with its send time; the server's listener records the latency, and reports each interval's histogram
 * when asked, so the latencies are sender to receiver, one way.
 */
final class StreamScenario implements Scenario {
    private final PeerProcess server;
    private final Transport transport;
    private final Connection connection;
    private final int payloadBytes;
    private final boolean batched;
    private final BlockingQueue<Histogram> reports = new ArrayBlockingQueue<>(4);
    private final UnsafeBuffer control = new UnsafeBuffer(new byte[Long.BYTES]);

    StreamScenario(Settings settings, List<String> serverJvmOptions) throws Exception {
        server = PeerProcess.start("capwire-sink-timed", settings.idleStrategy(), serverJvmOptions);
        transport = Transport.create(TransportOptions.defaults());
        connection = transport.connect(Endpoint.unix(server.socket()), this::onFrame);
        payloadBytes = settings.payloadBytes();
        batched = settings.batch();
    }

    private void onFrame(Connection from, InboundFrame frame) {
        if (frame.methodId() == StreamLatencySink.REPORT_METHOD_ID) {
            try {
                reports.offer(Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(frame.payloadBytes()),
                        StreamLatencySink.HIGHEST_NANOS));
            } catch (java.util.zip.DataFormatException e) {
                throw new IllegalStateException("the server's latency report does not decode", e);
            }
        }
    }

    @Override
    public void run(int thread, long deadlineNanos, Recorder latencies, LongAdder done) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[payloadBytes]);
        NotifyBatch batch = batched ? connection.notifyBatch() : null;
        while (System.nanoTime() < deadlineNanos) {
            if (batch == null) {
                payload.putLong(0, System.nanoTime());
                // Waits for ring room as sendNotify does (spin, yield, then park), not with a yield loop that would
                // keep a core from the loop thread.
                connection.sendNotify(StreamLatencySink.CAP_ID, StreamLatencySink.DATA_METHOD_ID, payload, 0,
                        payloadBytes, 10_000);
                done.increment();
                continue;
            }
            if (!batch.begin(batch.maxBytes(), 10_000)) {
                throw new IllegalStateException("the ring stayed full for 10 s: is the server reading?");
            }
            int frames = 0;
            int at;
            while ((at = batch.claim(StreamLatencySink.CAP_ID, StreamLatencySink.DATA_METHOD_ID, payloadBytes)) >= 0) {
                batch.buffer().putLong(at, System.nanoTime());
                frames++;
            }
            batch.commit();
            done.add(frames);
        }
    }

    /** Asks the server for the latencies it recorded since the last report. */
    @Override
    public Histogram interval(Recorder unused) throws Exception {
        control.putLong(0, System.nanoTime());
        connection.sendNotify(StreamLatencySink.CAP_ID, StreamLatencySink.REPORT_METHOD_ID, control, 0, Long.BYTES,
                10_000);
        Histogram report = reports.poll(30, TimeUnit.SECONDS);
        if (report == null) {
            throw new IllegalStateException("the stream's server sent no latency report within 30 s");
        }
        return report;
    }

    @Override
    public PeerProcess server() {
        return server;
    }

    @Override
    public void close() throws Exception {
        transport.close();
        server.close();
    }
}
