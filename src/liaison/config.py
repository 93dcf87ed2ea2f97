"""The node's settings: one typed object, read once (``Settings.from_env``), passed
explicitly. Nothing reads the environment anywhere else."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("var/node"))
    database_url: str = ""  # empty: SQLite file in data_dir
    bus_url: str = ""  # nats://host:4222 (JetStream) for several workers; empty: in-process
    workers: int = 1  # `liaison serve` processes sharing the ports (needs bus_url if > 1)
    host: str = "127.0.0.1"
    port: int = 8470
    session_hours: int = 8
    # whether notice on the 90th day is in time is a setting (docs/rules.md#notice-cut-off)
    notice_cutoff_inclusive: bool = True
    login_attempts_per_minute: int = 10
    api_token_days: int = 90  # an API token's life when its maker names none
    api_token_max_days: int = 365  # the longest an API token may be made for
    # proxies in front of the API listener (addresses or CIDRs, comma-separated): only a
    # request from one of them has its X-Forwarded-For read, and the client is the
    # right-most hop that is not a trusted proxy; empty: the socket's peer, always
    trusted_proxies: str = ""
    max_body_kb: int = 16 * 1024  # the largest request body any route takes (attachments:
    # max_attachment_mb; sign-in and unauthenticated requests: 64 KiB)
    public_url: str = ""  # how partners reach the federation listener; empty: https://host:fport
    federation_port: int = 8471  # mutual TLS 1.3 listener for partners' envelopes
    outbox_batch: int = 256  # messages per envelope (one signature and encryption each)
    # a message the partner fails to apply (an internal error there) is offered again after
    # outbox_retry_s, doubling, and settled as refused (poison) after this many attempts
    outbox_failed_attempts: int = 3
    outbox_retry_s: float = 5.0
    outbox_stuck_s: float = 300.0  # a lane with pending messages and no delivery this long
    check_call_answer_s: int = 600  # a check call unanswered this long is missed (I)
    hotline_tick_s: float = 15.0  # how often scheduled calls and missed calls are checked
    clock_offset_s: float = 0.0  # exercises and tests: run the node's clock ahead
    cot_port: int = 0  # TAK-style CoT over TCP (sensors in, TAK clients out); 0: off
    cot_feed: str = ""  # the registered feed CoT sent to cot_port belongs to; empty: refused
    cot_user: str = ""  # the account whose clearance decides what cot_port streams out
    # cot_port over TLS, a client certificate required (as TAK servers run it): the port's
    # certificate and key, and the CA that issues sensors' and TAK clients' certificates
    cot_tls_cert: str = ""
    cot_tls_key: str = ""
    cot_sensor_ca: str = ""
    # over TLS, a feed per sensor identity (certificate common name), "radar-1=sbirs,ir-2=ir"
    # (instead of cot_feed); a certificate named here by no entry sends nothing in
    cot_sensors: str = ""
    track_refresh_s: float = 2.0  # checks of the track policy's inputs (recomputed on change)
    audit_checkpoint_s: float = 3600.0  # how often partners are sent a checkpoint; 0: never
    max_attachment_mb: int = 256  # the largest file one upload may store
    # a TURN relay on this node's network for talks (empty: host candidates only), e.g.
    # "turn:10.1.2.3:3478?transport=udp", comma-separated; with its username and credential
    talks_relay: str = ""
    talks_relay_username: str = ""
    talks_relay_credential: str = ""
    # the SQLite file is encrypted (SQLCipher) with keys/db.key, or with this passphrase
    # (SQLCipher's PBKDF2-HMAC-SHA512 KDF); plaintext only when the operator says so
    db_passphrase: str = field(default="", repr=False)
    db_plaintext: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.api_token_days <= self.api_token_max_days:
            raise ValueError(f"LIAISON_API_TOKEN_DAYS ({self.api_token_days}) must be between "
                             f"1 and LIAISON_API_TOKEN_MAX_DAYS ({self.api_token_max_days})")
        if self.max_body_kb < 64:
            raise ValueError(f"LIAISON_MAX_BODY_KB ({self.max_body_kb}) must be at least 64")
        check_cot(self)

    @property
    def cot_tls(self) -> tuple[Path, Path, Path] | None:
        """The CoT port's certificate, key and sensors' CA (None: plain TCP)."""
        if not self.cot_tls_cert:
            return None
        return Path(self.cot_tls_cert), Path(self.cot_tls_key), Path(self.cot_sensor_ca)

    @property
    def cot_sensor_feeds(self) -> dict[str, str] | None:
        """The feed of each sensor identity (None: every connection's input goes to
        cot_feed)."""
        return parse_sensors(self.cot_sensors) if self.cot_sensors.strip() else None

    @property
    def address(self) -> str:
        return (self.public_url or f"https://{self.host}:{self.federation_port}").rstrip("/")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'liaison.db'}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``LIAISON_*`` variables; ``overrides`` (e.g. CLI options) win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        readers: dict[str, Callable[[str], object]] = {
            "data_dir": Path, "database_url": str, "bus_url": str, "workers": int,
            "host": str, "port": int,
            "session_hours": int, "notice_cutoff_inclusive": _flag,
            "login_attempts_per_minute": int, "public_url": str,
            "api_token_days": int, "api_token_max_days": int, "trusted_proxies": str,
            "max_body_kb": int, "outbox_batch": int,
            "outbox_failed_attempts": int, "outbox_retry_s": float, "outbox_stuck_s": float,
            "federation_port": int, "check_call_answer_s": int, "hotline_tick_s": float,
            "clock_offset_s": float, "cot_port": int, "cot_feed": str, "cot_user": str,
            "cot_tls_cert": str, "cot_tls_key": str, "cot_sensor_ca": str,
            "cot_sensors": str,
            "track_refresh_s": float, "audit_checkpoint_s": float, "max_attachment_mb": int,
            "talks_relay": str,
            "talks_relay_username": str, "talks_relay_credential": str,
            "db_passphrase": str, "db_plaintext": _flag,
        }
        for name, read in readers.items():
            raw = env.get("LIAISON_" + name.upper())
            if raw is not None:
                try:
                    values[name] = read(raw)
                except ValueError as exc:
                    raise ValueError(f"LIAISON_{name.upper()}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def parse_sensors(value: str) -> dict[str, str]:
    """``identity=feed`` entries, separated by commas or new lines."""
    sensors: dict[str, str] = {}
    for entry in value.replace("\n", ",").split(","):
        if not entry.strip():
            continue
        identity, sep, feed = (part.strip() for part in entry.rpartition("="))
        if not sep or not identity or not feed:
            raise ValueError(f"LIAISON_COT_SENSORS: {entry.strip()!r} is not IDENTITY=FEED "
                             "(a certificate's common name and a registered feed, e.g. "
                             "radar-1=sbirs,ir-2=infrared)")
        if identity in sensors:
            raise ValueError(f"LIAISON_COT_SENSORS: {identity!r} is given a feed twice")
        sensors[identity] = feed
    if not sensors:
        raise ValueError("LIAISON_COT_SENSORS names no sensor (IDENTITY=FEED, ...)")
    return sensors


def check_cot(settings: Settings) -> None:
    """The CoT settings go together: TLS needs its three files, a feed per sensor needs
    TLS, and either one feed or a feed per sensor."""
    tls = {"LIAISON_COT_TLS_CERT": settings.cot_tls_cert,
           "LIAISON_COT_TLS_KEY": settings.cot_tls_key,
           "LIAISON_COT_SENSOR_CA": settings.cot_sensor_ca}
    missing = [name for name, value in tls.items() if not value]
    if missing and len(missing) < len(tls):
        raise ValueError(f"{', '.join(missing)} not set: the CoT port's TLS needs its "
                         "certificate, its key and the CA that issues sensors' certificates "
                         "(LIAISON_COT_TLS_CERT, LIAISON_COT_TLS_KEY, LIAISON_COT_SENSOR_CA)")
    sensors = settings.cot_sensor_feeds
    if sensors is not None and missing:
        raise ValueError("LIAISON_COT_SENSORS needs LIAISON_COT_TLS_CERT, LIAISON_COT_TLS_KEY "
                         "and LIAISON_COT_SENSOR_CA: a sensor is known by its client "
                         "certificate")
    if sensors is not None and settings.cot_feed:
        raise ValueError("set LIAISON_COT_FEED (one feed for every connection) or "
                         "LIAISON_COT_SENSORS (a feed per sensor certificate), not both")
    if (sensors is not None or not missing) and not settings.cot_port:
        raise ValueError("LIAISON_COT_SENSORS and LIAISON_COT_TLS_* need LIAISON_COT_PORT "
                         "(the CoT port is off)")
