package dev.capwire.bindings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.AnnotatedElementContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDirFactory;

/**
 * Temp dirs directly under {@code /tmp}, wherever java.io.tmpdir points: a Unix socket path must fit in
 * {@value UnixAddress#MAX_PATH_BYTES} bytes. Use as {@code @TempDir(factory = SocketDirFactory.class)}.
 */
final class SocketDirFactory implements TempDirFactory {
    @Override
    public Path createTempDirectory(AnnotatedElementContext element, ExtensionContext context) throws IOException {
        return Files.createTempDirectory(Path.of("/tmp"), "cw");
    }

    static UnixAddress socketIn(Path dir, String name) {
        return UnixAddress.path(dir.resolve(name));
    }
}
