package dev.capwire.wire;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * docs/wire-protocol.md quotes the control messages so another team can implement them from that page alone;
 * this keeps the quotes identical to the .proto files the build compiles.
 */
class WireProtocolDocTest {
    private static final Path DOC = Path.of("..", "docs", "wire-protocol.md");
    private static final Path PROTOS = Path.of("src", "main", "proto", "capwire", "v1");

    @Test
    void theDocQuotesEachProtoFileVerbatim() throws Exception {
        String doc = Files.readString(DOC);
        for (String file : new String[] {"control.proto", "handshake.proto", "broker.proto"}) {
            String proto = Files.readString(PROTOS.resolve(file));
            // Everything after the Java options: the messages and enums with their comments.
            String body = proto.substring(proto.indexOf("option java_multiple_files = true;") + 34).strip();
            assertTrue(doc.contains(body), file + " differs from its quote in " + DOC
                    + ": paste the file's messages into the doc again");
        }
    }
}
