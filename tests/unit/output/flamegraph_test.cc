#include "output/flamegraph.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace stallscope {
namespace {

constexpr uint64_t kMs = 1'000'000;

v1::Frame Py(const std::string& function, const std::string& file, uint32_t line) {
  v1::Frame frame;
  frame.set_function(function);
  frame.set_file(file);
  frame.set_line(line);
  frame.set_kind(v1::Frame::PYTHON);
  return frame;
}

v1::Frame Native(const std::string& function, const std::string& module, uint64_t address = 0) {
  v1::Frame frame;
  frame.set_function(function);
  frame.set_module(module);
  frame.set_address(address);
  frame.set_kind(v1::Frame::NATIVE);
  return frame;
}

// Innermost first, as in reports.
FlameStack Stack(std::vector<v1::Frame> frames, uint64_t weight_ns) {
  return {.frames = std::move(frames), .weight_ns = weight_ns};
}

const FlameBox* Find(const std::vector<FlameBox>& boxes, const std::string& label) {
  for (const FlameBox& box : boxes) {
    if (box.label == label) return &box;
  }
  return nullptr;
}

// Well-formed XML, checked by a real parser (Python's expat), not by us.
bool WellFormed(const std::string& svg, std::string* error) {
  char path[] = "/tmp/stallscope-flamegraph-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return false;
  close(fd);
  std::ofstream(path) << svg;
  std::string command = std::string(
                            "/usr/bin/python3 -c 'import sys, xml.dom.minidom; "
                            "xml.dom.minidom.parse(sys.argv[1])' ") +
                        path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  char buf[512];
  while (pipe != nullptr && fgets(buf, sizeof(buf), pipe) != nullptr) *error += buf;
  int rc = pipe == nullptr ? -1 : pclose(pipe);
  unlink(path);
  return rc == 0;
}

std::vector<FlameStack> SampleStacks() {
  v1::Frame module = Py("<module>", "/srv/app/server.py", 90);
  v1::Frame run =
      Py("BaseEventLoop.run_forever", "/usr/lib/python3.11/asyncio/base_events.py", 607);
  v1::Frame handle = Py("Handle._run", "/usr/lib/python3.11/asyncio/events.py", 80);
  return {
      Stack({Native("recv", "libc.so.6", 0x7f0000001234), Py("fetch", "/srv/app/db.py", 12),
             Py("Handler.get", "/srv/app/handlers.py", 42), handle, run, module},
            300 * kMs),
      Stack({Native("", "libssl.so.3", 0x7f00000a0000), Py("fetch", "/srv/app/db.py", 12),
             Py("Handler.get", "/srv/app/handlers.py", 42), handle, run, module},
            100 * kMs),
      Stack({Py("render", "/srv/app/templates.py", 7),
             Py("Handler.get", "/srv/app/handlers.py", 44), handle, run, module},
            80 * kMs),
      Stack({Py("json_dumps", "/srv/app/api.py", 3), Py("<lambda>", "/srv/app/a&b.py", 1), handle,
             run, module},
            20 * kMs),
  };
}

TEST(FlamegraphLayout, MergesIdenticalPrefixesFromTheRoot) {
  std::vector<FlameBox> boxes = LayoutFlameGraph({
      Stack({Py("c", "/app/m.py", 3), Py("b", "/app/m.py", 2), Py("a", "/app/m.py", 1)}, 30 * kMs),
      Stack({Py("d", "/app/m.py", 4), Py("b", "/app/m.py", 2), Py("a", "/app/m.py", 1)}, 10 * kMs),
      Stack({Py("a", "/app/m.py", 1)}, 5 * kMs),
      Stack({Py("x", "/app/m.py", 9)}, 5 * kMs),
      Stack({Py("ignored", "/app/m.py", 9)}, 0),
  });
  ASSERT_EQ(boxes.size(), 6u);  // all, a, b, c, d, x
  EXPECT_EQ(boxes[0].label, "all");
  EXPECT_EQ(boxes[0].total_ns, 50 * kMs);
  const FlameBox* a = Find(boxes, "a (m.py:1)");
  const FlameBox* b = Find(boxes, "b (m.py:2)");
  const FlameBox* c = Find(boxes, "c (m.py:3)");
  const FlameBox* d = Find(boxes, "d (m.py:4)");
  const FlameBox* x = Find(boxes, "x (m.py:9)");
  ASSERT_TRUE(a && b && c && d && x);
  EXPECT_EQ(a->total_ns, 45 * kMs);
  EXPECT_EQ(a->depth, 1);
  EXPECT_EQ(b->total_ns, 40 * kMs);
  EXPECT_EQ(b->depth, 2);
  EXPECT_EQ(c->total_ns, 30 * kMs);
  EXPECT_EQ(d->total_ns, 10 * kMs);
  EXPECT_EQ(c->depth, 3);
  // Siblings side by side, ordered by label.
  EXPECT_EQ(a->start_ns, 0u);
  EXPECT_EQ(x->start_ns, 45 * kMs);
  EXPECT_EQ(c->start_ns, 0u);
  EXPECT_EQ(d->start_ns, 30 * kMs);
  EXPECT_EQ(Find(boxes, "ignored (m.py:9)"), nullptr);
}

TEST(FlamegraphLayout, SameFunctionOnAnotherLineOrFileIsAnotherFrame) {
  std::vector<FlameBox> boxes = LayoutFlameGraph({
      Stack({Py("get", "/app/one/h.py", 1)}, kMs),
      Stack({Py("get", "/app/two/h.py", 1)}, kMs),
      Stack({Py("get", "/app/one/h.py", 2)}, kMs),
  });
  EXPECT_EQ(boxes.size(), 4u);
}

TEST(FlamegraphLayout, LabelsPythonAndNativeFrames) {
  EXPECT_EQ(FlameLabel(Py("Handler.get", "/srv/app/handlers.py", 42)),
            "Handler.get (handlers.py:42)");
  EXPECT_EQ(FlameLabel(Native("recv", "libc.so.6")), "recv (libc.so.6)");
  EXPECT_EQ(FlameLabel(Native("", "libssl.so.3", 0x7f00000a0000)), "0x7f00000a0000 (libssl.so.3)");
  v1::Frame unknown;
  EXPECT_EQ(FlameLabel(unknown), "[unknown]");
}

TEST(FlamegraphLayout, ColorsAreDeterministicPerFunction) {
  std::vector<FlameBox> boxes = LayoutFlameGraph(SampleStacks());
  std::string fetch_color, recv_color;
  for (const FlameBox& box : boxes) {
    if (box.function == "Handler.get") {
      // Two boxes (lines 42 and 44), one colour.
      if (fetch_color.empty()) fetch_color = box.color;
      EXPECT_EQ(box.color, fetch_color);
    }
    if (box.function == "recv") recv_color = box.color;
  }
  EXPECT_FALSE(fetch_color.empty());
  EXPECT_EQ(LayoutFlameGraph(SampleStacks())[3].color, boxes[3].color);  // same across runs
  // Python warm (red high), native cool (blue high).
  int r, g, b;
  ASSERT_EQ(sscanf(fetch_color.c_str(), "rgb(%d,%d,%d)", &r, &g, &b), 3);
  EXPECT_GE(r, 225);
  EXPECT_LT(b, 100);
  ASSERT_EQ(sscanf(recv_color.c_str(), "rgb(%d,%d,%d)", &r, &g, &b), 3);
  EXPECT_GE(b, 215);
  EXPECT_LT(r, 180);
}

TEST(FlamegraphLayout, LeavesOutBoxesTooNarrowToSee) {
  std::vector<FlameBox> boxes = LayoutFlameGraph({
      Stack({Py("big", "/a.py", 1)}, 1'000'000'000),
      Stack({Py("tiny_leaf", "/a.py", 2), Py("big", "/a.py", 1)}, 10),
  });
  EXPECT_NE(Find(boxes, "big (a.py:1)"), nullptr);
  EXPECT_EQ(Find(boxes, "tiny_leaf (a.py:2)"), nullptr);
  EXPECT_EQ(Find(boxes, "big (a.py:1)")->total_ns, 1'000'000'010u);  // still counted
}

struct SvgBox {
  double x = 0, width = 0;
  std::string text, title, label;
};

std::vector<SvgBox> SvgBoxes(const std::string& svg) {
  static const std::regex kBox(
      "<g class=\"f\"[^>]*data-label=\"([^\"]*)\"><title>([^<]*)</title><rect x=\"([0-9.]+)\" "
      "y=\"[0-9]+\" width=\"([0-9.]+)\"[^>]*/><text[^>]*>([^<]*)</text></g>");
  std::vector<SvgBox> boxes;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), kBox); it != std::sregex_iterator();
       ++it) {
    boxes.push_back({.x = std::stod((*it)[3]),
                     .width = std::stod((*it)[4]),
                     .text = (*it)[5],
                     .title = (*it)[2],
                     .label = (*it)[1]});
  }
  return boxes;
}

