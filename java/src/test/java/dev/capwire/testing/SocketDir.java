package dev.capwire.testing;

import static org.junit.jupiter.api.Assertions.assertNull;

import dev.capwire.transport.Endpoint;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A test class's directory for Unix socket files, and its promise to leave nothing behind: registered as a
 * static {@code @RegisterExtension}, it makes the directory (under /tmp, so socket paths stay short) and
 * snapshots the open fds and capwire threads before the class's tests, and after them fails the class if any
 * fd or thread is left over, then removes the directory.
 */
public final class SocketDir implements BeforeAllCallback, AfterAllCallback {
    private final String prefix;
    private Path dir;
    private TreeMap<Integer, String> fdsBefore;
    private Set<String> threadsBefore;

    public SocketDir(String prefix) {
        this.prefix = prefix;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), prefix); // first: it opens the JDK's /dev/urandom for good
        ManagementFactory.getPlatformMBeanServer(); // so does the MBean server Leaks.live() asks, with a socket
        fdsBefore = Leaks.openFds();
        threadsBefore = Leaks.capwireThreads();
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        assertNull(Leaks.fdsLeftOver(fdsBefore), "fds left open by " + context.getDisplayName());
        assertNull(Leaks.threadsLeftOver(threadsBefore), "capwire threads left running by " + context.getDisplayName());
        try (var files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(file);
            }
        }
        Files.deleteIfExists(dir);
    }

    public Path path(String name) {
        return dir.resolve(name);
    }

    public Endpoint endpoint(String name) {
        return Endpoint.unix(path(name));
    }
}
