package dev.capwire.bench.profile;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What one profiling run measures, from its command line: {@code --name=value} options and {@code -Dname=value}. */
record Settings(String scenario, int payloadBytes, int inflight, String idleStrategy, int threads, boolean batch,
        int warmupSeconds, int durationSeconds, Path out, boolean jfr, Map<String, String> properties) {

    static final List<String> SCENARIOS = List.of("roundtrip", "pipelined", "stream", "connect");

    static final String USAGE = String.join(System.lineSeparator(),
            "usage: Profile [--scenario=roundtrip|pipelined|stream|connect] [--payload=BYTES] [--inflight=N]",
            "               [--idle=backoff|spin|yield|sleep] [--loops=N] [--threads=N] [--batch=true|false]",
            "               [--warmup=SECONDS] [--duration=SECONDS] [--out=DIR] [--jfr] [-Dcapwire.name=value ...]",
            "  roundtrip  one request at a time per thread (Connection.request), latency of each call",
            "  pipelined  up to --inflight requests outstanding per thread, latency of each call",
            "  stream     one-way NOTIFY frames (a NotifyBatch per thread, or sendNotify with --batch=false),",
            "             latency from the sender's clock to the server's listener",
            "  connect    connect, handshake and close, one after another per thread",
            "Both ends run in their own JVM over a Unix socket and get the same -Dcapwire.* properties.",
            "Writes DIR/latency.hlog (HdrHistogram log, one interval a second, values in ns), DIR/latency.svg",
            "(percentile plot), DIR/summary.txt, and with --jfr DIR/client.jfr and DIR/server.jfr.");

    static Settings parse(String[] args) {
        Map<String, String> options = new LinkedHashMap<>();
        Map<String, String> properties = new LinkedHashMap<>();
        for (String arg : args) {
            if (arg.startsWith("-D") && arg.contains("=")) {
                int eq = arg.indexOf('=');
                properties.put(arg.substring(2, eq), arg.substring(eq + 1));
            } else if (arg.equals("--jfr")) {
                options.put("jfr", "true");
            } else if (arg.startsWith("--") && arg.contains("=")) {
                int eq = arg.indexOf('=');
                options.put(arg.substring(2, eq), arg.substring(eq + 1));
            } else {
                throw new IllegalArgumentException("unknown argument " + arg);
            }
        }
        String scenario = options.getOrDefault("scenario", "roundtrip");
        if (!SCENARIOS.contains(scenario)) {
            throw new IllegalArgumentException("unknown scenario " + scenario + "; one of " + SCENARIOS);
        }
        String loops = options.remove("loops");
        if (loops != null) {
            properties.put("capwire.eventLoops", loops); // read by TransportOptions.defaults() on both ends
        }
        String idle = options.getOrDefault("idle", properties.getOrDefault("capwire.idleStrategy", "backoff"));
        properties.put("capwire.idleStrategy", idle);
        int payload = Integer.parseInt(options.getOrDefault("payload", "64"));
        if ((scenario.equals("stream") || scenario.equals("pipelined")) && payload < Long.BYTES) {
            throw new IllegalArgumentException("a " + scenario + " payload carries its send time: at least 8 bytes");
        }
        Path out = Path.of(options.getOrDefault("out", "profile/" + scenario + "-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
        Settings settings = new Settings(scenario, payload, Integer.parseInt(options.getOrDefault("inflight", "128")),
                idle, Integer.parseInt(options.getOrDefault("threads", "1")),
                Boolean.parseBoolean(options.getOrDefault("batch", "true")),
                Integer.parseInt(options.getOrDefault("warmup", "3")),
                Integer.parseInt(options.getOrDefault("duration", "10")), out,
                Boolean.parseBoolean(options.getOrDefault("jfr", "false")), properties);
        for (String known : List.of("scenario", "payload", "inflight", "idle", "threads", "batch", "warmup",
                "duration", "out", "jfr")) {
            options.remove(known);
        }
        if (!options.isEmpty()) {
            throw new IllegalArgumentException("unknown options " + options.keySet());
        }
        return settings;
    }

    /** One line naming every setting, for the report. */
    String describe() {
        return "scenario=" + scenario + " payload=" + payloadBytes + " B" + (scenario.equals("pipelined")
                ? " inflight=" + inflight : "") + (scenario.equals("stream") ? " batch=" + batch : "")
                + " threads=" + threads + " warmup=" + warmupSeconds + " s duration=" + durationSeconds + " s "
                + properties;
    }
}