TEST(FlamegraphSvg, WidthsAreProportionalToTime) {
  FlameGraphOptions options;
  options.width_px = 1020;  // 1000 px of plot between 10 px margins
  std::string svg = RenderFlameGraph({Stack({Py("c", "/m.py", 3), Py("a", "/m.py", 1)}, 75 * kMs),
                                      Stack({Py("b", "/m.py", 2), Py("a", "/m.py", 1)}, 25 * kMs)},
                                     options);
  std::vector<SvgBox> boxes = SvgBoxes(svg);
  ASSERT_EQ(boxes.size(), 4u) << svg;
  EXPECT_DOUBLE_EQ(boxes[0].width, 1000);  // all
  EXPECT_DOUBLE_EQ(boxes[1].width, 1000);  // a
  EXPECT_DOUBLE_EQ(boxes[2].width, 250);   // b, first by label
  EXPECT_DOUBLE_EQ(boxes[2].x, 10);
  EXPECT_DOUBLE_EQ(boxes[3].width, 750);  // c, after b
  EXPECT_DOUBLE_EQ(boxes[3].x, 260);
  EXPECT_NE(boxes[3].title.find("75.0%"), std::string::npos) << boxes[3].title;
  EXPECT_NE(boxes[3].title.find("75.0 ms"), std::string::npos) << boxes[3].title;
  EXPECT_NE(boxes[3].title.find("/m.py:3"), std::string::npos) << boxes[3].title;
  EXPECT_NE(svg.find("Total: 100.0 ms stalled"), std::string::npos);
}

