package dev.capwire.bindings;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The far end of the tests: a child JVM that makes one connection with the bindings and does what the
 * parent asks over stdin (see {@link #run}). The static methods are the parent's side of the same commands.
 */
final class PeerChild {
    private NativeSocket connection;
    private final List<FileDescriptor> received = new ArrayList<>();

    public static void main(String[] args) throws IOException {
        ChildJvm.serve(new PeerChild()::run);
    }

    private String run(String[] words) throws IOException {
        switch (words[0]) {
            case "load":
                Native.ensureLoaded();
                return "loaded";
            case "abi":
                return Integer.toString(Native.abiVersion());
            case "mapped":
                return String.join("\n", ProcSelf.mappedFiles(words[1]));
            case "connect":
                connection = NativeSocket.connect(parseAddress(words), Io.TIMEOUT_MS);
                return "connected";
            case "identity":
                return format(ProcSelf.identity());
            case "credentials":
                return format(connection.peerCredentials());
            case "local-address":
                return connection.localAddress().toString();
            case "remote-address":
                return connection.remoteAddress().toString();
            case "receive":
                return receive(Integer.parseInt(words[1]));
            case "write-fd":
                Io.writeFully(received.get(Integer.parseInt(words[1])), words[2]);
                return "";
            case "read-fd":
                return Io.readToEnd(received.get(Integer.parseInt(words[1])));
            case "close-on-exec":
                return closeOnExecFlags();
            case "close-fds":
                received.forEach(FileDescriptor::close);
                received.clear();
                return "";
            case "fds":
                return ProcSelf.openFds().toString();
            case "echo":
                Io.writeFully(connection.fd(), Io.readExactly(connection.fd(), Integer.parseInt(words[1])));
                return "";
            case "send":
                Io.writeFully(connection.fd(), words[1]);
                return "";
            default:
                throw new IllegalArgumentException("unknown command " + words[0]);
        }
    }

    private String receive(int maxFds) throws IOException {
        if (!connection.fd().awaitReadable(Io.TIMEOUT_MS)) {
            throw new IOException("nothing arrived within " + Io.TIMEOUT_MS + " ms");
        }
        NativeSocket.Received message = connection.receive(ByteBuffer.allocateDirect(256), maxFds);
        received.addAll(List.of(message.fds()));
        return message.bytes() + " " + message.fds().length;
    }

    private String closeOnExecFlags() throws IOException {
        List<String> flags = new ArrayList<>();
        for (FileDescriptor fd : received) {
            flags.add(Boolean.toString(fd.isCloseOnExec()));
        }
        return String.join(" ", flags);
    }

    private static SocketAddress parseAddress(String[] words) throws IOException {
        switch (words[1]) {
            case "unix":
                return UnixAddress.path(Path.of(words[2]));
            case "abstract":
                return UnixAddress.abstractName(words[2]);
            case "tcp":
                return new InetSocketAddress(InetAddress.getByName(words[2]), Integer.parseInt(words[3]));
            default:
                throw new IllegalArgumentException("unknown address kind " + words[1]);
        }
    }

    /** Credentials as three numbers, -1 for unknown, so the parent can rebuild the same value. */
    private static String format(PeerCredentials credentials) {
        return List.of(credentials.pid(), credentials.uid(), credentials.gid()).stream()
                .map(field -> Long.toString(field.orElse(PeerCredentials.UNKNOWN)))
                .collect(Collectors.joining(" "));
    }

    private static PeerCredentials parseCredentials(String text) {
        String[] fields = text.split(" ");
        return new PeerCredentials(Long.parseLong(fields[0]), Long.parseLong(fields[1]), Long.parseLong(fields[2]));
    }

    // ---- The parent's side of the commands.

    static ChildJvm start() throws IOException {
        return ChildJvm.start(PeerChild.class);
    }

    /** Makes the child connect to {@code listener}'s address and returns the accepted end. */
    static NativeSocket connectAndAccept(ChildJvm child, NativeSocket listener) throws IOException {
        SocketAddress address = listener.localAddress();
        child.ask("connect " + describe(address));
        NativeSocket accepted = listener.accept(Io.TIMEOUT_MS);
        if (accepted == null) {
            throw new IOException(child + " connected to " + address + " but nothing was accepted in time");
        }
        return accepted;
    }

    private static String describe(SocketAddress address) {
        if (address instanceof UnixAddress) {
            UnixAddress unix = (UnixAddress) address;
            return (unix.isAbstract() ? "abstract " : "unix ") + unix.name();
        }
        InetSocketAddress inet = (InetSocketAddress) address;
        return "tcp " + inet.getAddress().getHostAddress() + " " + inet.getPort();
    }

    /** The child's pid, real uid and real gid, as it reads them itself. */
    static PeerCredentials identity(ChildJvm child) throws IOException {
        return parseCredentials(child.ask("identity"));
    }

    /** The credentials of its peer (this process) as the child's kernel reports them. */
    static PeerCredentials credentials(ChildJvm child) throws IOException {
        return parseCredentials(child.ask("credentials"));
    }

    /** Receives one message with room for {@code maxFds} fds; returns the number of fds that arrived. */
    static int receive(ChildJvm child, int maxFds) throws IOException {
        return Integer.parseInt(child.ask("receive " + maxFds).split(" ")[1]);
    }

    static String openFds(ChildJvm child) throws IOException {
        return child.ask("fds");
    }
}
