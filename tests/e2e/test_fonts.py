"""Korean and Japanese level names render in the browser (and so in the console's screenshots)
as letters, not as the empty boxes a browser draws for a character no installed font has:
each character of the seed's level names is drawn on a canvas and compared with the drawing
of characters no font has. Debian's ``fonts-noto-cjk`` provides them (``.ci/system-packages``
installs it); without it this test skips, or fails under ``LIAISON_TEST_REQUIRE_SERVERS=1``.
A screenshot of the names goes to ``test-artifacts/console/level-names.png``."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from tests.capabilities import missing
from tests.e2e.test_console import ARTIFACTS
from tests.integration.node_fixtures import SEED

pytestmark = pytest.mark.chromium
# the talks desk's delegates are cleared at PRK's and KOR's lowest levels
MORE_LEVELS = ["평문", "일반", "대외비"]
# a private-use character, an unassigned one and one past the planes fonts cover: each is
# drawn as the box that stands for a missing glyph
BOXES = "\ue000\u0378\U0010fffd"
DRAW = """(chars) => {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const g = canvas.getContext('2d');
  const draw = c => { g.clearRect(0, 0, 64, 64); g.font = '48px sans-serif';
                      g.fillText(c, 4, 52); return canvas.toDataURL(); };
  return chars.map(draw);
}"""


def level_names() -> list[str]:
    names = re.findall(r"[^\s\[\],{}:]+", " ".join(
        line.split("levels:", 1)[1] for line in SEED.read_text(encoding="utf-8").splitlines()
        if "levels:" in line))
    return sorted({n for n in names if not n.isascii()} | set(MORE_LEVELS))


def test_korean_and_japanese_level_names_render_as_letters(browser: Any) -> None:
    names = level_names()
    chars = sorted({c for name in names for c in name if not c.isascii()})
    assert len(chars) > 10 and "極" in chars and "군" in chars, names
    page = browser.new_page()
    try:
        drawn = page.evaluate(DRAW, [*BOXES, *chars])
        boxes, letters = set(drawn[:len(BOXES)]), dict(zip(chars, drawn[len(BOXES):],
                                                           strict=True))
        assert len(boxes) == 1, "missing glyphs should all look the same here"
        page.set_content("<body style='font: 32px sans-serif'>"
                         + "<br>".join(html.escape(n) for n in names) + "</body>")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "level-names.png"), full_page=True)
    finally:
        page.close()
    unrendered = "".join(c for c, image in letters.items() if image in boxes)
    if unrendered:
        missing(f"no font draws {unrendered} (level names would show as empty boxes): "
                "install Debian's 'fonts-noto-cjk' (.ci/system-packages does, as root)")
    print(f"fonts: the {len(names)} Korean and Japanese level names ({len(chars)} "
          f"characters) render as letters")
