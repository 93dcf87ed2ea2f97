"""The parties every node knows by default, with their national schemes
(docs/rules.md#parties).

More parties come from configuration (``liaison import``). Ranks order levels inside one
scheme only; levels of different parties are compared solely through an agreement's
equivalence table.
"""

from __future__ import annotations

from liaison.domain.labels import Level, Party, Scheme


def _scheme(party: str, *levels: tuple[str, str]) -> Scheme:
    return scheme_from_names(party, list(levels), _UNCLASSIFIED[party])


_UNCLASSIFIED = {
    "KOR": "평문",
    "USA": "UNCLASSIFIED",
    "JPN": "指定なし",
    "CHN": "非密",
    "PRK": "일반",
}


def default_parties() -> dict[str, Party]:
    """KOR, USA, JPN, CHN, PRK. KOR 군사I급비밀 > 군사II급비밀 > 군사III급비밀 > 대외비;
    JPN 特定秘密 / 極秘 > 秘; USA TOP SECRET > SECRET > CONFIDENTIAL (docs/rules.md#parties).
    A fresh dict each call (callers extend it) of the same frozen parties, built once:
    the receiver asks for them several times per received message."""
    if not _DEFAULTS:
        _DEFAULTS.update(_build_defaults())
    return dict(_DEFAULTS)


_DEFAULTS: dict[str, Party] = {}


def _build_defaults() -> dict[str, Party]:
    schemes = [
        Party("KOR", "Republic of Korea", _scheme(
            "KOR", ("군사I급비밀", "I"), ("군사II급비밀", "II"), ("군사III급비밀", "III"),
            ("대외비", "대외비")), "군사II급비밀"),
        Party("USA", "United States of America", _scheme(
            "USA", ("TOP SECRET", "TS"), ("SECRET", "S"), ("CONFIDENTIAL", "C")), "SECRET"),
        Party("JPN", "Japan", _scheme(
            "JPN", ("特定秘密", "特秘"), ("極秘", "極"), ("秘", "秘")), "極秘"),
        Party("CHN", "People's Republic of China", _scheme(
            "CHN", ("绝密", "绝"), ("机密", "机"), ("秘密", "秘")), "机密"),
        Party("PRK", "Democratic People's Republic of Korea", _scheme(
            "PRK", ("1급비밀", "1"), ("2급비밀", "2"), ("3급비밀", "3")), "2급비밀"),
    ]
    return {p.code: p for p in schemes}


def scheme_from_names(party: str, levels: list[tuple[str, str]], unclassified: str) -> Scheme:
    """A scheme from ``levels`` (name, mark), highest first: the last one given is rank 1;
    rank 0 is ``unclassified``."""
    n = len(levels)
    ranked = tuple(Level(name, n - i, mark) for i, (name, mark) in enumerate(levels))
    return Scheme(party, (*ranked, Level(unclassified, 0, "U")))
