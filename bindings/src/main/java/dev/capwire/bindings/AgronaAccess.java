package dev.capwire.bindings;

/**
 * Agrona 2.x reaches the JDK's internal Unsafe and fails obscurely, deep inside a buffer class, when
 * {@code java.base/jdk.internal.misc} is not opened to it. Capwire checks once, up front, and names the
 * exact flag.
 */
public final class AgronaAccess {
    public static final String REQUIRED_FLAG = "--add-opens java.base/jdk.internal.misc=ALL-UNNAMED";

    private AgronaAccess() {
    }

    /** Throws {@link IllegalStateException} naming the missing JVM flag unless Agrona can work. */
    public static void requireOpened() {
        Module agrona = org.agrona.DirectBuffer.class.getModule();
        if (!Object.class.getModule().isOpen("jdk.internal.misc", agrona)) {
            throw new IllegalStateException("Capwire needs the JVM flag " + REQUIRED_FLAG
                    + " (Agrona uses the JDK's internal Unsafe). Add it to the java command line, or to "
                    + "JDK_JAVA_OPTIONS. On Java 24+ also add --enable-native-access=ALL-UNNAMED.");
        }
    }
}
