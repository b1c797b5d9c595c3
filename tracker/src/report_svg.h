// Inline SVG charts for the HTML report (internal). Every label passes through
// html_escape; numbers are formatted by us. Colours are CSS "rgb(...)" text.
#pragma once

#include <string>
#include <vector>

namespace stride::tracker::report::svg {

// A colour along a perceptual ramp (dark purple -> teal -> yellow), t in [0, 1].
std::string ramp_colour(double t);

struct Line {
  std::string label;  // tooltip text
  std::string colour;
  double width = 1.5;
  std::vector<std::pair<double, double>> points;  // (x, y); NaN y breaks the line
};

// A line chart with axes, ticks and labels. x counts whole steps (epochs):
// its ticks are whole numbers.
std::string line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                       const std::vector<Line>& lines, int width = 640, int height = 340);

// One vertical axis of a parallel-coordinates plot: numeric (optionally log)
// or categorical (the category labels in order).
struct Axis {
  std::string name;
  bool categorical = false;
  bool log_scale = false;
  double low = 0, high = 1;             // numeric range
  std::vector<std::string> categories;  // categorical labels
};

struct Polyline {
  std::string label;
  std::string colour;
  double width = 1.2;
  std::vector<double> positions;  // per axis, in [0, 1] (NaN: missing, the line skips the axis)
};

// Position of a numeric value on an axis, in [0, 1].
double axis_position(const Axis& axis, double value);

std::string parallel_coordinates(const std::string& title, const std::vector<Axis>& axes,
                                 const std::vector<Polyline>& lines, int width = 900, int height = 360);

// A heat map of counts, rows normalised (true class recall), with counts in the cells when they fit.
std::string confusion_heatmap(const std::string& title, const std::vector<std::string>& classes,
                              const std::vector<std::vector<int64_t>>& counts);

}  // namespace stride::tracker::report::svg
