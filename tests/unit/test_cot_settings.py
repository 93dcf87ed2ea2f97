"""The CoT port's TLS and sensor settings: read from the environment, checked together,
and a bad value fails with what to set (issue 21, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from liaison.config import Settings
from liaison.tracks.cot_server import CotTlsError, cot_tls_context

TLS = {"LIAISON_COT_PORT": "8087", "LIAISON_COT_TLS_CERT": "port.pem",
       "LIAISON_COT_TLS_KEY": "port.key", "LIAISON_COT_SENSOR_CA": "ca.pem"}


def test_sensors_and_tls_are_read_from_the_environment() -> None:
    settings = Settings.from_env({**TLS, "LIAISON_COT_SENSORS": "radar-1=sbirs, ir-2=infrared"})
    assert settings.cot_tls == (Path("port.pem"), Path("port.key"), Path("ca.pem"))
    assert settings.cot_sensor_feeds == {"radar-1": "sbirs", "ir-2": "infrared"}


def test_without_the_settings_the_port_is_plain_tcp_with_one_feed() -> None:
    settings = Settings.from_env({"LIAISON_COT_PORT": "8087", "LIAISON_COT_FEED": "sbirs"})
    assert settings.cot_tls is None and settings.cot_sensor_feeds is None


@pytest.mark.parametrize(("env", "message"), [
    ({**TLS, "LIAISON_COT_TLS_KEY": ""}, "LIAISON_COT_TLS_KEY not set"),
    ({"LIAISON_COT_PORT": "8087", "LIAISON_COT_SENSORS": "radar-1=sbirs"},
     "a sensor is known by its client certificate"),
    ({**TLS, "LIAISON_COT_SENSORS": "radar-1=sbirs", "LIAISON_COT_FEED": "sbirs"},
     "not both"),
    ({**TLS, "LIAISON_COT_SENSORS": "radar-1"}, "'radar-1' is not IDENTITY=FEED"),
    ({**TLS, "LIAISON_COT_SENSORS": "=sbirs"}, "is not IDENTITY=FEED"),
    ({**TLS, "LIAISON_COT_SENSORS": "a=x,a=y"}, "'a' is given a feed twice"),
    ({**TLS, "LIAISON_COT_SENSORS": " , "}, "names no sensor"),
    ({**TLS, "LIAISON_COT_PORT": "0"}, "need LIAISON_COT_PORT"),
])
def test_a_bad_combination_fails_with_what_to_set(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_files_that_make_no_tls_context_fail_with_the_settings_to_fix(
        tmp_path: Path) -> None:
    (tmp_path / "port.pem").write_text("not a certificate")
    with pytest.raises(CotTlsError, match=r"LIAISON_COT_TLS_CERT=.*port\.pem"):
        cot_tls_context(tmp_path / "port.pem", tmp_path / "port.key", tmp_path / "ca.pem")