TEST(FlamegraphSvg, ClipsLabelsToTheirBoxes) {
  std::string long_name(80, 'n');
  std::string svg = RenderFlameGraph({
      Stack({Py(long_name, "/m.py", 1)}, 10 * kMs),
      Stack({Py("wide_enough_for_everything", "/m.py", 2)}, 990 * kMs),
  });
  bool saw_long = false, saw_wide = false;
  for (const SvgBox& box : SvgBoxes(svg)) {
    EXPECT_LE(box.text.size() * 7.0, box.width) << box.label;
    if (box.label.starts_with(long_name)) {
      saw_long = true;
      EXPECT_TRUE(box.text.empty() || box.text.ends_with("..")) << box.text;
    }
    if (box.label.starts_with("wide_enough")) {
      saw_wide = true;
      EXPECT_EQ(box.text, box.label);
    }
  }
  EXPECT_TRUE(saw_long && saw_wide);
}

TEST(FlamegraphSvg, EscapesXmlSpecialCharacters) {
  FlameGraphOptions options;
  options.title = "Stalls of <app> & \"friends\"";
  std::string svg = RenderFlameGraph(
      {Stack({Py("<lambda>", "/srv/it's&\"x\".py", 1), Py("<module>", "/srv/a<b>.py", 2)}, kMs),
       Stack({Native("operator<<", "lib\x01weird.so")}, kMs)},
      options);
  EXPECT_NE(svg.find("&lt;lambda&gt; (it&apos;s&amp;&quot;x&quot;.py:1)"), std::string::npos);
  EXPECT_NE(svg.find("Stalls of &lt;app&gt; &amp; &quot;friends&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("<lambda>"), std::string::npos);
  EXPECT_EQ(svg.find('\x01'), std::string::npos);
  std::string error;
  EXPECT_TRUE(WellFormed(svg, &error)) << error;
}

// A target names its functions (U+FFFE, an OSC sequence, bytes that are not UTF-8, markup):
// the SVG stays well-formed XML, checked by a real parser.
TEST(FlamegraphSvg, HostileFunctionNamesKeepTheSvgWellFormed) {
  std::string svg = RenderFlameGraph(
      {Stack({Py("\xef\xbf\xbe", "/srv/\xef\xbf\xbf.py", 1), Py("<module>", "/srv/a.py", 2)}, kMs),
       Stack({Py("\x1b]0;pwned\x07</text><script>x</script>", "/srv/b.py", 3)}, kMs),
       Stack({Native("\xff\xfe\xc0\xaf\xed\xa0\x80", "lib\x0b.so")}, kMs)},
      FlameGraphOptions{});
  EXPECT_EQ(svg.find("\xef\xbf\xbe"), std::string::npos);
  EXPECT_EQ(svg.find('\x1b'), std::string::npos);
  EXPECT_EQ(svg.find('\x07'), std::string::npos);
  EXPECT_EQ(svg.find("<script>x"), std::string::npos);
  EXPECT_NE(svg.find("\\ufffe"), std::string::npos);
  EXPECT_NE(svg.find("\\x1b]0;pwned\\x07&lt;/text&gt;"), std::string::npos);
  std::string error;
  EXPECT_TRUE(WellFormed(svg, &error)) << error;
}

TEST(FlamegraphSvg, EmptyInputIsAValidGraph) {
  std::string svg = RenderFlameGraph({});
  EXPECT_NE(svg.find("No stalls"), std::string::npos);
  EXPECT_TRUE(SvgBoxes(svg).empty());
  std::string error;
  EXPECT_TRUE(WellFormed(svg, &error)) << error;
}

// Also the input of tests/integration/test_flamegraph_render.py, which opens the file in a
// real browser: FLAMEGRAPH_OUT, or /tmp/stallscope-flamegraph-test.svg.
TEST(FlamegraphSvg, WritesSampleFile) {
  const char* env = getenv("FLAMEGRAPH_OUT");
  std::string path = env != nullptr && *env != '\0' ? env : "/tmp/stallscope-flamegraph-test.svg";
  FlameGraphOptions options;
  options.title = "Stalled time by stack (sample)";
  ASSERT_TRUE(WriteFlameGraph(path, SampleStacks(), options).ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string svg = text.str();
  EXPECT_TRUE(svg.starts_with("<?xml"));
  EXPECT_EQ(SvgBoxes(svg).size(), LayoutFlameGraph(SampleStacks(), options).size());
  std::string error;
  EXPECT_TRUE(WellFormed(svg, &error)) << error;
  printf("[ wrote    ] %s\n", path.c_str());

  EXPECT_FALSE(WriteFlameGraph("/nonexistent-dir/x.svg", SampleStacks()).ok());
}

}  // namespace
}  // namespace stallscope
