#include "python/module_name.h"

#include <vector>

namespace stallscope {
namespace {

constexpr std::string_view kFrozenPrefix = "<frozen ";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// "python3.11", "python3", "python3.13t" (free-threaded builds): the standard library's
// directory under lib/.
bool IsStdlibDirectory(std::string_view name) {
  if (name.size() > 7 && name.ends_with('t') && IsDigit(name[name.size() - 2])) {
    name.remove_suffix(1);
  }
  if (!name.starts_with("python") || name.size() == 6) return false;
  for (char c : name.substr(6)) {
    if (!IsDigit(c) && c != '.') return false;
  }
  return IsDigit(name[6]);
}

std::string_view StripExtension(std::string_view name) {
  size_t dot = name.rfind('.');
  return dot == std::string_view::npos || dot == 0 ? name : name.substr(0, dot);
}

}  // namespace

std::string ModuleFromFilename(std::string_view filename) {
  if (filename.starts_with(kFrozenPrefix) && filename.ends_with(">")) {
    return std::string(
        filename.substr(kFrozenPrefix.size(), filename.size() - kFrozenPrefix.size() - 1));
  }
  if (filename.starts_with("<")) return std::string(filename);

  std::vector<std::string_view> parts = SplitPath(filename);
  if (parts.empty()) return std::string(filename);

  // Where the importable tree starts: after the last packages directory, else after the
  // standard library directory.
  size_t root = parts.size();
  for (size_t i = parts.size() - 1; i-- > 0;) {
    if (parts[i] == "site-packages" || parts[i] == "dist-packages") {
      root = i + 1;
      break;
    }
  }
  if (root == parts.size()) {
    for (size_t i = parts.size() - 1; i-- > 0;) {
      if (IsStdlibDirectory(parts[i])) {
        root = i + 1;
        break;
      }
    }
  }
  if (root == parts.size()) root = parts.size() - 1;  // application code: the file alone

  std::vector<std::string_view> dotted(parts.begin() + static_cast<long>(root), parts.end());
  dotted.back() = StripExtension(dotted.back());
  if (dotted.back() == "__init__") {
    if (dotted.size() > 1) {
      dotted.pop_back();
    } else if (parts.size() > 1) {
      return std::string(parts[parts.size() - 2]);  // an application package's __init__.py
    }
  }
  std::string module;
  for (std::string_view part : dotted) {
    if (!module.empty()) module.push_back('.');
    module.append(part);
  }
  return module;
}

}  // namespace stallscope
