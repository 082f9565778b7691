package dev.capwire.rpc;

import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.Service;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.StatusCode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * The server process of the RPC tests: serves {@link LocalFiles} as "files" and a "secret" no uid may have,
 * through a handshake service "app", on the endpoint given first; prints {@code READY <endpoint>}, then one
 * line per event (see {@link LocalFiles}, and {@code STREAM-END <items> <status>}). Commands on stdin, each
 * answered with one line: {@code unserve} ({@code UNSERVED}), {@code replace} ({@code REPLACED}),
 * {@code exports} ({@code EXPORTS <n>}, summed over connections), {@code fds} ({@code FDS <n>}, its open fds). Exits when stdin closes.
 */
public final class RpcServerMain {
    private RpcServerMain() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = System.out;
        Rpc rpc = Rpc.create(RpcOptions.builder().observer(new RpcObserver() {
            @Override
            public void streamEnded(long connectionId, String capName, String methodName, StatusCode status,
                    long items) {
                synchronized (out) {
                    out.println("STREAM-END " + items + " " + status);
                    out.flush();
                }
            }
        }).build());
        ServeHandle files = rpc.serve(RemoteFiles.class, new LocalFiles(out), IfExists.THROW);
        rpc.serve(OtherCaps.Secret.class, () -> new byte[] {1}, IfExists.THROW, CapPolicy.uids(-2));
        try (Transport transport = Transport.create(TransportOptions.defaults());
                HandshakeServer server = HandshakeServer.builder(transport).noSecret()
                        .service(Service.builder("app", "1.0.0", rpc.listener()).build()).build()) {
            out.println("READY " + server.listen(Endpoint.parse(args[0])).endpoint());
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                String answer;
                switch (line.trim()) {
                    case "unserve":
                        files.close();
                        answer = "UNSERVED";
                        break;
                    case "replace":
                        files = rpc.serve(RemoteFiles.class, new LocalFiles(out), IfExists.REPLACE);
                        answer = "REPLACED";
                        break;
                    case "exports":
                        answer = "EXPORTS " + rpc.exportCount();
                        break;
                    case "fds":
                        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
                            answer = "FDS " + fds.count();
                        }
                        break;
                    default:
                        answer = "UNKNOWN " + line;
                }
                synchronized (out) {
                    out.println(answer);
                    out.flush();
                }
            }
        }
    }
}
