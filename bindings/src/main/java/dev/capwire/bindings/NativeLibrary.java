package dev.capwire.bindings;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URL;
import java.util.ArrayList;
import java.util.List;
import org.fusesource.hawtjni.runtime.Library;

/**
 * Loads libcapwire through hawtjni-runtime's {@link Library}: from {@code -Dlibrary.capwire.path=DIR} when
 * set (loaded from there, or extracted there for hosts whose temp dir is {@code noexec}), else from the
 * {@code java.library.path}, else extracted from the jar's {@code META-INF/native/<platform>/}.
 *
 * <p>The platform is decided first, by OS, architecture and C library ({@link Platform}): on musl (Alpine)
 * hawtjni's search would find the glibc build, whose load fails there and has crashed inside
 * {@code dlopen} on aarch64, so musl hosts load the musl build from {@code META-INF/native/linux64-musl/}
 * (or {@code -Dlibrary.capwire.path}, or {@code java.library.path}) without hawtjni's fallbacks. When no
 * library fits, the error says which OS, architecture and C library were detected.
 *
 * <p>A copy extracted from the jar is unlinked as soon as it is loaded (the loaded library lives on in the
 * process), so no JVM leaves one behind, not even one killed before its delete-on-exit hooks run; only on
 * Windows, which cannot delete a loaded DLL, does it stay. A library loaded where the user put it is never
 * deleted.
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
        Platform platform = Platform.current();
        Library library = new Library(name, Native.class);
        try {
            if (platform.isMusl()) {
                loadWithoutFallbacks(name, platform);
            } else {
                library.load();
                deleteHawtjniCopy(library, platform);
            }
        } catch (UnsatisfiedLinkError e) {
            UnsatisfiedLinkError failure = new UnsatisfiedLinkError(
                    loadFailureMessage(library, name, platform, e.getMessage()));
            failure.initCause(e);
            throw failure;
        } catch (NoSuchMethodError e) {
            // JNI_OnLoad registers every native by its signature, so a library built for other bindings (an
            // older ABI) fails right here, before Native's own check can ask it for its ABI version.
            LinkageError stale = new LinkageError("libcapwire does not match the Java bindings' ABI "
                    + Native.ABI_VERSION + ": a stale library was loaded (check -D" + "library." + name + ".path): "
                    + e.getMessage());
            stale.initCause(e);
            throw stale;
        }
    }

    /**
     * Loads from {@code -Dlibrary.<name>.path} when given, else {@code java.library.path}, else this
     * platform's own resource, extracted into a temporary file (deleted once loaded, or when loading it
     * fails); never from another platform's directory.
     */
    private static void loadWithoutFallbacks(String name, Platform platform) {
        String fileName = System.mapLibraryName(name);
        String customPath = System.getProperty("library." + name + ".path");
        if (customPath != null) {
            File file = new File(customPath, fileName);
            if (!file.isFile()) {
                throw new UnsatisfiedLinkError(file + " does not exist");
            }
            System.load(file.getAbsolutePath());
            return;
        }
        List<String> reasons = new ArrayList<>();
        try {
            System.loadLibrary(name);
            return;
        } catch (UnsatisfiedLinkError notOnLibraryPath) {
            reasons.add(notOnLibraryPath.getMessage());
        }
        String directory = platform.resourceDirectory();
        URL resource = directory == null ? null : Native.class.getClassLoader().getResource(directory + fileName);
        if (resource == null) {
            reasons.add("this jar has no library for " + platform);
            throw new UnsatisfiedLinkError(String.join("; ", reasons));
        }
        File extracted = null;
        boolean loaded = false;
        // java.io, not Files.createTempFile/Files.copy: an NIO FileChannel would make the JDK keep a socketpair
        // end open for the JVM's life (see Platform.linuxLibc), in a process whose fds are the application's.
        try (InputStream in = resource.openStream()) {
            extracted = File.createTempFile("lib" + name + "-", fileName.substring(fileName.lastIndexOf('.')));
            extracted.deleteOnExit();
            try (OutputStream out = new FileOutputStream(extracted)) {
                in.transferTo(out);
            }
            System.load(extracted.getAbsolutePath());
            loaded = true;
        } catch (IOException e) {
            reasons.add("extracting " + resource + " into " + System.getProperty("java.io.tmpdir") + " failed: " + e);
            throw new UnsatisfiedLinkError(String.join("; ", reasons));
        } finally {
            // A copy that failed to load is of no use on any platform.
            if (extracted != null && (!loaded || platform.keepsLoadedLibraryWithoutItsFile())) {
                deleteExtracted(extracted);
            }
        }
    }

    /**
     * Deletes the file hawtjni-runtime loaded if it extracted that file for this JVM alone. Only an extraction
     * sets {@link Library#getNativeLibrarySourceUrl}: a library found in {@code -Dlibrary.<name>.path} or on
     * {@code java.library.path} was loaded where it is and leaves it null. Its {@code sha1} strategy (the
     * default on Windows, or {@code -Dhawtjni.strategy=sha1}) extracts under a name derived from the
     * content, to be reused by the next JVM rather than piling up, which another JVM may be loading this
     * moment: that file is kept. Its {@code temp} strategy makes a fresh file per JVM, left to delete-on-exit.
     */
    private static void deleteHawtjniCopy(Library library, Platform platform) {
        boolean ownTempFile = library.getNativeLibrarySourceUrl() != null && library.getNativeLibraryPath() != null
                && !Library.STRATEGY_SHA1.equals(System.getProperty(Library.STRATEGY_PROPERTY));
        if (ownTempFile && platform.keepsLoadedLibraryWithoutItsFile()) {
            deleteExtracted(new File(library.getNativeLibraryPath()));
        }
    }

    private static void deleteExtracted(File extracted) {
        // Ignoring a failure is safe: the file is still marked delete-on-exit, which removes it unless the JVM
        // is killed first.
        extracted.delete();
    }

    private static String loadFailureMessage(Library library, String name, Platform platform, String reasons) {
        String pathProperty = "library." + name + ".path";
        String customPath = System.getProperty(pathProperty);
        boolean musl = platform.isMusl();
        List<String> tried = new ArrayList<>();
        if (customPath != null) {
            tried.add(new File(customPath, library.getLibraryFileName()) + " (from -D" + pathProperty + ")");
        }
        // On musl a custom path is the only place tried (see loadWithoutFallbacks); hawtjni goes on from it.
        if (!musl || customPath == null) {
            tried.add("java.library.path=" + System.getProperty("java.library.path"));
            if (musl) {
                String directory = platform.resourceDirectory();
                tried.add(directory == null ? "no classpath resource (this jar has no musl build for "
                        + platform.arch() + ")" : "classpath resource " + directory + library.getLibraryFileName());
            } else {
                tried.add("classpath resource " + library.getArchSpecificResourcePath());
                tried.add("classpath resource " + library.getPlatformSpecificResourcePath());
                tried.add("classpath resource " + library.getResourcePath());
            }
            tried.add("extraction into " + (customPath != null ? customPath + " and " : "")
                    + System.getProperty("java.io.tmpdir"));
        }
        return "Capwire could not load its native library " + library.getLibraryFileName()
                + " for os.name=" + System.getProperty("os.name") + ", os.arch=" + System.getProperty("os.arch")
                + " (detected " + platform + "; hawtjni platform " + Library.getPlatform() + ")."
                + (platform.resourceDirectory() == null
                        ? "\n  This jar carries no library for that platform: it has Linux x86_64 and aarch64 (glibc "
                                + "2.17+ and musl), macOS x86_64 and aarch64, and Windows x86_64."
                        : "")
                + "\n  Tried: " + String.join("; ", tried)
                + "\n  Reasons: " + reasons
                + "\n  To override, put the library in a directory and pass -D" + pathProperty + "=DIR"
                + (musl ? " (on musl it is loaded from there, and nothing is extracted); when java.io.tmpdir is "
                        + "mounted noexec, do that, or pass -Djava.io.tmpdir= an executable directory to extract into."
                        : "; the same property gives an executable directory to extract into when java.io.tmpdir "
                                + "is mounted noexec.");
    }
}
