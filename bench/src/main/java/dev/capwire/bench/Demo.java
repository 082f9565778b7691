package dev.capwire.bench;

import dev.capwire.bindings.StartupChecks;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Capwire end to end, in three processes: a broker ({@link DemoBroker}, this JVM), a backend the broker starts
 * on the first client's Hello ({@link DemoBackend}) and a client ({@link DemoClient}) that the broker hands to
 * that backend, socket and all, and which then uses the backend's typed greeter cap. One main class with a mode
 * argument, so the broker can launch its backend from the very jar it runs from.
 */
public final class Demo {
    static final String BACKEND = "backend";
    static final String CLIENT = "client";

    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        StartupChecks.run();
        if (args.length == 3 && args[0].equals(BACKEND)) {
            DemoBackend.run(args[1], args[2]);
        } else if (args.length == 2 && args[0].equals(CLIENT)) {
            DemoClient.run(args[1]);
        } else {
            DemoBroker.run(System.out);
        }
    }

    /** The command that runs this main class in another JVM, with this JVM's class path and Capwire's flags. */
    static List<String> command(String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JvmFlags.all());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Demo.class.getName()));
        command.addAll(List.of(args));
        return command;
    }
}
