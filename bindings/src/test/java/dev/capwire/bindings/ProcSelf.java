package dev.capwire.bindings;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/** What Linux says about this process, read from {@code /proc/self}: real ids, open fds and mapped files. */
public final class ProcSelf {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final Path FDS = Path.of("/proc/self/fd");
    private static final Path MAPS = Path.of("/proc/self/maps");
    private static final Pattern SOCKET = Pattern.compile("socket:\\[(\\d+)]");

    private ProcSelf() {
    }

    /** This process as a peer would see it: pid, real uid, real gid. */
    static PeerCredentials identity() throws IOException {
        return new PeerCredentials(ProcessHandle.current().pid(), realId("Uid:"), realId("Gid:"));
    }

    /** The first (real) id of a {@code Uid:} or {@code Gid:} line: "Uid:\treal\teffective\tsaved\tfs". */
    private static long realId(String field) throws IOException {
        List<String> lines = Files.readAllLines(STATUS);
        for (String line : lines) {
            if (line.startsWith(field)) {
                return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
            }
        }
        throw new IllegalStateException("no " + field + " line in " + STATUS);
    }

    /**
     * Open fd numbers and what each points to (readlink), without the directory handle used to list them
     * and without the cgroup files the JVM's own container support opens and closes at times of its choosing.
     */
    public static SortedMap<Integer, String> openFds() throws IOException {
        String listingHandle = "/proc/" + ProcessHandle.current().pid() + "/fd";
        SortedMap<Integer, String> fds = new TreeMap<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(FDS)) {
            for (Path entry : entries) {
                try {
                    String target = Files.readSymbolicLink(entry).toString();
                    if (!target.equals(listingHandle) && !target.startsWith("/sys/fs/cgroup/")) {
                        fds.put(Integer.parseInt(entry.getFileName().toString()), target);
                    }
                } catch (NoSuchFileException closedMeanwhile) {
                    // Another thread closed it between the listing and the readlink: it is not open.
                }
            }
        }
        return fds;
    }

    /**
     * The distinct files mapped into this process whose path holds {@code fragment}, as the kernel names them:
     * a file unlinked since it was mapped ends in {@code " (deleted)"}.
     */
    static List<String> mappedFiles(String fragment) throws IOException {
        // Fields: address, perms, offset, device, inode, path (which may hold spaces).
        return Files.readAllLines(MAPS).stream()
                .map(line -> line.trim().split("\\s+", 6))
                .filter(fields -> fields.length == 6 && fields[5].contains(fragment))
                .map(fields -> fields[5]).distinct().collect(Collectors.toList());
    }

    /** The entries of {@code after} that are not in {@code before}, as "fd -> target" text. */
    static List<String> added(SortedMap<Integer, String> before, SortedMap<Integer, String> after) {
        return after.entrySet().stream()
                .filter(entry -> !entry.getValue().equals(before.get(entry.getKey())))
                .map(entry -> entry.getKey() + " -> " + describe(entry.getValue()))
                .collect(Collectors.toList());
    }

    /** A readlink target, and for a socket the protocol table line that names it (so a leak says what it is). */
    private static String describe(String target) {
        Matcher socket = SOCKET.matcher(target);
        if (!socket.matches()) {
            return target;
        }
        String inode = socket.group(1);
        for (String table : new String[] {"unix", "tcp", "tcp6", "udp", "udp6", "netlink"}) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/net", table))) {
                    if (Arrays.asList(line.trim().split("\\s+")).contains(inode)) {
                        return target + " (" + table + ": " + line.trim() + ")";
                    }
                }
            } catch (IOException unreadable) {
                // Some tables are missing in some namespaces: look in the others.
            }
        }
        return target;
    }
}
