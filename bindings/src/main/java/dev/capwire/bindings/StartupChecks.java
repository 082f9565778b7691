package dev.capwire.bindings;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * What the JVM must grant Capwire, checked once, up front, by every entry point ({@code Transport.create}
 * and the first native call), so that a missing flag is reported by name instead of as an obscure failure
 * deep inside a library.
 *
 * <ul>
 *   <li>Agrona 2.x reaches the JDK's internal Unsafe; without {@link #ADD_OPENS_FLAG} its buffer classes
 *       throw {@link IllegalAccessError} from their static initializers. That is fatal, so it throws.</li>
 *   <li>Loading a JNI library is a restricted method from Java 24 on; without {@link #NATIVE_ACCESS_FLAG} the
 *       JDK only prints a warning (the library still loads), so this logs one warning through
 *       {@link System.Logger} that says which flag silences it. {@code --illegal-native-access=deny} would
 *       make the load fail; the warning then says why.</li>
 * </ul>
 */
public final class StartupChecks {
    public static final String ADD_OPENS_FLAG = "--add-opens java.base/jdk.internal.misc=ALL-UNNAMED";
    public static final String NATIVE_ACCESS_FLAG = "--enable-native-access=ALL-UNNAMED";
    /** JNI became a restricted method, with a warning when native access is not enabled, in Java 24 (JEP 472). */
    static final int FIRST_RESTRICTED_JNI_RELEASE = 24;

    private static final System.Logger LOG = System.getLogger(StartupChecks.class.getName());
    private static volatile boolean passed;

    private StartupChecks() {
    }

    /**
     * Throws {@link IllegalStateException} naming the missing JVM flag unless Agrona can work, and warns
     * (once per JVM) when native access is not enabled where the JDK warns about JNI. Cheap after the first
     * call that passed.
     */
    public static void run() {
        if (passed) {
            return;
        }
        // Not cached when it fails: the flag cannot appear later, so every entry point keeps failing the
        // same clear way instead of getting past the check the second time.
        requireOpened();
        synchronized (StartupChecks.class) {
            if (!passed) {
                warnIfNativeAccessDisabled();
                passed = true;
            }
        }
    }

    private static void requireOpened() {
        Module agrona = org.agrona.DirectBuffer.class.getModule();
        if (!Object.class.getModule().isOpen("jdk.internal.misc", agrona)) {
            throw new IllegalStateException("Capwire needs the JVM flag " + ADD_OPENS_FLAG
                    + " (Agrona uses the JDK's internal Unsafe). Add it to the java command line, or to "
                    + "JDK_JAVA_OPTIONS. On Java " + FIRST_RESTRICTED_JNI_RELEASE + "+ also add "
                    + NATIVE_ACCESS_FLAG + ".");
        }
    }

    private static void warnIfNativeAccessDisabled() {
        if (Runtime.version().feature() < FIRST_RESTRICTED_JNI_RELEASE) {
            return;
        }
        // hawtjni's Library calls System.load, so its module is the one the JDK checks.
        Module loader = org.fusesource.hawtjni.runtime.Library.class.getModule();
        if (!nativeAccessEnabled(loader)) {
            String flag = loader.isNamed() ? "--enable-native-access=" + loader.getName() : NATIVE_ACCESS_FLAG;
            LOG.log(System.Logger.Level.WARNING, "Capwire loads its native library through JNI, which Java "
                    + Runtime.version().feature() + " restricts: add the JVM flag " + flag
                    + " to silence the JDK's warning about it (and before the JDK turns it into an error)");
        }
    }

    /** {@code Module.isNativeAccessEnabled()}, which exists from Java 22 on: called reflectively, we compile for 17. */
    private static boolean nativeAccessEnabled(Module module) {
        try {
            Method method = Module.class.getMethod("isNativeAccessEnabled");
            return (Boolean) method.invoke(module);
        } catch (NoSuchMethodException | IllegalAccessException | InvocationTargetException e) {
            return true; // cannot tell: stay quiet rather than warn wrongly
        }
    }
}
