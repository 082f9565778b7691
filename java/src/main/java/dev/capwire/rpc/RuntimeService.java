package dev.capwire.rpc;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.rpc.proto.Diagnostics;
import dev.capwire.rpc.proto.ServedCap;
import dev.capwire.rpc.proto.ServedCaps;

/** This side's runtime cap (export 1) for one connection. */
final class RuntimeService implements RuntimeCapability {
    private final RpcConnection connection;

    RuntimeService(RpcConnection connection) {
        this.connection = connection;
    }

    @Override
    public void ping() {
    }

    @Override
    public ServedCaps servedCaps() {
        ServedCaps.Builder caps = ServedCaps.newBuilder();
        for (Served served : connection.rpc().servedCaps()) {
            ServedCap.Builder cap = ServedCap.newBuilder().setName(served.type.name())
                    .setVersion(served.type.version().toString());
            for (int id : served.type.methodIds()) {
                cap.addMethodIds(id);
            }
            caps.addCaps(cap);
        }
        return caps.build();
    }

    @Override
    public Diagnostics diagnostics() {
        return Diagnostics.newBuilder()
                .setLibraryVersion(ClientOptions.LIBRARY_VERSION)
                .setConnectionId(connection.connection().id())
                .setExports(connection.exportCount())
                .setImports(connection.importCount())
                .setAnswers(connection.answerCount())
                .setQuestions(connection.questionCount())
                .setOpenStreams(connection.openStreams())
                .setCallsServed(connection.callsServed())
                .setCallsFailed(connection.callsFailed())
                .setPid((int) ProcessHandle.current().pid())
                .build();
    }
}
