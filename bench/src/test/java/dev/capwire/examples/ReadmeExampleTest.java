package dev.capwire.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

/**
 * README's "Using it" must not drift from what builds: its Java block is RpcExample.java, which the build compiles
 * and RpcExampleTest runs, and its dependency snippet names the version the root pom.xml builds.
 */
class ReadmeExampleTest {
    private static final Path README = Path.of("..", "README.md");
    private static final Path EXAMPLE = Path.of("src", "main", "java", "dev", "capwire", "examples",
            "RpcExample.java");
    private static final Path ROOT_POM = Path.of("..", "pom.xml");
    /** The Java block between the README's two markers (HTML comments: they do not show on the rendered page). */
    private static final Pattern EXAMPLE_BLOCK = Pattern.compile(
            "<!-- begin RpcExample\\.java[^>]*-->\\n```java\\n(.*?)```\\n<!-- end RpcExample\\.java -->",
            Pattern.DOTALL);
    private static final Pattern CORE_DEPENDENCY = Pattern.compile(
            "<artifactId>capwire-core</artifactId>\\s*<version>([^<]+)</version>");

    @Test
    void javaBlockIsTheExampleSource() throws Exception {
        Matcher block = EXAMPLE_BLOCK.matcher(Files.readString(README));
        assertTrue(block.find(), "README.md has no RpcExample.java block between the markers");
        assertEquals(Files.readString(EXAMPLE), block.group(1),
                "README.md's example differs from " + EXAMPLE + ": copy the file into the block");
    }

    @Test
    void dependencySnippetNamesTheBuiltVersion() throws Exception {
        Matcher dependency = CORE_DEPENDENCY.matcher(Files.readString(README));
        assertTrue(dependency.find(), "README.md has no capwire-core dependency snippet");
        Document pom = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(ROOT_POM.toFile());
        assertEquals(XPathFactory.newInstance().newXPath().evaluate("/project/version", pom), dependency.group(1));
    }
}
