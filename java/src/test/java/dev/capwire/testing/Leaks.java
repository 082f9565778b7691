package dev.capwire.testing;

import dev.capwire.bindings.ProcSelf;
import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import javax.management.ObjectName;

/** Snapshots of this process's open fds, live threads and live objects, to prove a test left nothing behind. */
public final class Leaks {
    private Leaks() {
    }

    /**
     * What a process holds after a full GC: heap bytes in use, direct-buffer bytes (the transport's native-side
     * memory: rings, receive buffers), and the live instances of each of Capwire's own classes. Instance counts
     * are exact, so a leak of one object per operation shows as a count that grew with the operations, whatever
     * the heap's noise.
     */
    public record Live(long heapBytes, long directBytes, Map<String, Long> capwireInstances) {
        /** One line: {@code <heap> <direct> <class>=<count>,...}. */
        public String encode() {
            StringBuilder line = new StringBuilder(heapBytes + " " + directBytes + " ");
            capwireInstances.forEach((name, count) -> line.append(name).append('=').append(count).append(','));
            return line.toString();
        }

        public static Live decode(String line) {
            String[] parts = line.trim().split(" ", 3);
            Map<String, Long> instances = new TreeMap<>();
            if (parts.length > 2) {
                for (String entry : parts[2].split(",")) {
                    if (!entry.isEmpty()) {
                        int eq = entry.lastIndexOf('=');
                        instances.put(entry.substring(0, eq), Long.parseLong(entry.substring(eq + 1)));
                    }
                }
            }
            return new Live(Long.parseLong(parts[0]), Long.parseLong(parts[1]), instances);
        }

        /** The classes with at least {@code atLeast} more live instances now than in {@code before}, and by how many. */
        public Map<String, Long> grownSince(Live before, long atLeast) {
            Map<String, Long> grown = new TreeMap<>();
            capwireInstances.forEach((name, count) -> {
                long more = count - before.capwireInstances.getOrDefault(name, 0L);
                if (more >= atLeast) {
                    grown.put(name, more);
                }
            });
            return grown;
        }
    }

    /** This process's {@link Live} snapshot; runs a full GC (the class histogram's). */
    public static Live live() throws Exception {
        String histogram = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
                new Object[] {null}, new String[] {String[].class.getName()});
        Map<String, Long> instances = new TreeMap<>();
        for (String row : histogram.split("\n")) {
            // "   1:      1234      56789  dev.capwire.transport.Connection (capwire.core)"
            String[] cells = row.trim().split("\\s+");
            if (cells.length >= 4 && cells[0].endsWith(":") && cells[3].startsWith("dev.capwire.")) {
                instances.merge(cells[3], Long.parseLong(cells[1]), Long::sum);
            }
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        long direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(pool -> pool.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
        return new Live(heap, direct, instances);
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
