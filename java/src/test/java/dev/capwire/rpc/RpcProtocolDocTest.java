package dev.capwire.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

/**
 * docs/rpc-protocol.md is what another team implements from: this keeps its byte examples equal to what the
 * code sends, its quote of rpc.proto equal to the file the build compiles, and its table of reasons equal to the
 * reasons the answering side sends.
 */
class RpcProtocolDocTest {
    private static final Path DOC = Path.of("..", "docs", "rpc-protocol.md");
    private static final Pattern HEX_LINE = Pattern.compile("^((?:[0-9a-f]{2} )*[0-9a-f]{2})(?:\\s{2,}.*)?$");

    /** The exporter of the doc's examples: the caps it passes are its exports 3 and 4. */
    private static final Outgoing.CapExporter EXPORTER = new Outgoing.CapExporter() {
        @Override
        public int descriptorFor(Object cap, CapabilityType<?> type) {
            return (Integer) cap;
        }

        @Override
        public void unexport(int descriptor) {
        }
    };

    @Test
    void theWorkedExamplesAreWhatTheCodeSends() throws Exception {
        List<String> examples = hexBlocks(Files.readString(DOC));
        assertEquals(3, examples.size(), "the doc's three examples");

        Outgoing call = Outgoing.take(EXPORTER);
        call.addDescriptor(3);
        call.putContent(new byte[] {1, 2});
        assertEquals(examples.get(0), frame(FrameType.REQUEST, 7, 2, 1, call.call(1_000_000, 0, 0)));
        call.recycle();

        Outgoing answer = Outgoing.take(EXPORTER);
        answer.addDescriptor(4);
        answer.putContent("ok".getBytes());
        assertEquals(examples.get(1), frame(FrameType.RESPONSE, 7, 0, 0, answer.answer()));
        answer.recycle();

        assertEquals(examples.get(2), frame(FrameType.NOTIFY, 0, 0, RpcConnection.RELEASE, Outgoing.release(4, 1)));
    }

    @Test
    void theDocQuotesRpcProtoVerbatim() throws Exception {
        String proto = Files.readString(Path.of("src", "main", "proto", "capwire", "v1", "rpc.proto"));
        String body = proto.substring(proto.indexOf("option java_multiple_files = true;") + 34).strip();
        assertTrue(Files.readString(DOC).contains(body), "rpc.proto differs from its quote in " + DOC);
    }

    /**
     * The classes that answer a peer's calls; each {@code StatusCode.X, "reason"} they write may reach the wire.
     * The calling side's own failures (Caller, ConsumerStream, RpcConnection's local checks) never do.
     */
    private static final List<String> ANSWERING = List.of("Callee", "Answerer", "BootstrapService", "CallRunner",
            "ProducerStream", "CallContext");
    private static final Pattern STATUS_AND_REASON = Pattern.compile("StatusCode\\.([A-Z_]+),\\s*\"([^\"]+)\"");
    private static final Pattern BACKTICKED = Pattern.compile("`([^`]+)`");

    @Test
    void theReasonsTableListsEveryReasonTheAnsweringSideSendsAndNoOther() throws Exception {
        String doc = Files.readString(DOC);
        String table = doc.substring(doc.indexOf("| status | reason | when |"));
        table = table.substring(0, table.indexOf("\n\n"));
        Set<String> documented = new TreeSet<>(); // "STATUS reason"
        Set<String> documentedReasons = new TreeSet<>();
        for (String row : table.split("\n")) {
            String[] cells = row.split("\\|");
            if (cells.length < 4 || !cells[1].contains("`")) {
                continue; // the header and its rule
            }
            Matcher reasons = BACKTICKED.matcher(cells[2]);
            while (reasons.find()) {
                documentedReasons.add(reasons.group(1));
                documented.add(cells[1].strip().replace("`", "") + " " + reasons.group(1));
            }
        }
        Set<String> sent = new TreeSet<>();
        for (String name : ANSWERING) {
            Matcher found = STATUS_AND_REASON.matcher(Files.readString(Path.of("src", "main", "java", "dev",
                    "capwire", "rpc", name + ".java")));
            while (found.find()) {
                sent.add(found.group(1) + " " + found.group(2));
            }
        }
        Set<String> undocumented = new TreeSet<>(sent);
        undocumented.removeAll(documented);
        assertEquals(Set.of(), undocumented, "sent by " + ANSWERING + ", missing from the reasons table");
        String allSources;
        try (var files = Files.walk(Path.of("src", "main", "java"))) {
            StringBuilder all = new StringBuilder();
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                all.append(Files.readString(file));
            }
            allSources = all.toString();
        }
        for (String reason : documentedReasons) {
            assertTrue(allSources.contains("\"" + reason + "\""), "the reasons table names " + reason
                    + ", which no code sends");
        }
    }

    private static String frame(byte type, long correlationId, int capId, int methodId, UnsafeBuffer payload) {
        UnsafeBuffer frame = new UnsafeBuffer(new byte[FrameHeader.HEADER_LENGTH + payload.capacity()]);
        FrameHeader.write(frame, 0, frame.capacity(), type, 0, correlationId, capId, methodId, 0);
        frame.putBytes(FrameHeader.HEADER_LENGTH, payload, 0, payload.capacity());
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < frame.capacity(); i++) {
            hex.append(String.format("%02x", frame.getByte(i) & 0xFF));
        }
        return hex.toString();
    }

    /** Each fenced block of hex lines after "Worked examples", as one string of hex digits. */
    private static List<String> hexBlocks(String doc) {
        List<String> blocks = new ArrayList<>();
        String examples = doc.substring(doc.indexOf("## Worked examples"));
        boolean inBlock = false;
        StringBuilder block = new StringBuilder();
        for (String line : examples.split("\n")) {
            if (line.startsWith("```")) {
                if (inBlock) {
                    blocks.add(block.toString());
                    block.setLength(0);
                }
                inBlock = !inBlock;
                continue;
            }
            if (inBlock) {
                Matcher hex = HEX_LINE.matcher(line.strip());
                assertTrue(hex.matches(), "not a hex line: " + line);
                block.append(hex.group(1).replace(" ", ""));
            }
        }
        return blocks;
    }
}
