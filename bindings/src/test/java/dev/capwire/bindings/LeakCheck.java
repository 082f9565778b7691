package dev.capwire.bindings;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class that ends with a different set of open fds (counted in {@code /proc/self/fd}) or with
 * a live child process, naming each fd by its readlink target and each child by pid and command.
 */
final class LeakCheck implements BeforeAllCallback, AfterAllCallback {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(LeakCheck.class);
    private static final String FDS = "fds";

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        openLazyJvmHandles();
        context.getStore(NAMESPACE).put(FDS, ProcSelf.openFds());
    }

    /**
     * The JVM opens some handles on first use and keeps them for its lifetime: the jars of classes loaded
     * later, the random devices behind temp file names, and the socket NIO keeps for closing fds under
     * blocked threads (made by the first file channel). Opening them before the first snapshot keeps them
     * out of every class's count.
     */
    private static void openLazyJvmHandles() throws Exception {
        Native.ensureLoaded();
        Errno.name(Errno.EPIPE);
        new SecureRandom().nextLong();
        Files.delete(Files.createTempDirectory(Path.of("/tmp"), "cw"));
        ProcSelf.identity();
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        @SuppressWarnings("unchecked")
        SortedMap<Integer, String> before = context.getStore(NAMESPACE).remove(FDS, SortedMap.class);
        SortedMap<Integer, String> after = ProcSelf.openFds();
        List<String> problems = new ArrayList<>();
        if (after.size() != before.size()) {
            problems.add("open fds went from " + before.size() + " to " + after.size()
                    + "; opened and not closed: " + ProcSelf.added(before, after)
                    + "; closed though open before: " + ProcSelf.added(after, before));
        }
        List<String> children = ProcessHandle.current().children().filter(ProcessHandle::isAlive)
                .map(child -> child.pid() + " " + child.info().commandLine().orElse("?"))
                .collect(Collectors.toList());
        if (!children.isEmpty()) {
            problems.add("child processes still running: " + children);
        }
        if (!problems.isEmpty()) {
            throw new AssertionError(context.getDisplayName() + " leaked: " + String.join("; ", problems));
        }
    }
}
