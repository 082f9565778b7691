package dev.capwire.rpc;

import dev.capwire.Configuration;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.rpc.ExportTable.Export;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.StatusCode;
import org.agrona.collections.Int2ObjectHashMap;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The calls one connection serves (the answers table of docs/rpc-protocol.md), as its {@link RpcConnection}
 * hands them over: a call, a cancel, stream credit, a revocation, the close. Each call is checked as the doc
 * says and its target found (the bootstrap cap, the runtime cap, or an export), or it is refused; then it
 * enters the {@link RunningCalls}, and the {@link CallRunner} runs its handler, on the handler executor or,
 * for a method declared non-blocking, on the loop. The {@link Answerer} answers it exactly once, whether its
 * handler, its revocation or a failure comes first.
 */
final class Callee {
    private static final FileDescriptor[] NO_FDS = new FileDescriptor[0];
    private static final CapabilityType<RuntimeCapability> RUNTIME = CapabilityType.of(RuntimeCapability.class);

    private final RpcConnection rpc;
    private final RpcOptions options;
    private final RuntimeService runtime;
    private final BootstrapService bootstrap;
    private final RunningCalls calls = new RunningCalls();
    private final Answerer answerer;
    private final CallRunner runner;
    /** Loop only: answered calls to reuse, and the loop's decoder of non-blocking calls. */
    private final RunningCall.Pool pool;
    private final Incoming loopArguments;
    /** Loop only: no stream above it was opened, so credit for one is the peer's invention. */
    private int highestStreamId;
    private PeerCredentials peer; // loop only, fetched at the first call

    Callee(RpcConnection rpc, RpcOptions options, RuntimeService runtime) {
        this.rpc = rpc;
        this.options = options;
        this.runtime = runtime;
        this.bootstrap = new BootstrapService(rpc);
        this.answerer = new Answerer(rpc, calls);
        this.runner = new CallRunner(rpc, options, answerer);
        this.pool = new RunningCall.Pool(runner);
        this.loopArguments = new Incoming();
    }

    int running() {
        return calls.size();
    }

    int openStreams() {
        return calls.openStreams();
    }

    long served() {
        return calls.served();
    }

    long failed() {
        return calls.failed();
    }

    // ---------------------------------------------------------------------------------------------------
    // Arrival (loop)
    // ---------------------------------------------------------------------------------------------------

    void onCall(InboundFrame frame) {
        FileDescriptor[] fds = frame.fdCount() == 0 ? NO_FDS : frame.takeFds();
        boolean handedOver = false;
        try {
            handedOver = dispatch(frame, fds);
            if (!handedOver) {
                releaseCarriedCaps(frame);
            }
        } finally {
            if (!handedOver) {
                for (FileDescriptor fd : fds) {
                    fd.close(); // a call refused before decoding: its fds were never anyone's
                }
            }
        }
    }

    /**
     * A call answered without decoding (refused, or a protocol error): each sender-hosted cap it carried is a
     * reference the caller counted for this side, given back here, or the caller would keep the cap exported for
     * as long as the connection lasts.
     */
    private void releaseCarriedCaps(InboundFrame frame) {
        Incoming.releaseSenderHosted(rpc.importer(), frame.buffer(), frame.payloadOffset(), frame.payloadLength(),
                Outgoing.CALL_HEADER_BYTES, Outgoing.CALL_CAP_COUNT_OFFSET);
    }

