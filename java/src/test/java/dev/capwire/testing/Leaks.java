package dev.capwire.testing;

import dev.capwire.bindings.ProcSelf;
import java.io.IOException;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/** Snapshots of this process's open fds and live threads, to prove a test left nothing behind. */
public final class Leaks {
    private Leaks() {
    }

    /** Open fd numbers mapped to what they point at (the bindings tests' snapshot, shared through the test-jar). */
    public static TreeMap<Integer, String> openFds() throws IOException {
        return new TreeMap<>(ProcSelf.openFds());
    }

    public static Set<String> capwireThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(name -> name.startsWith("capwire-")).collect(Collectors.toSet());
    }

    /**
     * Waits (up to 10 s: closing is asynchronous on the loops) for the fd count to come back to
     * {@code before}; returns a description of what is still extra, or null when nothing is.
     */
    public static String fdsLeftOver(TreeMap<Integer, String> before) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        TreeMap<Integer, String> now = openFds();
        while (now.size() > before.size() && System.nanoTime() < deadline) {
            Thread.sleep(20);
            now = openFds();
        }
        if (now.size() <= before.size()) {
            return null;
        }
        now.keySet().removeAll(before.keySet());
        return now.toString();
    }

    /** Like {@link #fdsLeftOver}, for capwire threads. */
    public static String threadsLeftOver(Set<String> before) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        Set<String> now = capwireThreads();
        while (!before.containsAll(now) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            now = capwireThreads();
        }
        now.removeAll(before);
        return now.isEmpty() ? null : now.toString();
    }
}
