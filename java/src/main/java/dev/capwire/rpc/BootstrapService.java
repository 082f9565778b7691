package dev.capwire.rpc;

import dev.capwire.bindings.PeerCredentials;
import dev.capwire.handshake.Version;
import dev.capwire.rpc.ExportTable.Export;
import dev.capwire.rpc.proto.BootstrapReply;
import dev.capwire.rpc.proto.BootstrapRequest;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The bootstrap cap (export 0, method 1) of one connection: the peer names a served cap and the version it was
 * built against, and gets an export of it when the checks of docs/rpc-protocol.md ("Bootstrap") pass, in their
 * order: served, version, policy, room. Loop work, like every call on cap 0.
 */
final class BootstrapService {
    private final RpcConnection rpc;

    BootstrapService(RpcConnection rpc) {
        this.rpc = rpc;
    }

    /**
     * Answers bootstrap call {@code id} from {@code peer}, whose content is {@code content}; returns the status it
     * answered with (OK: the export), or null when the answer could not be sent (the connection closed).
     */
    StatusCode answer(long id, byte[] content, PeerCredentials peer) {
        BootstrapRequest request;
        try {
            request = BootstrapRequest.parseFrom(content);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            rpc.respondError(id, StatusCode.INVALID_ARGUMENT, "args.malformed", "the BootstrapRequest does not parse");
            return StatusCode.INVALID_ARGUMENT;
        }
        String name = request.getName();
        Served served;
        Export export;
        // Checked and exported again when the cap found was unserved or replaced before its export here: the sweep
        // that revokes its exports on this connection may have come first, and would have missed this one.
        do {
            served = rpc.rpc().served(name);
            if (served == null) {
                return refuse(id, name, StatusCode.NOT_FOUND, "cap.unknown", "nothing is served as '" + name
                        + "' (served: " + rpc.rpc().servedNames() + ")");
            }
            if (!request.getVersion().isEmpty()) {
                Version wanted = Version.parseOrNull(request.getVersion());
                if (wanted == null) {
                    return refuse(id, name, StatusCode.INVALID_ARGUMENT, "args.malformed", "version '"
                            + request.getVersion() + "' is not MAJOR.MINOR.PATCH");
                }
                if (!served.type.version().satisfies(wanted)) {
                    return refuse(id, name, StatusCode.FAILED_PRECONDITION, "cap.version", name + " is served at "
                            + served.type.version() + ", which does not satisfy " + wanted
                            + " (same major, not older)");
                }
            }
            String refusal;
            try {
                refusal = served.policy.refusal(peer);
            } catch (RuntimeException e) {
                rpc.reportError(e);
                refusal = "the cap's policy failed (fail closed)";
            }
            if (refusal != null) {
                return refuse(id, name, StatusCode.PERMISSION_DENIED, "cap.policy", refusal);
            }
            export = rpc.caps().exportServed(served);
        } while (export == null && served.isWithdrawn());
        if (export == null) {
            StatusException full = rpc.caps().maxCapsExported();
            return refuse(id, name, full.code(), full.reason(), full.detail());
        }
        Outgoing out = rpc.outgoing();
        try {
            out.addDescriptor(export.id);
            out.putContent(BootstrapReply.newBuilder().setName(name)
                    .setServedVersion(served.type.version().toString()).build());
            UnsafeBuffer answer = out.answer();
            rpc.connection().respond(id, answer, 0, answer.capacity());
        } catch (StatusException e) {
            out.abandon();
            return null;
        } finally {
            out.recycle();
        }
        RpcEvents.bootstrapped(rpc, name, StatusCode.OK);
        return StatusCode.OK;
    }

    private StatusCode refuse(long id, String name, StatusCode code, String reason, String message) {
        rpc.respondError(id, code, reason, message);
        RpcEvents.bootstrapped(rpc, name, code);
        return code;
    }
}
