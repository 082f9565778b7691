package dev.capwire.bindings;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import org.fusesource.hawtjni.runtime.Library;

/**
 * Loads libcapwire through hawtjni-runtime's {@link Library}: from {@code -Dlibrary.capwire.path=DIR} when
 * set (loaded from there, or extracted there for hosts whose temp dir is {@code noexec}), else from the
 * {@code java.library.path}, else extracted from the jar's {@code META-INF/native/<platform>/}.
 *
 * <p>When Capwire is shaded, the library must be renamed {@code lib<prefix>capwire.so}, where
 * {@code <prefix>} is the relocated package prefix with {@code _} for {@code .} (for example
 * {@code libcom_acme_shaded_capwire.so} for {@code com.acme.shaded.dev.capwire}); the C side reads the same
 * prefix back from its own file name to find the relocated {@link Native} class.
 */
public final class NativeLibrary {
    private static final String UNSHADED_CLASS = "dev.capwire.bindings.Native";
    private static final String STEM = "capwire";

    private NativeLibrary() {
    }

    /** The library name for this copy of the classes: {@code capwire}, or {@code <prefix>capwire} when shaded. */
    static String libraryName() {
        String actual = Native.class.getName();
        String prefix = actual.substring(0, actual.length() - UNSHADED_CLASS.length());
        return prefix.replace('.', '_') + STEM;
    }

    static void load() {
        StartupChecks.run();
        String name = libraryName();
        Library library = new Library(name, Native.class);
        try {
            library.load();
        } catch (UnsatisfiedLinkError e) {
            UnsatisfiedLinkError failure = new UnsatisfiedLinkError(loadFailureMessage(library, name, e.getMessage()));
            failure.initCause(e);
            throw failure;
        }
    }

    private static String loadFailureMessage(Library library, String name, String reasons) {
        String pathProperty = "library." + name + ".path";
        List<String> tried = new ArrayList<>();
        String customPath = System.getProperty(pathProperty);
        if (customPath != null) {
            tried.add(new File(customPath, library.getLibraryFileName()) + " (from -D" + pathProperty + ")");
        }
        tried.add("java.library.path=" + System.getProperty("java.library.path"));
        tried.add("classpath resource " + library.getArchSpecificResourcePath());
        tried.add("classpath resource " + library.getPlatformSpecificResourcePath());
        tried.add("classpath resource " + library.getResourcePath());
        tried.add("extraction into " + (customPath != null ? customPath + " and " : "")
                + System.getProperty("java.io.tmpdir"));
        return "Capwire could not load its native library " + library.getLibraryFileName()
                + " for os.name=" + System.getProperty("os.name") + ", os.arch=" + System.getProperty("os.arch")
                + " (platform " + Library.getPlatform() + ").\n  Tried: " + String.join("; ", tried)
                + "\n  Reasons: " + reasons
                + "\n  To override, put the library in a directory and pass -D" + pathProperty + "=DIR; "
                + "the same property gives an executable directory to extract into when java.io.tmpdir is "
                + "mounted noexec.";
    }
}
