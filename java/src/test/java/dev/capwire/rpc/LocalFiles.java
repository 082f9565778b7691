package dev.capwire.rpc;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.rpc.testing.Line;
import dev.capwire.rpc.testing.OpenRequest;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.StatRequest;
import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** The server's {@link RemoteFiles}: what each method saw goes to {@code events}, one line each, for the test to read. */
final class LocalFiles implements RemoteFiles {
    private final PrintStream events;

    LocalFiles(PrintStream events) {
        this.events = events;
    }

    private void event(String line) {
        synchronized (events) {
            events.println(line);
            events.flush();
        }
    }

    @Override
    public StatReply stat(StatRequest request) {
        CallContext context = CallContext.current();
        PeerCredentials peer = context.peer();
        Duration left = context.timeLeft();
        return StatReply.newBuilder().setPath(request.getPath()).setSize(request.getPath().length())
                .setCallerPid(peer.pid().orElse(-1)).setCallerUid(peer.uid().orElse(-1))
                .setTimeLeftMs(left == null ? -1 : left.toMillis()).setPidfdPid(pidfdPid(context)).build();
    }

    /** The pid the call's pidfd names, as the kernel reports it for the fd; -1 without a pidfd. */
    private static long pidfdPid(CallContext context) {
        java.util.Optional<FileDescriptor> pidfd = context.peerPidfd();
        if (pidfd.isEmpty()) {
            return -1;
        }
        try (FileDescriptor fd = pidfd.get()) {
            long number = fd.acquire();
            try {
                for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/fdinfo/"
                        + number))) {
                    if (line.startsWith("Pid:")) {
                        return Long.parseLong(line.substring(4).trim());
                    }
                }
                return -1;
            } finally {
                fd.release();
            }
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public CompletableFuture<StatReply> statAsync(StatRequest request) {
        return CompletableFuture.completedFuture(stat(request));
    }

    @Override
    public Reader open(OpenRequest request) {
        return new BytesReader(request.getContent().toByteArray());
    }

    @Override
    public FileDescriptor openFd(OpenRequest request) {
        try {
            FileDescriptor[] pipe = FileDescriptor.pipe();
            byte[] content = request.getContent().toByteArray();
            pipe[1].write(ByteBuffer.allocateDirect(content.length).put(content).flip());
            pipe[1].close();
            return pipe[0];
        } catch (NativeIoException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void tail(TailRequest request, StreamSink<Line> out) {
        int sent = 0;
        try {
            for (int i = 1; request.getLines() == 0 || i <= request.getLines(); i++) {
                if (request.getFailAfter() != 0 && sent == request.getFailAfter()) {
                    throw new IllegalStateException("the producer broke after " + sent + " lines");
                }
                out.next(Line.newBuilder().setNumber(i).setText("line " + i).build());
                sent = i;
            }
        } catch (StatusException e) {
            event("STREAM-STOPPED " + sent + " " + e.code() + " " + e.reason());
            throw e;
        }
    }

    @Override
    public byte[] echo(byte[] bytes) {
        return bytes;
    }

    @Override
    public StatReply slow(SlowRequest request) {
        CallContext context = CallContext.current();
        Duration left = context.timeLeft();
        event("HOLDING " + request.getTag() + " " + (left == null ? -1 : left.toMillis()));
        CountDownLatch cancelled = new CountDownLatch(1);
        context.onCancel(cancelled::countDown);
        try {
            cancelled.await(request.getHoldMs(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (context.isCancelled()) {
            event("CANCELLED " + request.getTag() + " " + context.cancellation().code() + " "
                    + context.cancellation().reason());
        }
        return StatReply.newBuilder().setPath(request.getTag()).build();
    }

    @Override
    public CompletableFuture<StatReply> slowAsync(SlowRequest request) {
        return CompletableFuture.completedFuture(slow(request));
    }

    @Override
    public List<Reader> openAll(OpenRequest request) {
        byte[] content = request.getContent().toByteArray();
        int third = content.length / 3;
        List<Reader> readers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            readers.add(new BytesReader(Arrays.copyOfRange(content, i * third, i == 2 ? content.length
                    : (i + 1) * third)));
        }
        return readers;
    }

    @Override
    public Map<String, Reader> openNamed(OpenRequest request) {
        Map<String, Reader> readers = new LinkedHashMap<>();
        readers.put("a", new BytesReader("A".getBytes()));
        readers.put("b", new BytesReader("B".getBytes()));
        return readers;
    }

    @Override
    public Bouncer bouncer(Bouncer caller) {
        return depth -> {
            if (depth[0] == 0) {
                return new byte[] {0};
            }
            byte[] below = caller.bounce(new byte[] {(byte) (depth[0] - 1)});
            byte[] seen = Arrays.copyOf(new byte[] {depth[0]}, below.length + 1);
            System.arraycopy(below, 0, seen, 1, below.length);
            return seen;
        };
    }

    @Override
    public byte[] fail(byte[] how) {
        String mode = new String(how);
        if (mode.equals("error")) {
            throw new AssertionError("an Error, which may leave the implementation broken");
        }
        if (mode.equals("status")) {
            throw new StatusException(StatusCode.NOT_FOUND, "no.such.thing", "the handler says so", null);
        }
        throw new IllegalStateException("the handler broke on purpose");
    }

    @Override
    public byte[] readFd(FileDescriptor fd) {
        try {
            ByteBuffer buffer = ByteBuffer.allocateDirect(4096);
            int read = fd.read(buffer);
            byte[] bytes = new byte[Math.max(0, read)];
            buffer.flip();
            buffer.get(bytes);
            return bytes;
        } catch (NativeIoException e) {
            throw new IllegalStateException(e);
        } finally {
            fd.close();
        }
    }

    @Override
    public byte[] readFrom(Reader reader) {
        try (reader) {
            return reader.read();
        }
    }

    @Override
    public byte[] readUnderScopes(Reader reader) {
        try (reader) {
            byte[] scoped = CallContext.withTimeout(Duration.ofSeconds(60), reader::read);
            byte[] detached = CallContext.detached(reader::read);
            byte[] both = Arrays.copyOf(scoped, scoped.length + detached.length);
            System.arraycopy(detached, 0, both, scoped.length, detached.length);
            return both;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public byte[] echoOnLoop(byte[] bytes) {
        // A non-blocking method runs on the event loop that read its call (threads "capwire-<n>-loop-<i>"): the
        // tests that call it see a failure otherwise.
        if (!Thread.currentThread().getName().contains("-loop-")) {
            throw new IllegalStateException("echoOnLoop ran on " + Thread.currentThread().getName());
        }
        return bytes;
    }

    /** What {@link #holdContext} kept: the context, and what it said while its call ran. */
    private record Held(String tag, CallContext context, long deadlineNanos, String methodName, boolean cancelled) {
    }

    private final List<Held> held = new ArrayList<>();
    private final List<String> heldCancelled = new ArrayList<>();

    @Override
    public byte[] holdContext(byte[] tag) {
        CallContext context = CallContext.current();
        String name = new String(tag, java.nio.charset.StandardCharsets.UTF_8);
        synchronized (held) {
            held.add(new Held(name, context, context.deadlineNanos(), context.methodName(), context.isCancelled()));
        }
        context.onCancel(() -> {
            synchronized (held) {
                heldCancelled.add(name);
            }
        });
        return tag;
    }

    @Override
    public byte[] heldContexts(byte[] ignored) {
        synchronized (held) {
            java.util.Set<CallContext> distinct = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            int changed = 0;
            int cancelled = 0;
            for (Held h : held) {
                distinct.add(h.context());
                if (h.context().deadlineNanos() != h.deadlineNanos() || !h.methodName().equals(
                        h.context().methodName()) || h.cancelled() || !"holdContext".equals(h.methodName())) {
                    changed++;
                }
                if (h.context().cancellation() != null) {
                    cancelled++;
                }
            }
            return ("held=" + held.size() + " distinct=" + distinct.size() + " changed=" + changed + " cancelled="
                    + cancelled + " hooks=" + heldCancelled.size()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    @Override
    public CompletableFuture<byte[]> parkOnLoop(byte[] tag) {
        CompletableFuture<byte[]> parked = new CompletableFuture<>();
        String name = new String(tag, java.nio.charset.StandardCharsets.UTF_8);
        parked.whenComplete((value, failure) -> event("PARK ENDED " + name + " " + (failure == null ? "value"
                : failure.getClass().getSimpleName())));
        return parked;
    }

    @Override
    public CompletableFuture<byte[]> echoOnLoopAsync(byte[] bytes) {
        return CompletableFuture.completedFuture(bytes);
    }

    @Override
    public void echoView(org.agrona.DirectBuffer bytes, ResultSink<org.agrona.DirectBuffer> result) {
        result.result(bytes);
    }

    private final java.util.concurrent.ScheduledExecutorService later =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(runnable -> {
                Thread thread = new Thread(runnable, "echo-later");
                thread.setDaemon(true);
                return thread;
            });
    private ResultSink<byte[]> previous; // loop only

    @Override
    public void echoLater(org.agrona.DirectBuffer bytes, ResultSink<byte[]> result) {
        byte[] copy = new byte[bytes.capacity()];
        bytes.getBytes(0, copy); // the view is valid only until this returns
        if (previous != null) {
            previous.result(new byte[] {-1}); // answered already: ignored, and it must not reach this call
        }
        previous = result;
        later.schedule(() -> {
            result.result(copy);
            result.result(new byte[] {-2}); // a second answer: ignored
        }, 1, TimeUnit.MILLISECONDS);
    }

    @Override
    public void failThrough(byte[] how, ResultSink<byte[]> result) {
        if (new String(how, java.nio.charset.StandardCharsets.UTF_8).equals("status")) {
            result.failed(new StatusException(StatusCode.NOT_FOUND, "test.missing", "not here", null));
            return;
        }
        throw new IllegalStateException("the handler broke on purpose");
    }

    @Override
    public void slowThrough(SlowRequest request, ResultSink<StatReply> result) {
        result.result(slow(request)); // after a revocation answered the call already: ignored
    }

    /** A reader of fixed bytes. */
    static final class BytesReader implements Reader {
        private final byte[] content;

        BytesReader(byte[] content) {
            this.content = content;
        }

        @Override
        public byte[] read() {
            return content;
        }

        @Override
        public void close() {
        }
    }
}
