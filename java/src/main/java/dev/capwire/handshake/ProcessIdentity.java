package dev.capwire.handshake;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** This process's own uid, for the same-user policy. */
final class ProcessIdentity {
    private ProcessIdentity() {
    }

    static long uid() {
        try {
            Object uid = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            return ((Number) uid).longValue();
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            throw new IllegalStateException("cannot learn this process's uid for the same-user policy: " + e, e);
        }
    }
}
