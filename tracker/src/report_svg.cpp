// Hand-written SVG: no scripts, no external resources, so the page is one
// self-contained file that any browser (or a headless one) renders the same.
#include "report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "stride/tracker/report.h"

namespace stride::tracker::report::svg {
namespace {

// Characters of a tick label that fit between two axes of a parallel-coordinates plot.
constexpr size_t kTickCharacters = 24;

std::string num(double v) { return fmt::format("{:.1f}", v); }

std::string tick_text(double v) {
  if (v == 0) return "0";
  return fmt::format("{:.3g}", v);
}

// About `count` round tick values covering [low, high], at least min_step apart.
std::vector<double> nice_ticks(double low, double high, int count, double min_step = 0) {
  if (!(high > low)) return {low};
  const double raw = std::max((high - low) / count, min_step);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

std::string title_text(double x, double y, const std::string& text) {
  return fmt::format(R"(<text x="{}" y="{}" class="title">{}</text>)", num(x), num(y), html_escape(text));
}

}  // namespace

std::string ramp_colour(double t) {
  // A few stops of the viridis map, linearly interpolated.
  static constexpr double stops[][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(std::isnan(t) ? 0.0 : t, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  auto channel = [&](int c) {
    return static_cast<int>(std::lround(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f));
  };
  return fmt::format("rgb({},{},{})", channel(0), channel(1), channel(2));
}

std::string line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                       const std::vector<Line>& lines, int width, int height) {
  const double left = 64, right = 16, top = 32, bottom = 44;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double x_low = INFINITY, x_high = -INFINITY, y_low = INFINITY, y_high = -INFINITY;
  for (const auto& line : lines)
    for (const auto& [x, y] : line.points) {
      if (std::isnan(y) || std::isinf(y)) continue;
      x_low = std::min(x_low, x), x_high = std::max(x_high, x);
      y_low = std::min(y_low, y), y_high = std::max(y_high, y);
    }
  std::string out = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" class="chart">)", width,
      height, width, height);
  out += fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>)", width, height);
  out += title_text(left, 20, title);
  if (!(x_low <= x_high)) {
    out += fmt::format(R"(<text x="{}" y="{}" class="note">no values recorded</text></svg>)", num(left + 10),
                       num(top + plot_h / 2));
    return out;
  }
  if (x_high == x_low) x_high = x_low + 1;
  if (y_high == y_low) y_low -= 0.5, y_high += 0.5;
  const double pad = (y_high - y_low) * 0.05;
  y_low -= pad, y_high += pad;
  auto sx = [&](double x) { return left + (x - x_low) / (x_high - x_low) * plot_w; };
  auto sy = [&](double y) { return top + (1 - (y - y_low) / (y_high - y_low)) * plot_h; };

  out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="#fafafa" stroke="#999"/>)", num(left),
                     num(top), num(plot_w), num(plot_h));
  for (double t : nice_ticks(y_low, y_high, 5)) {
    out += fmt::format(R"(<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#e2e2e2"/>)", num(left), num(left + plot_w),
                       num(sy(t)), num(sy(t)));
    out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>)", num(left - 6), num(sy(t) + 4),
                       tick_text(t));
  }
  for (double t : nice_ticks(x_low, x_high, 8, /*min_step=*/1)) {
    out += fmt::format(R"(<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#999"/>)", num(sx(t)), num(sx(t)),
                       num(top + plot_h), num(top + plot_h + 4));
    out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>)", num(sx(t)),
                       num(top + plot_h + 16), tick_text(t));
  }
  out += fmt::format(R"(<text x="{}" y="{}" class="label" text-anchor="middle">{}</text>)", num(left + plot_w / 2),
                     num(height - 8.0), html_escape(x_label));
  out +=
      fmt::format(R"~(<text x="14" y="{}" class="label" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>)~",
                  num(top + plot_h / 2), num(top + plot_h / 2), html_escape(y_label));

  for (const auto& line : lines) {
    // One <polyline> per unbroken run of values.
    std::vector<std::string> runs(1);
    size_t in_run = 0;
    for (const auto& [x, y] : line.points) {
      if (std::isnan(y) || std::isinf(y)) {
        if (in_run) runs.emplace_back(), in_run = 0;
        continue;
      }
      runs.back() += fmt::format("{},{} ", num(sx(x)), num(sy(y)));
      ++in_run;
    }
    out += "<g>";
    out += fmt::format("<title>{}</title>", html_escape(line.label));
    for (const auto& points : runs) {
      if (points.empty()) continue;
      out += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="{}" points="{}"/>)", line.colour,
                         num(line.width), points);
    }
    out += "</g>";
  }
  return out + "</svg>";
}

double axis_position(const Axis& axis, double value) {
  if (std::isnan(value)) return NAN;
  if (axis.log_scale) {
    if (value <= 0) return NAN;
    const double low = std::log10(axis.low), high = std::log10(axis.high);
    return high > low ? (std::log10(value) - low) / (high - low) : 0.5;
  }
  return axis.high > axis.low ? (value - axis.low) / (axis.high - axis.low) : 0.5;
}

