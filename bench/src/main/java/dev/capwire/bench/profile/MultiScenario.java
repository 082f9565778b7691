package dev.capwire.bench.profile;

import dev.capwire.bench.peers.CapwireStreamPeer;
import dev.capwire.bench.peers.CountingSink;
import dev.capwire.bench.peers.PeerProcess;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.NotifyBatch;
import dev.capwire.transport.Response;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Many producers (issue 15): {@code --threads} application threads send one-way NOTIFY frames over
 * {@code --connections} connections of one client transport ({@code --loops} event loops on each side; the
 * transport deals connections to its loops in turn). With fewer connections than threads, thread {@code t} sends on
 * connection {@code t mod connections} (4 threads on one connection); otherwise on every connection {@code c} with
 * {@code c mod threads == t}, in turn, never waiting on one whose ring is full while another has room. Each frame is
 * one {@link Connection#offerNotify}, or with {@code --batch=true} each turn fills one {@link NotifyBatch} of the
 * ring's largest record. Meanwhile a probe thread makes one request/reply at a time on its own connection to the
 * same server: the scenario's latencies are the probe's round trips. The server counts every connection's frames;
 * the summary gives what it counted over the measured seconds, per connection (min, max), so a starved connection
 * shows.
 */
final class MultiScenario implements Scenario {
    private static final long TIMEOUT_MS = 30_000;

    private final PeerProcess server;
    private final Transport transport;
    private final Connection[] connections;
    private final Connection probe;
    private final int payloadBytes;
    private final int threads;
    private final boolean batched;
    private final int durationSeconds;
    private final Recorder probeLatencies = new Recorder(3);
    private final Thread probeThread;
    private volatile boolean closing;
    private volatile Throwable probeFailure;
    private Map<Long, Long> measuredFrom; // the server's counts when the measured seconds began
    private Map<Long, Long> latest;

    MultiScenario(Settings settings, List<String> serverJvmOptions) throws Exception {
        if (settings.connections() < 1 || settings.threads() < 1) {
            throw new IllegalArgumentException("multi needs at least one connection and one thread");
        }
        server = PeerProcess.start("capwire-count-sink", settings.idleStrategy(), serverJvmOptions);
        transport = Transport.create(TransportOptions.defaults());
        connections = new Connection[settings.connections()];
        for (int c = 0; c < connections.length; c++) {
            connections[c] = transport.connect(Endpoint.unix(server.socket()), (from, frame) -> { });
        }
        probe = transport.connect(Endpoint.unix(server.socket()), (from, frame) -> { });
        payloadBytes = settings.payloadBytes();
        threads = settings.threads();
        batched = settings.batch();
        durationSeconds = settings.durationSeconds();
        probeThread = new Thread(this::probe, "profile-probe");
        probeThread.setDaemon(true);
        probeThread.start();
    }

    /** Round trips one at a time on the probe connection until the scenario closes. */
    private void probe() {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[payloadBytes]);
        try {
            while (!closing) {
                long start = System.nanoTime();
                probe.call(CountingSink.CAP_ID, CountingSink.ECHO_METHOD_ID, payload, 0, payloadBytes, TIMEOUT_MS);
                probeLatencies.recordValue(System.nanoTime() - start);
            }
        } catch (RuntimeException e) {
            if (!closing) {
                probeFailure = e;
            }
        }
    }

    @Override
    public void run(int thread, long deadlineNanos, Recorder unused, LongAdder done) {
        List<Connection> mine = new ArrayList<>();
        if (connections.length < threads) {
            mine.add(connections[thread % connections.length]);
        } else {
            for (int c = thread; c < connections.length; c += threads) {
                mine.add(connections[c]);
            }
        }
        Connection[] turn = mine.toArray(new Connection[0]);
        NotifyBatch[] batches = new NotifyBatch[turn.length];
        for (int i = 0; batched && i < turn.length; i++) {
            batches[i] = turn[i].notifyBatch();
        }
        UnsafeBuffer payload = new UnsafeBuffer(new byte[payloadBytes]);
        int idleTurns = 0;
        while (System.nanoTime() < deadlineNanos) {
            long sent = 0;
            for (int i = 0; i < turn.length; i++) {
                sent += batched ? fill(batches[i]) : turn[i].offerNotify(CountingSink.CAP_ID,
                        CountingSink.DATA_METHOD_ID, payload, 0, payloadBytes) ? 1 : 0;
            }
            if (sent > 0) {
                done.add(sent);
                idleTurns = 0;
            } else {
                CapwireStreamPeer.pause(idleTurns++); // every ring this thread sends on is full
            }
        }
    }

    /** One batch of as many frames as the ring's largest record takes, if the ring has room for it now. */
    private int fill(NotifyBatch batch) {
        if (!batch.begin(batch.maxBytes())) {
            return 0;
        }
        int frames = 0;
        while (batch.claim(CountingSink.CAP_ID, CountingSink.DATA_METHOD_ID, payloadBytes) >= 0) {
            frames++;
        }
        batch.commit();
        return frames;
    }

    /** The probe's round trips of the interval that ended; also takes the server's counts. */
    @Override
    public Histogram interval(Recorder unused) throws Exception {
        if (probeFailure != null) {
            throw new IllegalStateException("the probe connection failed", probeFailure);
        }
        latest = serverCounts();
        if (measuredFrom == null) {
            measuredFrom = latest; // the first call ends the warm-up
        }
        return probeLatencies.getIntervalHistogram();
    }

    /** Each counting connection's id and frames so far, as the server has them. */
    private Map<Long, Long> serverCounts() {
        Response answer = probe.call(CountingSink.CAP_ID, CountingSink.COUNTS_METHOD_ID, new UnsafeBuffer(new byte[0]),
                0, 0, TIMEOUT_MS);
        ByteBuffer counts = ByteBuffer.wrap(answer.payload()).order(ByteOrder.LITTLE_ENDIAN);
        Map<Long, Long> byConnection = new HashMap<>();
        while (counts.remaining() >= 2 * Long.BYTES) {
            byConnection.put(counts.getLong(), counts.getLong());
        }
        return byConnection;
    }

    @Override
    public String summary() {
        long total = 0;
        long min = Long.MAX_VALUE;
        long max = 0;
        for (Map.Entry<Long, Long> entry : latest.entrySet()) {
            long frames = entry.getValue() - measuredFrom.getOrDefault(entry.getKey(), 0L);
            total += frames;
            min = Math.min(min, frames);
            max = Math.max(max, frames);
        }
        if (latest.size() < connections.length) {
            min = 0; // a connection the server never saw a frame on
        }
        return String.format(Locale.ROOT, "server counted %,d frames over %d s (%,.0f frames/s) on %d of %d "
                + "connections; per connection over the measured seconds: min %,d, max %,d (max/min %s)%n", total,
                durationSeconds, total / (double) durationSeconds, latest.size(), connections.length, min, max,
                min == 0 ? "infinite" : String.format(Locale.ROOT, "%.2f", max / (double) min));
    }

    @Override
    public PeerProcess server() {
        return server;
    }

    @Override
    public void close() throws Exception {
        closing = true;
        probeThread.join(TimeUnit.SECONDS.toMillis(TIMEOUT_MS / 1000 + 1));
        transport.close();
        server.close();
    }
}
