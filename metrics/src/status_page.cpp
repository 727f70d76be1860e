#include "status_page.hpp"

#include <cstddef>

namespace warren::metrics::detail {

// Defined in status_page_assets.cpp, which metrics/assets/embed.cmake
// writes into the build directory.
extern const unsigned char status_html_bytes[];
extern const std::size_t status_html_bytes_size;
extern const unsigned char status_js_bytes[];
extern const std::size_t status_js_bytes_size;
extern const unsigned char chart_js_bytes[];
extern const std::size_t chart_js_bytes_size;

namespace {

std::string_view view(const unsigned char* bytes, std::size_t size) {
  return {reinterpret_cast<const char*>(bytes), size};
}

} // namespace

const asset& status_page_html() {
  static const asset file{view(status_html_bytes, status_html_bytes_size),
                          "text/html; charset=utf-8", "no-cache"};
  return file;
}

const asset& status_page_script() {
  static const asset file{view(status_js_bytes, status_js_bytes_size),
                          "text/javascript; charset=utf-8", "no-cache"};
  return file;
}

const asset& chart_js() {
  static const asset file{view(chart_js_bytes, chart_js_bytes_size),
                          "text/javascript; charset=utf-8", "max-age=3600"};
  return file;
}

} // namespace warren::metrics::detail
