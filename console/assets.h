// The console's static files (console/assets/), built into the binary by
// embed_assets.cmake so that a gateway needs nothing else on disk and
// nothing from the internet.
#ifndef DX_CONSOLE_ASSETS_H_
#define DX_CONSOLE_ASSETS_H_

#include <string_view>

namespace dx::console {

struct Asset {
  std::string_view path;  // "/index.html", "/assets/app.js"
  std::string_view content_type;
  std::string_view body;
};

// The asset at `path`, or null.
const Asset* FindAsset(std::string_view path);

}  // namespace dx::console

#endif  // DX_CONSOLE_ASSETS_H_
