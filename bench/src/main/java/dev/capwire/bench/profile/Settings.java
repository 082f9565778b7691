package dev.capwire.bench.profile;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What one profiling run measures, from its command line: {@code --name=value} options and {@code -Dname=value}. */
record Settings(String scenario, int payloadBytes, int inflight, String idleStrategy, int threads, boolean batch,
        int warmupSeconds, int durationSeconds, Path out, boolean jfr, String profilerEvent,
        Map<String, String> properties, int connections) {

    static final List<String> SCENARIOS = List.of("roundtrip", "pipelined", "stream", "connect", "multi");

    static final String USAGE = String.join(System.lineSeparator(),
            "usage: Profile [--scenario=roundtrip|pipelined|stream|connect] [--payload=BYTES] [--inflight=N]",
            "               [--idle=backoff|spin|yield|sleep] [--loops=N] [--threads=N] [--batch=true|false]",
            "               [--warmup=SECONDS] [--duration=SECONDS] [--out=DIR] [--jfr] [-Dcapwire.name=value ...]",
            "               [--connections=N] [--profiler=cpu|wall|alloc|lock|itimer|ctimer]",
            "  roundtrip  one request at a time per thread (Connection.request), latency of each call",
            "  pipelined  up to --inflight requests outstanding per thread, latency of each call",
            "  stream     one-way NOTIFY frames (a NotifyBatch per thread, or sendNotify with --batch=false),",
            "             latency from the sender's clock to the server's listener",
            "  connect    connect, handshake and close, one after another per thread",
            "  multi      --threads senders of one-way NOTIFY frames over --connections connections (offerNotify per",
            "             frame, or a NotifyBatch per connection with --batch=true), and a probe connection doing one",
            "             request/reply at a time meanwhile: the latencies are the probe's round trips; the summary",
            "             adds the frames the server counted per connection (min, max)",
            "Both ends run in their own JVM over a Unix socket and get the same -Dcapwire.* properties.",
            "Writes DIR/latency.hlog (HdrHistogram log, one interval a second, values in ns), DIR/latency.svg",
            "(percentile plot), DIR/summary.txt, with --jfr DIR/client.jfr and DIR/server.jfr, and with",
            "--profiler=EVENT an async-profiler flame graph of each side over the measured seconds, split by thread:",
            "DIR/client-EVENT.html and DIR/server-EVENT.html, their stacks as text in *.collapsed (cpu: on-CPU time;",
            "wall: every thread's time, waiting included; alloc: bytes allocated; lock: contended monitors).");

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
        String profilerEvent = options.get("profiler");
        if (profilerEvent != null && !FlameGraphs.EVENTS.contains(profilerEvent)) {
            throw new IllegalArgumentException("unknown profiler event " + profilerEvent + "; one of "
                    + FlameGraphs.EVENTS);
        }
        Settings settings = new Settings(scenario, payload, Integer.parseInt(options.getOrDefault("inflight", "128")),
                idle, Integer.parseInt(options.getOrDefault("threads", "1")),
                Boolean.parseBoolean(options.getOrDefault("batch", "true")),
                Integer.parseInt(options.getOrDefault("warmup", "3")),
                Integer.parseInt(options.getOrDefault("duration", "10")), out,
                Boolean.parseBoolean(options.getOrDefault("jfr", "false")), profilerEvent, properties,
                Integer.parseInt(options.getOrDefault("connections", "1")));
        for (String known : List.of("scenario", "payload", "inflight", "idle", "threads", "batch", "warmup",
                "duration", "out", "jfr", "profiler", "connections")) {
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
                ? " inflight=" + inflight : "") + (scenario.equals("stream") || scenario.equals("multi")
                ? " batch=" + batch : "") + (scenario.equals("multi") ? " connections=" + connections : "")
                + " threads=" + threads + " warmup=" + warmupSeconds + " s duration=" + durationSeconds + " s "
                + properties;
    }
}
