package dev.capwire.handshake;

import dev.capwire.Configuration;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The 32-byte secret both ends of a connection know. It is proven, never sent: the client answers the
 * server's fresh nonce with an HMAC-SHA256 over both nonces, and the server answers with its own HMAC, so
 * each side learns the other holds the secret and a recorded proof is useless on any other connection.
 *
 * <p>The bytes never appear in {@link #toString()}, in exception messages or in logs; errors name only where
 * the secret came from.
 */
public final class SharedSecret {
    public static final int LENGTH = 32;
    private static final String ALGORITHM = "HmacSHA256";
    // Distinct labels keep a client proof from ever being replayed as a server proof (or the reverse).
    private static final byte[] CLIENT_LABEL = "capwire-v1 client proof\0".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] SERVER_LABEL = "capwire-v1 server proof\0".getBytes(StandardCharsets.US_ASCII);

    private final SecretKeySpec key;
    private final String source;
    // Mac.getInstance looks the provider up on every call; a Mac per thread, keyed once, is reused instead.
    private final ThreadLocal<Mac> macs = ThreadLocal.withInitial(this::newMac);

    private SharedSecret(byte[] bytes, String source) {
        if (bytes.length != LENGTH) {
            throw new IllegalArgumentException("a shared secret is " + LENGTH + " bytes; " + source + " holds "
                    + bytes.length);
        }
        this.key = new SecretKeySpec(bytes, ALGORITHM);
        this.source = source;
        Arrays.fill(bytes, (byte) 0);
    }

    /** The secret itself: 32 bytes (copied). */
    public static SharedSecret of(byte[] bytes) {
        return new SharedSecret(bytes.clone(), "the given bytes");
    }

    /** 32 raw bytes, or 64 hex digits (surrounding whitespace ignored). */
    public static SharedSecret fromFile(Path file) {
        byte[] content;
        try {
            content = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the shared secret file " + file + ": " + e.getMessage(), e);
        }
        String source = "file " + file;
        return new SharedSecret(content.length == LENGTH ? content : fromHex(new String(content,
                StandardCharsets.US_ASCII).strip(), source), source);
    }

    /** 64 hex digits in the named environment variable. */
    public static SharedSecret fromEnvironment(String variable) {
        String value = System.getenv(variable);
        String source = "environment variable " + variable;
        if (value == null) {
            throw new IllegalArgumentException(source + " is not set");
        }
        return new SharedSecret(fromHex(value.strip(), source), source);
    }

    /**
     * The secret the {@code capwire.secret.*} properties configure (see {@link Configuration}), or empty
     * when none of them is set.
     */
    public static Optional<SharedSecret> fromConfiguration() {
        String file = System.getProperty(Configuration.SECRET_FILE_PROP_NAME);
        if (file != null) {
            return Optional.of(fromFile(Path.of(file)));
        }
        String variable = System.getProperty(Configuration.SECRET_ENV_PROP_NAME);
        if (variable != null) {
            return Optional.of(fromEnvironment(variable));
        }
        String value = System.getProperty(Configuration.SECRET_PROP_NAME);
        if (value != null) {
            String source = "system property " + Configuration.SECRET_PROP_NAME;
            return Optional.of(new SharedSecret(fromHex(value.strip(), source), source));
        }
        return Optional.empty();
    }

    private static byte[] fromHex(String hex, String source) {
        if (hex.length() != LENGTH * 2) {
            throw new IllegalArgumentException(source + " must hold " + LENGTH + " raw bytes or " + LENGTH * 2
                    + " hex digits; it holds " + hex.length() + " characters");
        }
        byte[] bytes = new byte[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            int high = Character.digit(hex.charAt(2 * i), 16);
            int low = Character.digit(hex.charAt(2 * i + 1), 16);
            if (high < 0 || low < 0) {
                throw new IllegalArgumentException(source + " holds a character that is not a hex digit");
            }
            bytes[i] = (byte) (high << 4 | low);
        }
        return bytes;
    }

    byte[] clientProof(byte[] serverNonce, byte[] clientNonce) {
        return hmac(CLIENT_LABEL, serverNonce, clientNonce);
    }

    byte[] serverProof(byte[] serverNonce, byte[] clientNonce) {
        return hmac(SERVER_LABEL, serverNonce, clientNonce);
    }

    /** Compares in time that does not depend on where the bytes first differ. */
    static boolean sameProof(byte[] expected, byte[] given) {
        return MessageDigest.isEqual(expected, given);
    }

    private byte[] hmac(byte[] label, byte[] serverNonce, byte[] clientNonce) {
        Mac mac = macs.get();
        mac.update(label);
        mac.update(serverNonce);
        mac.update(clientNonce);
        return mac.doFinal(); // also resets it for the next use
    }

    private Mac newMac() {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HMAC-SHA256 is unavailable in this JVM", e);
        }
    }

    @Override
    public String toString() {
        return "SharedSecret(from " + source + ", value hidden)";
    }
}
