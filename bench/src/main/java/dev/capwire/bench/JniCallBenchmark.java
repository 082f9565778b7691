package dev.capwire.bench;

import dev.capwire.bindings.Native;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.CompilerControl;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

/**
 * What crossing into C costs: Capwire's most trivial native against a plain Java static method that does
 * the same nothing. The JIT never inlines a JNI call, so the baseline is kept out of line too; otherwise it
 * would be folded into a constant and the ratio would compare a call with no call at all.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS})
public class JniCallBenchmark {
    @Benchmark
    public int capwireJniCall() {
        return Native.abiVersion();
    }

    @Benchmark
    public int javaStaticCall() {
        return javaAbiVersion();
    }

    @CompilerControl(CompilerControl.Mode.DONT_INLINE)
    static int javaAbiVersion() {
        return Native.ABI_VERSION;
    }
}