std::string parallel_coordinates(const std::string& title, const std::vector<Axis>& axes,
                                 const std::vector<Polyline>& lines, int width, int height) {
  const double left = 70, right = 70, top = 56, bottom = 30;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  std::string out = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" class="chart">)", width,
      height, width, height);
  out += fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>)", width, height);
  out += title_text(16, 20, title);
  if (axes.empty()) return out + "</svg>";
  auto ax = [&](size_t i) {
    return axes.size() == 1 ? left + plot_w / 2 : left + plot_w * double(i) / double(axes.size() - 1);
  };
  auto ay = [&](double position) { return top + (1 - position) * plot_h; };

  for (const auto& line : lines) {
    std::string points;
    out += fmt::format("<g><title>{}</title>", html_escape(line.label));
    for (size_t i = 0; i < axes.size() && i < line.positions.size(); ++i) {
      if (std::isnan(line.positions[i])) continue;
      points += fmt::format("{},{} ", num(ax(i)), num(ay(line.positions[i])));
    }
    out += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-opacity="0.8" stroke-width="{}" points="{}"/></g>)",
                       line.colour, num(line.width), points);
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    const Axis& axis = axes[i];
    const double x = ax(i);
    out += fmt::format(R"(<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#333" stroke-width="1.5"/>)", num(x), num(x),
                       num(top), num(top + plot_h));
    out += fmt::format(R"(<text x="{}" y="{}" class="label" text-anchor="middle">{}</text>)", num(x), num(top - 22),
                       html_escape(axis.name));
    // Labels shortened to the room between axes; the whole text is the label's tooltip.
    auto tick = [&](double position, const std::string& text) {
      const std::string shown = abbreviate(text, kTickCharacters);
      out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="start">{}{}</text>)", num(x + 5),
                         num(ay(position) + 4), html_escape(shown),
                         shown == text ? "" : "<title>" + html_escape(text) + "</title>");
    };
    if (axis.categorical) {
      const size_t n = axis.categories.size();
      for (size_t c = 0; c < n; ++c) tick(n == 1 ? 0.5 : double(c) / double(n - 1), axis.categories[c]);
    } else if (axis.log_scale) {
      for (double e = std::ceil(std::log10(axis.low)); e <= std::floor(std::log10(axis.high)) + 1e-9; e += 1)
        tick(axis_position(axis, std::pow(10.0, e)), tick_text(std::pow(10.0, e)));
      tick(0, tick_text(axis.low));
      tick(1, tick_text(axis.high));
    } else if (axis.high > axis.low) {
      for (double t : nice_ticks(axis.low, axis.high, 4)) tick(axis_position(axis, t), tick_text(t));
    } else {
      tick(0.5, tick_text(axis.low));
    }
  }
  return out + "</svg>";
}

std::string confusion_heatmap(const std::string& title, const std::vector<std::string>& classes,
                              const std::vector<std::vector<int64_t>>& counts) {
  const size_t n = counts.size();
  const double cell = n ? std::clamp(520.0 / double(n), 6.0, 48.0) : 48.0;
  const double left = 130, top = 120;
  const double width = left + cell * double(n) + 24, height = top + cell * double(n) + 40;
  std::string out = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" class="chart">)",
      num(width), num(height), num(width), num(height));
  out += fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>)", num(width), num(height));
  out += title_text(16, 20, title);
  out += fmt::format(R"(<text x="{}" y="{}" class="label" text-anchor="middle">predicted class</text>)",
                     num(left + cell * double(n) / 2), num(38.0));
  out += fmt::format(
      R"~(<text x="16" y="{}" class="label" transform="rotate(-90 16 {})" text-anchor="middle">true class</text>)~",
      num(top + cell * double(n) / 2), num(top + cell * double(n) / 2));
  const bool labels = cell >= 14;
  for (size_t i = 0; i < n; ++i) {
    const std::string name = i < classes.size() ? classes[i] : std::to_string(i);
    if (labels) {
      out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>)", num(left - 6),
                         num(top + cell * (double(i) + 0.5) + 4), html_escape(name));
      const double cx = left + cell * (double(i) + 0.5), cy = top - 6;
      out += fmt::format(R"~(<text x="{}" y="{}" class="tick" transform="rotate(-60 {} {})">{}</text>)~", num(cx),
                         num(cy), num(cx), num(cy), html_escape(name));
    }
    int64_t row_total = 0;
    for (int64_t v : counts[i]) row_total += v;
    for (size_t j = 0; j < counts[i].size(); ++j) {
      const double fraction = row_total ? double(counts[i][j]) / double(row_total) : 0;
      // White to deep blue by the share of the true class.
      const int r = static_cast<int>(std::lround(247 - fraction * (247 - 8)));
      const int g = static_cast<int>(std::lround(251 - fraction * (251 - 48)));
      const int b = static_cast<int>(std::lround(255 - fraction * (255 - 107)));
      const double x = left + cell * double(j), y = top + cell * double(i);
      out += fmt::format(
          R"~(<rect x="{}" y="{}" width="{}" height="{}" fill="rgb({},{},{})" stroke="#fff"><title>true {} / predicted {}: {}</title></rect>)~",
          num(x), num(y), num(cell), num(cell), r, g, b, html_escape(name),
          html_escape(j < classes.size() ? classes[j] : std::to_string(j)), counts[i][j]);
      if (cell >= 22)
        out += fmt::format(R"(<text x="{}" y="{}" class="cell" text-anchor="middle" fill="{}">{}</text>)",
                           num(x + cell / 2), num(y + cell / 2 + 4), fraction > 0.5 ? "#fff" : "#222", counts[i][j]);
    }
  }
  return out + "</svg>";
}

}  // namespace stride::tracker::report::svg
