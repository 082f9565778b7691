package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.capwire.testing.Leaks;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a handshake test class that ends with more open fds, more capwire threads, or a live child process
 * than it started with.
 */
final class NoLeaks implements BeforeAllCallback, AfterAllCallback {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(NoLeaks.class);

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        warmUp();
        context.getStore(NAMESPACE).put("fds", Leaks.openFds());
        context.getStore(NAMESPACE).put("threads", Leaks.capwireThreads());
    }

    /**
     * The JVM opens the random devices (and on this platform a socket) the first time it makes a nonce, an
     * HMAC or a temp file name, and keeps them for its lifetime: open them before the snapshot so they do not
     * read as leaks.
     */
    static void warmUp() throws Exception {
        new SecureRandom().nextBytes(new byte[32]);
        SharedSecret.of(new byte[SharedSecret.LENGTH]).clientProof(new byte[32], new byte[32]);
        Files.delete(Files.createTempDirectory(Path.of("/tmp"), "cwh"));
    }

    @Override
    @SuppressWarnings("unchecked")
    public void afterAll(ExtensionContext context) throws Exception {
        TreeMap<Integer, String> fds = context.getStore(NAMESPACE).remove("fds", TreeMap.class);
        Set<String> threads = context.getStore(NAMESPACE).remove("threads", Set.class);
        assertNull(Leaks.fdsLeftOver(fds), "fds left open by " + context.getDisplayName());
        assertNull(Leaks.threadsLeftOver(threads), "capwire threads left running by " + context.getDisplayName());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        List<String> children;
        do {
            children = ProcessHandle.current().children().filter(ProcessHandle::isAlive)
                    .map(child -> child.pid() + " " + child.info().commandLine().orElse("?"))
                    .collect(Collectors.toList());
        } while (!children.isEmpty() && System.nanoTime() < deadline && sleep());
        assertEquals(List.of(), children, "child processes left running by " + context.getDisplayName());
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(20);
        return true;
    }
}
