"""The flame graph SVG renders in a real browser, and its click-to-zoom works there.

The unit test FlamegraphSvg.WritesSampleFile writes a sample graph (to $FLAMEGRAPH_OUT); this
script runs it from the unit_tests binary next to $STALLSCOPE_BIN, then opens the SVG in
Debian's chromium, headless and offline:
  1. a screenshot must show every frame's fill colour (the boxes were drawn);
  2. with a script that clicks one frame on load, the DOM must show the zoom: the clicked frame
     stretched to the full width, its callers kept, unrelated frames hidden.
Installs chromium with apt-get when missing; exits 77 (skipped), saying why, only if it cannot.
The screenshots are kept and their paths printed.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = 77
WINDOW = (1200, 800)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def unit_tests_binary():
    bin_dir = Path(os.environ["STALLSCOPE_BIN"]).parent if os.environ.get("STALLSCOPE_BIN") \
        else ROOT / "build" / "bin"
    return bin_dir / "unit_tests"


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium():
    path = find_chromium()
    if path:
        return path, None
    if os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root"
    print("chromium missing: apt-get install -y -qq chromium", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=900)
        if done.returncode != 0 and argv[1] == "install":
            return None, "apt-get install chromium failed:\n" + done.stdout.decode(errors="replace")[-2000:]
    path = find_chromium()
    return (path, None) if path else (None, "chromium still not found after apt-get install")


def run_chromium(chromium, workdir, args, timeout=120):
    profile = tempfile.mkdtemp(prefix="profile-", dir=workdir)  # fresh: no state, no first run
    argv = [chromium] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def decode_png(data):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace != 0:
        raise ValueError("unsupported PNG: depth %d colour %d interlace %d" % (depth, color, interlace))
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xff
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xff
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def colors_in(png_path):
    width, height, bpp, rows = decode_png(Path(png_path).read_bytes())
    seen = set()
    for row in rows:
        for x in range(0, width * bpp, bpp):
            seen.add((row[x], row[x + 1], row[x + 2]))
    return width, height, seen


def frame_fills(svg):
    return {tuple(int(v) for v in m) for m in re.findall(r'fill="rgb\((\d+),(\d+),(\d+)\)"', svg)}


def main():
    binary = unit_tests_binary()
    if not binary.exists():
        print("FAIL: %s not found (build the unit_tests target)" % binary)
        return 1
    chromium, why = ensure_chromium()
    if chromium is None:
        print("SKIP: " + why)
        return SKIP

    workdir = tempfile.mkdtemp(prefix="stallscope-flamegraph-")
    svg_path = Path(workdir) / "flamegraph.svg"
    done = subprocess.run([str(binary), "--gtest_filter=FlamegraphSvg.WritesSampleFile"],
                          env=dict(os.environ, FLAMEGRAPH_OUT=str(svg_path)),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if done.returncode != 0 or not svg_path.exists():
        print("FAIL: the unit test did not write %s:\n%s" % (svg_path, done.stdout.decode(errors="replace")))
        return 1
    svg = svg_path.read_text()
    failures = []

    # 1. Drawn: every box colour is on the screenshot.
    png_path = Path(workdir) / "flamegraph.png"
    shot = run_chromium(chromium, workdir, ["--screenshot=" + str(png_path),
                                            "--window-size=%d,%d" % WINDOW, svg_path.as_uri()])
    if not png_path.exists():
        print("FAIL: chromium wrote no screenshot (rc %d):\n%s" % (shot.returncode, shot.stderr.decode(errors="replace")[-3000:]))
        return 1
    width, height, colors = colors_in(png_path)
    fills = frame_fills(svg)
    missing = fills - colors
    print("screenshot: %s (%dx%d, %d distinct colours; %d frame colours, %d missing)" %
          (png_path, width, height, len(colors), len(fills), len(missing)))
    if (width, height) != WINDOW:
        failures.append("screenshot is %dx%d, not %dx%d" % (width, height, WINDOW[0], WINDOW[1]))
    if len(fills) < 5:
        failures.append("the SVG has only %d frame colours" % len(fills))
    if missing:
        failures.append("frame colours not drawn: %s" % sorted(missing))

    # 2. Zoom: click "fetch (db.py:12)" once the document has loaded, then read the DOM.
    click = ('<script type="text/ecmascript"><![CDATA[\n'
             'Array.prototype.slice.call(document.querySelectorAll("g.f")).forEach(function (g) {\n'
             '  if (g.getAttribute("data-label") === "fetch (db.py:12)") {\n'
             '    g.dispatchEvent(new MouseEvent("click", {bubbles: true}));\n'
             '  }\n'
             '});\n]]></script>\n</svg>')
    zoomed_path = Path(workdir) / "flamegraph-zoomed.svg"
    zoomed_path.write_text(svg.replace("</svg>", click))
    dom = run_chromium(chromium, workdir, ["--dump-dom", zoomed_path.as_uri()]).stdout.decode(errors="replace")
    frames = {}
    for g in re.findall(r'<g class="f"[^>]*>.*?</g>', dom, re.S):
        label = re.search(r'data-label="([^"]*)"', g).group(1)
        rect_width = float(re.search(r'<rect[^>]*width="([0-9.]+)"', g).group(1))
        hidden = "display: none" in (re.search(r'<g class="f"[^>]*>', g).group(0))
        frames[label] = (rect_width, hidden)
    plot = WINDOW[0] - 20
    expect = {
        "fetch (db.py:12)": lambda w, h: not h and abs(w - plot) < 0.5,          # fills the width
        "Handler.get (handlers.py:42)": lambda w, h: not h and abs(w - plot) < 0.5,  # caller kept
        "recv (libc.so.6)": lambda w, h: not h and abs(w - plot * 300 / 400) < 0.5,  # 300 of 400 ms
        "render (templates.py:7)": lambda w, h: h,                                # unrelated: hidden
    }
    for label, ok in expect.items():
        if label not in frames:
            failures.append("zoomed DOM has no frame %r (frames: %s)" % (label, sorted(frames)))
        elif not ok(*frames[label]):
            failures.append("after zoom, %r is (width %.2f, hidden %s)" % ((label,) + frames[label]))
    zoom_png = Path(workdir) / "flamegraph-zoomed.png"
    run_chromium(chromium, workdir, ["--screenshot=" + str(zoom_png),
                                     "--window-size=%d,%d" % WINDOW, zoomed_path.as_uri()])
    print("zoomed screenshot: %s" % zoom_png)

    if failures:
        for f in failures:
            print("FAIL: " + f)
        return 1
    print("OK: flame graph drawn (%d frame colours) and click-to-zoom works in %s" % (len(fills), chromium))
    return 0


if __name__ == "__main__":
    sys.exit(main())