    /** True when the fds went to a decoder (which then owns them), false when the call was refused first. */
    private boolean dispatch(InboundFrame frame, FileDescriptor[] fds) {
        long id = frame.correlationId();
        int offset = frame.payloadOffset();
        int length = frame.payloadLength();
        if (length < Outgoing.CALL_HEADER_BYTES) {
            return refuse(id, StatusCode.INVALID_ARGUMENT, "args.malformed", "a call header of " + length
                    + " bytes (it has " + Outgoing.CALL_HEADER_BYTES + ")");
        }
        long timeoutNanos = frame.buffer().getLong(offset, FrameHeader.ORDER);
        int streamId = frame.buffer().getInt(offset + 8, FrameHeader.ORDER);
        int initialCredit = frame.buffer().getInt(offset + 12, FrameHeader.ORDER);
        byte targetKind = frame.buffer().getByte(offset + 16);
        int capCount = frame.buffer().getShort(offset + Outgoing.CALL_CAP_COUNT_OFFSET, FrameHeader.ORDER) & 0xFFFF;
        if (targetKind != 0) {
            return refuse(id, StatusCode.INVALID_ARGUMENT, "call.target", "target_kind " + targetKind
                    + " (only 0, an export of the receiver, is defined)");
        }
        int contentOffset = Outgoing.CALL_HEADER_BYTES + 4 * capCount;
        if (length < contentOffset) {
            return refuse(id, StatusCode.INVALID_ARGUMENT, "args.malformed", "a call too short for its " + capCount
                    + " descriptors");
        }
        if (calls.runningCount() >= options.maxInFlight()) {
            return refuse(id, StatusCode.RESOURCE_EXHAUSTED, Configuration.RPC_MAX_IN_FLIGHT_PROP_NAME,
                    options.maxInFlight() + " calls from this peer are running already");
        }
        int capId = frame.capId();
        if (capId == RpcConnection.BOOTSTRAP_CAP) {
            if (frame.methodId() != RpcConnection.BOOTSTRAP_METHOD || capCount != 0 || fds.length != 0) {
                return refuse(id, frame.methodId() != RpcConnection.BOOTSTRAP_METHOD ? StatusCode.UNIMPLEMENTED
                        : StatusCode.INVALID_ARGUMENT, frame.methodId() != RpcConnection.BOOTSTRAP_METHOD
                        ? "method.unknown" : "args.malformed", "the bootstrap cap has method 1 only, which takes a "
                        + "BootstrapRequest and nothing else");
            }
            byte[] request = new byte[length - contentOffset];
            frame.buffer().getBytes(offset + contentOffset, request);
            bootstrap(id, request);
            return false;
        }
        Export target = null;
        Object implementation;
        CapabilityType<?> type;
        if (capId == RpcConnection.RUNTIME_CAP) {
            implementation = runtime;
            type = RUNTIME;
        } else {
            target = export(capId);
            if (target == null) {
                return refuse(id, StatusCode.NOT_FOUND, "cap.unknown", "no export " + Integer.toUnsignedString(capId)
                        + " on this connection");
            }
            if (target.revoked != null) {
                return refuse(id, StatusCode.UNAVAILABLE, target.revoked, target.type.name() + " was revoked");
            }
            implementation = target.implementation;
            type = target.type;
        }
        MethodSpec spec = type.method(frame.methodId());
        if (spec == null) {
            return refuse(id, StatusCode.UNIMPLEMENTED, "method.unknown", type.name() + " has no method "
                    + frame.methodId());
        }
        if ((spec.kind == MethodSpec.Kind.STREAM) != (streamId != 0)) {
            return refuse(id, StatusCode.INVALID_ARGUMENT, "args.malformed", spec + (streamId == 0
                    ? " streams its results, and the call opened no stream" : " is not a stream"));
        }
        // Ids are never reused, but need not arrive in order: two threads' stream calls on one connection may
        // reach the socket in either order. So only an id already open is refused.
        if (streamId != 0 && calls.producing(streamId)) {
            return refuse(id, StatusCode.INVALID_ARGUMENT, "args.malformed", "stream id "
                    + Integer.toUnsignedString(streamId) + " is already open");
        }
        if (initialCredit < 0) { // above 2^31 - 1 as the u32 it is: more than credit may ever add up to
            return refuse(id, StatusCode.INVALID_ARGUMENT, "stream.credit", "an initial credit of "
                    + Integer.toUnsignedString(initialCredit) + " items, beyond 2^31 - 1");
        }
        boolean loop = spec.nonBlocking;
        RunningCall call = pool.take(loop);
        call.start(id, target, type.name(), spec, timeoutNanos, loop, peer());
        if (streamId != 0) {
            if (Integer.compareUnsigned(streamId, highestStreamId) > 0) {
                highestStreamId = streamId;
            }
            CallContext context = call.context();
            call.stream = new ProducerStream(rpc, streamId, initialCredit, spec.result, context);
            context.onCancel(call.stream::wake);
        }
        String notEntered = calls.enter(call, target); // a revocation wins a race with this call (see there)
        if (notEntered == RunningCalls.ID_IN_USE) {
            closeForReusedId(id);
            return false;
        }
        if (notEntered != null) {
            return refuse(id, StatusCode.UNAVAILABLE, notEntered, target.type.name() + " was revoked");
        }
        if (call.stream != null) {
            RpcEvents.streamStarted(rpc, call.capName, spec.name);
        }
        int[] descriptors = Incoming.descriptors(frame.buffer(), offset + Outgoing.CALL_HEADER_BYTES, capCount);
        if (loop) {
            // Decoded from the receive buffer itself: it stays valid for the whole of this loop work.
            call.reusable = streamId == 0;
            Incoming in = loopArguments;
            if (!in.tryReset(rpc.importer(), frame.buffer(), offset + contentOffset, offset + length, descriptors, fds)) {
                in = new Incoming(rpc.importer(), frame.buffer(), offset + contentOffset, offset + length,
                        descriptors, fds);
            }
            runner.runOnLoop(call, implementation, in);
            pool.recycle(call);
            return true;
        }
        // A handler thread runs it after the loop has moved on and reused the receive buffer: the content moves.
        byte[] content = new byte[length - contentOffset];
        frame.buffer().getBytes(offset + contentOffset, content);
        Incoming in = new Incoming(rpc.importer(), new UnsafeBuffer(content), 0, content.length, descriptors, fds);
        in.claimCarried();
        runner.runOnExecutor(call, implementation, in);
        return true;
    }

