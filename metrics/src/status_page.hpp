#pragma once

/// The live status page a node serves at `/` of its metrics endpoint: an
/// HTML page and its script (metrics/assets/status.html, status.js) that
/// poll `/metrics` every 2 s and compute rates, error ratios and quantiles
/// in the browser, drawn with Chart.js 3.9 (Debian's libjs-chart.js).
///
/// All three files are embedded in the library at build time
/// (metrics/assets/embed.cmake), so a node reads no file to serve them and
/// needs neither the assets nor Chart.js installed where it runs.

#include <string_view>

namespace warren::metrics::detail {

/// One embedded file and the headers it is served with.
struct asset {
  std::string_view body;
  /// Content-Type.
  const char* content_type;
  /// Cache-Control.
  const char* cache_control;
};

/// `GET /`: the page (`no-cache`, so a new build's page shows at the next
/// load; the browser still revalidates cheaply).
const asset& status_page_html();

/// `GET /status.js`: the page's script (`no-cache`, as the page).
const asset& status_page_script();

/// `GET /chart.js`: Chart.js 3.9.1, minified (`max-age=3600`).
const asset& chart_js();

} // namespace warren::metrics::detail
