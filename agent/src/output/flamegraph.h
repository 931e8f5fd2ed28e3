// A flame graph of stalled time by stack, as one self-contained SVG file (inline style and a
// little JavaScript for click-to-zoom; no external references, so it opens offline).
//
// Stacks are merged on identical frame prefixes from the root (outermost frame) up; each box's
// width is proportional to the time spent in it and above it. Children are ordered by label so
// the same input always gives the same picture, and colours are derived from the function name
// (Python frames warm, native frames cool), so one function keeps its colour everywhere.
#ifndef STALLSCOPE_AGENT_OUTPUT_FLAMEGRAPH_H_
#define STALLSCOPE_AGENT_OUTPUT_FLAMEGRAPH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

struct FlameStack {
  std::vector<v1::Frame> frames;  // innermost first, as in reports
  uint64_t weight_ns = 0;         // stalled time attributed to this stack
};

struct FlameGraphOptions {
  std::string title = "Stalled time by stack";
  int width_px = 1200;
  int frame_height_px = 18;
  // Boxes narrower than this are left out (their time still counts in their parent's width).
  double min_box_px = 0.1;
};

// One box of the laid-out graph.
struct FlameBox {
  std::string label;    // "function (file:line)" or "function (module)"
  std::string tooltip;  // label, time and share of the total
  std::string function;
  bool native = false;
  int depth = 0;          // 0 = the "all" root box
  uint64_t start_ns = 0;  // offset from the left edge, in stalled time
  uint64_t total_ns = 0;  // time in this frame and everything it called
  std::string color;      // "rgb(r,g,b)"
};

// The label of a frame: "handler (app.py:42)" for Python frames (the file's base name),
// "recv (libc.so.6)" for native ones, "0x7f12... (libc.so.6)" when the symbol is unknown.
std::string FlameLabel(const v1::Frame& frame);

// Merges the stacks into boxes, parents before children, root first. Zero-weight stacks are
// ignored.
std::vector<FlameBox> LayoutFlameGraph(const std::vector<FlameStack>& stacks,
                                       const FlameGraphOptions& options = {});

// The SVG document.
std::string RenderFlameGraph(const std::vector<FlameStack>& stacks,
                             const FlameGraphOptions& options = {});

absl::Status WriteFlameGraph(const std::string& path, const std::vector<FlameStack>& stacks,
                             const FlameGraphOptions& options = {});

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_FLAMEGRAPH_H_
