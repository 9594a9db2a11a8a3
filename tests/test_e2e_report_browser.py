"""The HTML report in a real headless Chromium: every embedded plot decodes and renders."""

from __future__ import annotations

import re
import shutil

import pytest
from PIL import Image

from mixtures.report import build_report
from mixtures.tracking import Tracker
from tests.e2e_support import chromium_or_skip, dump_dom, screenshot
from tests.mlflow_runs import log_experiment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = 'widths=' + imgs.map(function (i) { return i.complete ? i.naturalWidth : -1; }).join(',') +
                    ';sections=' + document.querySelectorAll('section').length;
  document.body.appendChild(out);
});
</script>"""
BLUE = (0x4C, 0x72, 0xB0)  # the plots' first colour


def test_report_renders_in_headless_chromium(tmp_path, _migrated_mlflow_db):
    browser = chromium_or_skip()
    shutil.copy(_migrated_mlflow_db, tmp_path / "mlflow.db")
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "exp")
    log_experiment(tracker)
    report = build_report(tracker, out_path=tmp_path / "report.html")
    html = report.read_text(encoding="utf-8")
    expected = len(re.findall(r"<img ", html))
    assert expected == 6

    probed = tmp_path / "probed.html"  # the report plus a probe script (the report itself has no script)
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = dump_dom(browser, probed.as_uri())
    match = re.search(r'<pre id="probe">widths=([-\d,]*);sections=(\d+)</pre>', dom)
    assert match, f"the probe did not run; DOM tail: {dom[-500:]}"
    widths = [int(w) for w in match.group(1).split(",")]
    assert len(widths) == expected and all(w > 200 for w in widths), widths  # every PNG decoded
    assert int(match.group(2)) == 7
    assert "Validation outcome" in dom and "no online runs logged yet" in dom

    shot = screenshot(browser, report.as_uri(), tmp_path / "shot.png", size="1280,4000")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 4000)
    colors = image.getcolors(maxcolors=1 << 20)
    assert len(colors) > 50  # not a blank page
    near_blue = sum(n for n, (r, g, b) in colors if abs(r - BLUE[0]) + abs(g - BLUE[1]) + abs(b - BLUE[2]) < 30)
    assert near_blue > 2000  # the plots' bars and points were painted
