package dev.capwire.rpc;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A server process whose handler executor is a gate: calls dispatched to a handler thread wait in it until the
 * test says {@code release}, so a test can revoke a cap while calls on it are between their dispatch and their
 * handler, deterministically. Serves {@link Gated} as "gated" through the handshake service "app". Commands, each
 * answered with one line: {@code held} ({@code HELD <n>}, calls waiting at the gate), {@code unserve}
 * ({@code UNSERVED}), {@code replace} ({@code REPLACED}), {@code release} (runs what waits: {@code RELEASED <n>}),
 * {@code ran} ({@code RAN <n>}, how many times a handler ran).
 */
public final class GatedServerMain {
    /** The cap: an echo whose handler runs on the (gated) handler executor. */
    @Capability(name = "gated", version = "1.0.0")
    public interface Gated {
        @Method(1)
        CompletableFuture<byte[]> echo(byte[] bytes);
    }

    private GatedServerMain() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = System.out;
        List<Runnable> held = new ArrayList<>();
        Executor gate = task -> {
            synchronized (held) {
                held.add(task);
            }
        };
        AtomicInteger ran = new AtomicInteger();
        Gated implementation = bytes -> {
            ran.incrementAndGet();
            return CompletableFuture.completedFuture(bytes);
        };
        Rpc rpc = Rpc.create(RpcOptions.builder().executor(gate).build());
        ServeHandle[] served = {rpc.serve(Gated.class, implementation, IfExists.THROW)};
        ChildServer.run(args[0], rpc.listener(), out, line -> {
            switch (line) {
                case "held":
                    synchronized (held) {
                        return "HELD " + held.size();
                    }
                case "unserve":
                    served[0].close();
                    return "UNSERVED";
                case "replace":
                    served[0] = rpc.serve(Gated.class, implementation, IfExists.REPLACE);
                    return "REPLACED";
                case "release":
                    List<Runnable> tasks;
                    synchronized (held) {
                        tasks = new ArrayList<>(held);
                        held.clear();
                    }
                    tasks.forEach(Runnable::run);
                    return "RELEASED " + tasks.size();
                case "ran":
                    return "RAN " + ran.get();
                default:
                    return "UNKNOWN " + line;
            }
        });
    }
}
