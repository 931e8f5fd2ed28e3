#include "output/flamegraph.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "output/report_writer.h"
#include "output_file.h"
#include "safe_text.h"

namespace stallscope {
namespace {

constexpr int kMarginPx = 10;
constexpr int kHeaderPx = 56;         // title and subtitle
constexpr int kFooterPx = 28;         // the hover details line
constexpr double kCharWidthPx = 7.0;  // 12px Verdana, roughly
constexpr int kTextPaddingPx = 3;
constexpr size_t kMaxXmlTextBytes = 64 * 1024;

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsNative(const v1::Frame& frame) {
  return frame.kind() == v1::Frame::NATIVE ||
         (frame.kind() != v1::Frame::PYTHON && frame.file().empty());
}

// What frames merge on: the label, but with the full file path (two app.py files differ).
std::string MergeKey(const v1::Frame& frame) {
  if (IsNative(frame)) return absl::StrCat("N", FlameLabel(frame));
  return absl::StrCat("P", frame.function(), "\t", frame.file(), "\t", frame.line());
}

uint32_t Fnv1a(std::string_view text) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

// Python frames in reds, oranges and yellows, native frames in blues: both light enough for
// black text.
std::string ColorFor(std::string_view function, bool native) {
  uint32_t h = Fnv1a(function);
  uint32_t a = h & 0xff, b = (h >> 8) & 0xff, c = (h >> 16) & 0xff;
  if (native) {
    return absl::StrFormat("rgb(%d,%d,%d)", 110 + a % 60, 165 + b % 50, 215 + c % 40);
  }
  return absl::StrFormat("rgb(%d,%d,%d)", 225 + a % 30, 90 + b % 140, 40 + c % 50);
}

// Escapes text for XML content and attribute values. Safe text first (names are target
// strings, already safe; this is the guard): valid UTF-8, and no character XML 1.0 forbids
// (controls, U+FFFE, U+FFFF), which would make the whole SVG unreadable.
std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : SafeText(text, kMaxXmlTextBytes)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// The label cut to `max_chars` characters (UTF-8 aware), ".." marking the cut; "" when not
// even three characters fit.
std::string FitLabel(std::string_view label, double width_px) {
  int max_chars = static_cast<int>((width_px - 2 * kTextPaddingPx) / kCharWidthPx);
  if (max_chars < 3) return "";
  std::vector<size_t> starts;  // byte offset of each character
  for (size_t i = 0; i < label.size(); ++i) {
    if ((static_cast<unsigned char>(label[i]) & 0xc0) != 0x80) starts.push_back(i);
  }
  if (static_cast<int>(starts.size()) <= max_chars) return std::string(label);
  return std::string(label.substr(0, starts[max_chars - 2])) + "..";
}

std::string Share(uint64_t part, uint64_t total) {
  return absl::StrFormat("%.1f%%", total == 0 ? 0.0 : 100.0 * part / total);
}

struct Node {
  std::string label;
  std::string tooltip_name;  // label with the full file path
  std::string function;
  bool native = false;
  uint64_t total_ns = 0;
  std::map<std::string, std::unique_ptr<Node>> children;  // by label, then merge key
};

void Emit(const Node& node, int depth, uint64_t start_ns, uint64_t root_ns, double plot_px,
          const FlameGraphOptions& options, std::vector<FlameBox>* boxes) {
  if (root_ns == 0 || plot_px * node.total_ns / root_ns < options.min_box_px) return;
  FlameBox& box = boxes->emplace_back();
  box.label = node.label;
  box.function = node.function;
  box.native = node.native;
  box.depth = depth;
  box.start_ns = start_ns;
  box.total_ns = node.total_ns;
  box.tooltip = absl::StrCat(node.tooltip_name, " \u2014 ", FormatDuration(node.total_ns), " (",
                             Share(node.total_ns, root_ns), ")");
  box.color = depth == 0
                  ? "rgb(200,200,200)"
                  : ColorFor(node.function.empty() ? node.label : node.function, node.native);
  uint64_t child_start = start_ns;
  for (const auto& [key, child] : node.children) {
    Emit(*child, depth + 1, child_start, root_ns, plot_px, options, boxes);
    child_start += child->total_ns;
  }
}

}  // namespace

std::string FlameLabel(const v1::Frame& frame) {
  std::string function = frame.function();
  if (function.empty()) {
    function = frame.address() != 0 ? absl::StrFormat("0x%x", frame.address()) : "[unknown]";
  }
  if (IsNative(frame)) {
    return frame.module().empty() ? function : absl::StrCat(function, " (", frame.module(), ")");
  }
  std::string file = BaseName(frame.file());
  if (file.empty()) return absl::StrCat(function, " (", frame.module(), ")");
  return frame.line() > 0 ? absl::StrCat(function, " (", file, ":", frame.line(), ")")
                          : absl::StrCat(function, " (", file, ")");
}

std::vector<FlameBox> LayoutFlameGraph(const std::vector<FlameStack>& stacks,
                                       const FlameGraphOptions& options) {
  Node root;
  root.label = "all";
  root.tooltip_name = "all";
  for (const FlameStack& stack : stacks) {
    if (stack.weight_ns == 0) continue;
    root.total_ns += stack.weight_ns;
    Node* node = &root;
    for (auto frame = stack.frames.rbegin(); frame != stack.frames.rend(); ++frame) {
      std::string label = FlameLabel(*frame);
      std::unique_ptr<Node>& child = node->children[absl::StrCat(label, "\n", MergeKey(*frame))];
      if (child == nullptr) {
        child = std::make_unique<Node>();
        child->label = label;
        child->function = frame->function();
        child->native = IsNative(*frame);
        child->tooltip_name =
            child->native || frame->file().empty()
                ? label
                : absl::StrCat(frame->function().empty() ? "[unknown]" : frame->function(), " (",
                               frame->file(), ":", frame->line(), ")");
      }
      child->total_ns += stack.weight_ns;
      node = child.get();
    }
  }
  root.tooltip_name = absl::StrCat("all stalls, ", stacks.size(), " stacks");
  std::vector<FlameBox> boxes;
  Emit(root, 0, 0, root.total_ns, options.width_px - 2.0 * kMarginPx, options, &boxes);
  return boxes;
}

std::string RenderFlameGraph(const std::vector<FlameStack>& stacks,
                             const FlameGraphOptions& options) {
  std::vector<FlameBox> boxes = LayoutFlameGraph(stacks, options);
  int max_depth = 0;
  for (const FlameBox& box : boxes) max_depth = std::max(max_depth, box.depth);
  const int width = options.width_px;
  const int fh = options.frame_height_px;
  const double plot_px = width - 2.0 * kMarginPx;
  const int height = kHeaderPx + (max_depth + 1) * fh + kFooterPx;
  const uint64_t total_ns = boxes.empty() ? 0 : boxes[0].total_ns;

  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
      "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\">\n"
      "<style>\n"
      "text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; }\n"
      "g.f { cursor: pointer; }\n"
      "g.f:hover rect { stroke: #000; stroke-width: 0.6; }\n"
      "#title { font-size: 17px; text-anchor: middle; }\n"
      "#subtitle { fill: #555; text-anchor: middle; }\n"
      "#reset { fill: #1a5fb4; cursor: pointer; display: none; }\n"
      "</style>\n"
      "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f6f6f2\"/>\n"
      "<text id=\"title\" x=\"%d\" y=\"24\">%s</text>\n",
      width, height, width, height, width, height, width / 2, XmlEscape(options.title));
  if (total_ns == 0) {
    absl::StrAppendFormat(&svg, "<text id=\"subtitle\" x=\"%d\" y=\"44\">No stalls</text>\n",
                          width / 2);
  } else {
    absl::StrAppendFormat(&svg,
                          "<text id=\"subtitle\" x=\"%d\" y=\"44\">Total: %s stalled, %d "
                          "stacks. Click a frame to zoom.</text>\n",
                          width / 2, XmlEscape(FormatDuration(total_ns)), stacks.size());
  }
  absl::StrAppendFormat(&svg, "<text id=\"reset\" x=\"%d\" y=\"24\">Reset zoom</text>\n",
                        kMarginPx);
  absl::StrAppendFormat(&svg, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", kMarginPx,
                        height - 10);
  svg += "<g id=\"frames\">\n";
  for (const FlameBox& box : boxes) {
    double x = kMarginPx + plot_px * box.start_ns / total_ns;
    double w = plot_px * box.total_ns / total_ns;
    int y = height - kFooterPx - (box.depth + 1) * fh;
    std::string label = XmlEscape(box.label);
    absl::StrAppendFormat(
        &svg,
        "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%d\" data-label=\"%s\">"
        "<title>%s</title>"
        "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" rx=\"2\" ry=\"2\"/>"
        "<text x=\"%.2f\" y=\"%d\">%s</text></g>\n",
        static_cast<double>(box.start_ns) / total_ns, static_cast<double>(box.total_ns) / total_ns,
        box.depth, label, XmlEscape(box.tooltip), x, y, w, fh - 1, box.color, x + kTextPaddingPx,
        y + fh - 5, XmlEscape(FitLabel(box.label, w)));
  }
  svg += "</g>\n";
  // Click-to-zoom: the clicked frame fills the width, its callers stay as full-width faded
  // bars, everything else is hidden. Labels are re-cut to the new widths.
  absl::StrAppendFormat(&svg, R"JS(<script type="text/ecmascript"><![CDATA[
(function () {
  var X0 = %d, W = %.2f, CHAR = %.1f, PAD = %d;
  var frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
  var reset = document.getElementById("reset");
  var details = document.getElementById("details");
  function num(g, name) { return parseFloat(g.getAttribute(name)); }
  function fit(label, w) {
    var n = Math.floor((w - 2 * PAD) / CHAR);
    var chars = Array.from(label);
    if (n < 3) return "";
    return chars.length <= n ? label : chars.slice(0, n - 2).join("") + "..";
  }
  function place(g, fx, fw, faded) {
    var r = g.querySelector("rect"), t = g.querySelector("text");
    var px = X0 + fx * W, pw = fw * W;
    g.style.display = "";
    g.style.opacity = faded ? "0.55" : "1";
    r.setAttribute("x", px.toFixed(2));
    r.setAttribute("width", pw.toFixed(2));
    t.setAttribute("x", (px + PAD).toFixed(2));
    t.textContent = fit(g.getAttribute("data-label"), pw);
  }
  function zoom(target) {
    var zx = num(target, "data-x"), zw = num(target, "data-w"), zd = num(target, "data-d");
    var eps = 1e-9;
    frames.forEach(function (g) {
      var x = num(g, "data-x"), w = num(g, "data-w"), d = num(g, "data-d");
      if (d < zd && x <= zx + eps && x + w >= zx + zw - eps) {
        place(g, 0, 1, true);
      } else if (d >= zd && x >= zx - eps && x + w <= zx + zw + eps) {
        place(g, (x - zx) / zw, w / zw, false);
      } else {
        g.style.display = "none";
      }
    });
    reset.style.display = zd > 0 ? "inline" : "none";
  }
  frames.forEach(function (g) {
    g.addEventListener("click", function () { zoom(g); });
    g.addEventListener("mouseover", function () {
      details.textContent = g.querySelector("title").textContent;
    });
    g.addEventListener("mouseout", function () { details.textContent = " "; });
  });
  reset.addEventListener("click", function () { if (frames.length) zoom(frames[0]); });
})();
]]></script>
</svg>
)JS",
                        kMarginPx, plot_px, kCharWidthPx, kTextPaddingPx);
  return svg;
}

absl::Status WriteFlameGraph(const std::string& path, const std::vector<FlameStack>& stacks,
                             const FlameGraphOptions& options) {
  // Created 0600, never through a symlink or another user's file (common/output_file.h).
  return WriteOutputFile(path, RenderFlameGraph(stacks, options));
}

}  // namespace stallscope
