package dev.capwire.transport;

import dev.capwire.bindings.UnixAddress;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where a Capwire server listens and a client connects: a Unix-domain socket path, a Linux abstract name,
 * or a TCP host and port. Written as text: {@code unix:/run/app.sock}, {@code unix:@app}, {@code tcp:host:port}
 * (IPv6 hosts in brackets: {@code tcp:[::1]:7000}).
 */
public final class Endpoint {
    private final String text;
    private final SocketAddress address;

    private Endpoint(String text, SocketAddress address) {
        this.text = text;
        this.address = address;
    }

    public static Endpoint unix(Path path) {
        return new Endpoint("unix:" + path, UnixAddress.path(path));
    }

    public static Endpoint abstractName(String name) {
        return new Endpoint("unix:@" + name, UnixAddress.abstractName(name));
    }

    public static Endpoint tcp(String host, int port) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        try {
            InetAddress ip = InetAddress.getByName(host);
            String shown = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
            return new Endpoint("tcp:" + shown + ":" + port, new InetSocketAddress(ip, port));
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("unknown host in endpoint: " + host, e);
        }
    }

    /** Parses the text form (see the class comment). */
    public static Endpoint parse(String text) {
        Objects.requireNonNull(text, "endpoint");
        if (text.startsWith("unix:@")) {
            return abstractName(text.substring("unix:@".length()));
        }
        if (text.startsWith("unix:")) {
            return unix(Path.of(text.substring("unix:".length())));
        }
        if (text.startsWith("tcp:")) {
            String rest = text.substring("tcp:".length());
            int colon = rest.lastIndexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("expected tcp:host:port, got " + text);
            }
            String host = rest.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            return tcp(host, Integer.parseInt(rest.substring(colon + 1)));
        }
        throw new IllegalArgumentException("expected unix:PATH, unix:@NAME or tcp:HOST:PORT, got " + text);
    }

    /** Endpoint of a socket address as the native layer reports it (used for TCP port 0 after bind). */
    static Endpoint of(SocketAddress address) {
        if (address instanceof InetSocketAddress) {
            InetSocketAddress inet = (InetSocketAddress) address;
            return tcp(inet.getAddress().getHostAddress(), inet.getPort());
        }
        UnixAddress unix = (UnixAddress) address;
        return unix.isAbstract() ? abstractName(unix.name()) : unix(Path.of(unix.name()));
    }

    public SocketAddress socketAddress() {
        return address;
    }

    public boolean isUnix() {
        return address instanceof UnixAddress;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Endpoint && ((Endpoint) other).address.equals(address);
    }

    @Override
    public int hashCode() {
        return address.hashCode();
    }

    @Override
    public String toString() {
        return text;
    }
}
