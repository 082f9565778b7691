package dev.capwire.bench.profile;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * A latency-by-percentile plot as one self-contained SVG file, the way HdrHistogram's plotter draws it: the x axis
 * is the percentile on a log scale of 1 / (1 - p) (so 90, 99, 99.9 % are evenly spaced and the tail gets room),
 * the y axis the latency on a log scale, one decade a grid line.
 */
final class LatencyPlot {
    private static final int WIDTH = 800;
    private static final int HEIGHT = 480;
    private static final int LEFT = 80;
    private static final int RIGHT = 30;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;
    /** The plot ends at 99.9999 %: six nines, 1 / (1 - p) = 10^6. */
    private static final double MAX_NINES = 6;

    private LatencyPlot() {
    }

    /** The plot of {@code histogram} (values in nanoseconds), titled {@code title}. */
    static String svg(Histogram histogram, String title) {
        List<double[]> points = new ArrayList<>(); // {nines, microseconds}
        for (HistogramIterationValue value : histogram.percentiles(5)) {
            double fraction = value.getPercentileLevelIteratedTo() / 100.0;
            double nines = fraction >= 1 ? MAX_NINES : Math.min(MAX_NINES, Math.log10(1 / (1 - fraction)));
            points.add(new double[] {nines, Math.max(0.001, value.getValueIteratedTo() / 1000.0)});
        }
        double minMicros = Math.max(0.001, histogram.getMinNonZeroValue() / 1000.0);
        double maxMicros = Math.max(minMicros * 10, histogram.getMaxValue() / 1000.0);
        double lowDecade = Math.floor(Math.log10(minMicros));
        double highDecade = Math.ceil(Math.log10(maxMicros));
        double lastNines = Math.min(MAX_NINES, Math.ceil(points.isEmpty() ? 1 : points.get(points.size() - 1)[0]));
        lastNines = Math.max(lastNines, 2);

        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">%n", WIDTH, HEIGHT, WIDTH, HEIGHT));
        svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"25\" font-size=\"14\">%s</text>%n", LEFT,
                escape(title)));
        // Grid: one vertical line per nine, one horizontal line per decade.
        for (int nines = 0; nines <= lastNines; nines++) {
            double x = x(nines, lastNines);
            svg.append(line(x, TOP, x, HEIGHT - BOTTOM, "#ddd"));
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x,
                    HEIGHT - BOTTOM + 18, percentLabel(nines)));
        }
        for (double decade = lowDecade; decade <= highDecade; decade++) {
            double y = y(decade, lowDecade, highDecade);
            svg.append(line(LEFT, y, WIDTH - RIGHT, y, "#ddd"));
            svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n",
                    LEFT - 6, y + 4, micros(Math.pow(10, decade))));
        }
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">percentile</text>%n",
                LEFT + (WIDTH - LEFT - RIGHT) / 2, HEIGHT - 15));
        svg.append(String.format(Locale.ROOT, "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" "
                + "transform=\"rotate(-90 18 %d)\">latency</text>%n", TOP + (HEIGHT - TOP - BOTTOM) / 2,
                TOP + (HEIGHT - TOP - BOTTOM) / 2));
        svg.append("<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"");
        for (double[] point : points) {
            svg.append(String.format(Locale.ROOT, "%.1f,%.1f ", x(point[0], lastNines),
                    y(Math.log10(point[1]), lowDecade, highDecade)));
        }
        svg.append("\"/>\n</svg>\n");
        return svg.toString();
    }

    private static double x(double nines, double lastNines) {
        return LEFT + nines / lastNines * (WIDTH - LEFT - RIGHT);
    }

    private static double y(double log10Micros, double lowDecade, double highDecade) {
        return HEIGHT - BOTTOM - (log10Micros - lowDecade) / (highDecade - lowDecade) * (HEIGHT - TOP - BOTTOM);
    }

    private static String line(double x1, double y1, double x2, double y2, String colour) {
        return String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>%n",
                x1, y1, x2, y2, colour);
    }

    private static String percentLabel(int nines) {
        return switch (nines) {
            case 0 -> "0%";
            case 1 -> "90%";
            case 2 -> "99%";
            default -> "99." + "9".repeat(nines - 2) + "%";
        };
    }

    private static String micros(double micros) {
        if (micros >= 1_000_000) {
            return String.format(Locale.ROOT, "%.0f s", micros / 1_000_000);
        }
        if (micros >= 1000) {
            return String.format(Locale.ROOT, "%.0f ms", micros / 1000);
        }
        return micros >= 1 ? String.format(Locale.ROOT, "%.0f us", micros) : String.format(Locale.ROOT, "%.0f ns",
                micros * 1000);
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
