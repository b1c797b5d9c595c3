// The dashboard's pages, scripts and styles and the charting libraries
// (Chart.js, d3 from Debian's libjs-* packages), compiled into the binary by
// tracker/web/embed.cmake so the dashboard needs no files and no network.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace stride::tracker::dashboard::detail {

struct Asset {
  std::string_view name;          // "index.html", "chart.min.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view bytes;
};

std::span<const Asset> assets();
// nullptr when there is no asset of that name.
const Asset* find_asset(std::string_view name);

}  // namespace stride::tracker::dashboard::detail