    /**
     * Loop: the export {@code capId} names. The last one found is kept with the map it came from: a published
     * map never changes (see {@link ExportTable}), so while the table publishes no new one, the same id names the
     * same export, and a run of calls on one cap costs no hash lookup each.
     */
    private Export export(int capId) {
        Int2ObjectHashMap<Export> map = rpc.caps().exportMap();
        if (map == lastExportMap && capId == lastExportId) {
            return lastExport;
        }
        Export export = map.get(capId);
        lastExportMap = map;
        lastExportId = capId;
        lastExport = export;
        return export;
    }

    private Int2ObjectHashMap<Export> lastExportMap; // loop only
    private int lastExportId; // loop only
    private Export lastExport; // loop only

    private PeerCredentials peer() {
        if (peer == null) {
            peer = rpc.connection().peerCredentials();
        }
        return peer;
    }

    private boolean refuse(long id, StatusCode code, String reason, String message) {
        if (reusesRunningId(id)) {
            return false;
        }
        calls.count(code);
        rpc.respondError(id, code, reason, message);
        return false;
    }

    /**
     * Loop: a call answered without entering the table (refused, or a bootstrap) must not reuse the id of a call
     * still running either: its answer would reach the peer as that call's. The check is made here, where answers
     * are rare, so that a call that runs pays one lookup, in {@link RunningCalls#enter}.
     */
    private boolean reusesRunningId(long id) {
        if (!calls.isRunning(id)) {
            return false;
        }
        closeForReusedId(id);
        return true;
    }

    private void closeForReusedId(long id) {
        rpc.protocolError("a REQUEST with correlation id " + Long.toUnsignedString(id) + ", "
                + RunningCalls.ID_IN_USE);
    }

    /** Loop: a bootstrap call; counted as served or failed like any other (not when it could not be answered). */
    private void bootstrap(long id, byte[] content) {
        if (reusesRunningId(id)) {
            return;
        }
        StatusCode answered = bootstrap.answer(id, content, peer());
        if (answered != null) {
            calls.count(answered);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Cancellation, credit, revocation, close
    // ---------------------------------------------------------------------------------------------------

    /** Loop: the caller no longer waits for this call. */
    void onCancel(long id) {
        RunningCall call = calls.pin(id);
        if (call != null) {
            cancel(call, new StatusException(StatusCode.CANCELLED, "call.cancelled", "the caller cancelled the call",
                    null));
        }
    }

    private void cancel(RunningCall call, StatusException why) {
        try {
            call.cancel(why);
        } catch (RuntimeException e) {
            rpc.reportError(e); // a hook of the handler's threw
        }
    }

    /** Loop: credit for a stream this side produces. */
    void onCredit(int streamId, int items) {
        RunningCall call = calls.pinProducer(streamId);
        if (items == 0) {
            rpc.protocolError("a STREAM_CREDIT of 0 items");
            return;
        }
        if (call == null) {
            if (Integer.compareUnsigned(streamId, highestStreamId) > 0) {
                rpc.protocolError("a STREAM_CREDIT for stream " + Integer.toUnsignedString(streamId)
                        + ", which the peer never opened");
            }
            return; // it ended: late credit is dropped
        }
        if (!call.stream.grant(items)) {
            StatusException overflow = new StatusException(StatusCode.INVALID_ARGUMENT, "stream.credit",
                    "credit beyond 2^31 - 1 items", null);
            answerer.answerError(call, overflow.code(), overflow.reason(), overflow.detail());
            cancel(call, overflow);
        }
    }

    /** The export was revoked: calls running on it end now with the reason, and their handlers see it. */
    void revoked(Export export, String reason) {
        RunningCall[] affected = calls.pinCallsOn(export);
        StatusException why = new StatusException(StatusCode.UNAVAILABLE, reason, export.type.name()
                + " was revoked", null);
        for (RunningCall call : affected) {
            // Answered first: a handler woken by its cancellation would otherwise race to answer OK.
            answerer.answerError(call, why.code(), why.reason(), why.detail());
            cancel(call, why);
        }
    }

    /**
     * The connection closed: every running call is cancelled; nobody is left to answer, but the observer still
     * hears how each call and stream ended.
     */
    void closed(StatusException why) {
        RunningCall[] all = calls.pinAllAndClear();
        for (RunningCall call : all) {
            if (call.answerOnce()) {
                answerer.report(call, why.code());
            }
            cancel(call, why);
        }
    }
}
