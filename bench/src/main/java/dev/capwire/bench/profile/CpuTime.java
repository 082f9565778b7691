package dev.capwire.bench.profile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU time a process has used, user and system, from Linux's /proc/PID/stat. Divided by the operations done, it
 * is a cost per operation that, unlike throughput, does not fall when other work on a shared host takes the cores.
 */
final class CpuTime {
    /** Linux reports utime and stime in clock ticks of 1/100 s on every common configuration (USER_HZ). */
    private static final long NANOS_PER_TICK = 10_000_000L;

    private CpuTime() {
    }

    /** User plus system time of {@code pid} in nanoseconds, or -1 where /proc cannot tell. */
    static long nanos(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // fields[0] is the state (field 3), so utime (field 14) and stime (field 15) are at 11 and 12.
            return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * NANOS_PER_TICK;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
