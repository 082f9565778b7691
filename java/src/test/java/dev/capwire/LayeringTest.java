package dev.capwire;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import java.util.Arrays;
import java.util.stream.Stream;

/**
 * Which package may use which, checked on the compiled classes of capwire-bindings and capwire-core (the main
 * classes on this module's test classpath; tests are free to reach across layers). From the top:
 *
 * <pre>
 * bench, examples           applications: nothing in the library may use them
 * broker                    may use rpc
 * rpc                       may not use broker
 * handshake
 * transport
 * Configuration, wire, bindings    the bottom, independent of one another
 * </pre>
 *
 * Each layer may use any layer below it. The rules name packages, never classes, so classes can be added,
 * split or renamed inside a package freely; {@code rpc} and {@code broker} are optional layers, checked as
 * soon as they have classes. A new package must be given its place here first ({@link #everyPackageHasALayer}).
 */
@AnalyzeClasses(packages = "dev.capwire", importOptions = {
        ImportOption.DoNotIncludeTests.class, LayeringTest.DoNotIncludeTestJars.class})
class LayeringTest {
    private static final String APPLICATIONS = "Applications";
    private static final String BROKER = "Broker";
    private static final String RPC = "Rpc";
    private static final String HANDSHAKE = "Handshake";
    private static final String TRANSPORT = "Transport";
    private static final String CONFIGURATION = "Configuration";
    private static final String WIRE = "Wire";
    private static final String BINDINGS = "Bindings";

    private static final String[] APPLICATION_PACKAGES = {"dev.capwire.bench..", "dev.capwire.examples.."};
    private static final String BROKER_PACKAGE = "dev.capwire.broker..";
    private static final String RPC_PACKAGE = "dev.capwire.rpc..";
    private static final String HANDSHAKE_PACKAGE = "dev.capwire.handshake..";
    private static final String TRANSPORT_PACKAGE = "dev.capwire.transport..";
    /** Only the root package itself, where {@link Configuration} lives: no ".." after it. */
    private static final String CONFIGURATION_PACKAGE = "dev.capwire";
    private static final String WIRE_PACKAGE = "dev.capwire.wire..";
    private static final String BINDINGS_PACKAGE = "dev.capwire.bindings..";

    @ArchTest
    static final ArchRule layers = layeredArchitecture()
            // Only who uses whom among Capwire's own packages; the JDK, Agrona and protobuf are everyone's.
            .consideringOnlyDependenciesInLayers()
            // The applications live in capwire-bench, not on this classpath: their layer is empty here.
            .optionalLayer(APPLICATIONS).definedBy(APPLICATION_PACKAGES)
            .optionalLayer(BROKER).definedBy(BROKER_PACKAGE)
            .optionalLayer(RPC).definedBy(RPC_PACKAGE)
            .layer(HANDSHAKE).definedBy(HANDSHAKE_PACKAGE)
            .layer(TRANSPORT).definedBy(TRANSPORT_PACKAGE)
            .layer(CONFIGURATION).definedBy(CONFIGURATION_PACKAGE)
            .layer(WIRE).definedBy(WIRE_PACKAGE)
            .layer(BINDINGS).definedBy(BINDINGS_PACKAGE)
            .whereLayer(APPLICATIONS).mayNotBeAccessedByAnyLayer()
            .whereLayer(BROKER).mayOnlyBeAccessedByLayers(APPLICATIONS)
            .whereLayer(RPC).mayOnlyBeAccessedByLayers(BROKER, APPLICATIONS)
            .whereLayer(HANDSHAKE).mayOnlyBeAccessedByLayers(RPC, BROKER, APPLICATIONS)
            .whereLayer(TRANSPORT).mayOnlyBeAccessedByLayers(HANDSHAKE, RPC, BROKER, APPLICATIONS)
            .whereLayer(CONFIGURATION).mayOnlyBeAccessedByLayers(TRANSPORT, HANDSHAKE, RPC, BROKER, APPLICATIONS)
            .whereLayer(WIRE).mayOnlyBeAccessedByLayers(TRANSPORT, HANDSHAKE, RPC, BROKER, APPLICATIONS)
            .whereLayer(BINDINGS).mayOnlyBeAccessedByLayers(TRANSPORT, HANDSHAKE, RPC, BROKER, APPLICATIONS);

    @ArchTest
    static final ArchRule everyPackageHasALayer = classes().that().resideInAPackage("dev.capwire..")
            .should().resideInAnyPackage(allLayerPackages())
            .because("a new package must be given its place in LayeringTest's layers before the layers can guard it");

    @ArchTest
    static final ArchRule noCyclesBetweenPackages = slices().assignedFrom(new ByPackage())
            .should().beFreeOfCycles();

    private static String[] allLayerPackages() {
        return Stream.concat(Arrays.stream(APPLICATION_PACKAGES), Stream.of(BROKER_PACKAGE, RPC_PACKAGE,
                HANDSHAKE_PACKAGE, TRANSPORT_PACKAGE, CONFIGURATION_PACKAGE, WIRE_PACKAGE, BINDINGS_PACKAGE))
                .toArray(String[]::new);
    }

    /**
     * One slice per package, subpackages included as slices of their own (dev.capwire.wire.proto apart from
     * dev.capwire.wire): a cycle between any two of Capwire's packages fails, not only between layers.
     */
    static final class ByPackage implements SliceAssignment {
        @Override
        public SliceIdentifier getIdentifierOf(JavaClass javaClass) {
            String name = javaClass.getPackageName();
            return name.equals("dev.capwire") || name.startsWith("dev.capwire.")
                    ? SliceIdentifier.of(name) : SliceIdentifier.ignore();
        }

        @Override
        public String getDescription() {
            return "Capwire's packages";
        }
    }

    /**
     * Keeps out capwire-bindings' test-jar (its shared test harness), which reaches this classpath as a jar
     * named *-tests.jar that ArchUnit's {@link ImportOption.DoNotIncludeTests} does not recognise.
     */
    static final class DoNotIncludeTestJars implements ImportOption {
        @Override
        public boolean includes(Location location) {
            return !location.contains("-tests.jar");
        }
    }
}
