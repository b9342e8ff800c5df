"""The preference center's configuration: brand, colours, texts (TOML) and the server's secrets.

`defaults.toml` ships with the package; the file named by `PREFSTREAM_WEB_CONFIG` is merged over
it. Colours must meet WCAG AA contrast (4.5:1) so that the page stays readable whatever the brand.
The secret comes from `PREFSTREAM_WEB_SECRET`; without one the service refuses to start unless
in dev mode (`PREFSTREAM_WEB_DEV=1` or `--dev`), which uses a random per-process secret.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefstream.core import ports
from prefstream.core.settings import ConfigError
from schemas.validation import CHANNELS

DEFAULTS = Path(__file__).with_name("defaults.toml")
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MIN_CONTRAST = 4.5


@dataclass(frozen=True)
class Choice:
    """One thing the customer may choose: its code, label and why it is asked."""

    code: str
    label: str
    why: str


@dataclass(frozen=True)
class Question:
    """A zero-party question; `choices` empty means a free-text answer."""

    key: str
    question: str
    why: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebConfig:
    """Everything the page shows and records as proof."""

    brand: str
    lang: str
    locale: str
    notice_version: str
    max_questions: int
    link_days: int
    confirm_days: int
    pause_days: tuple[int, ...]
    colors: dict[str, str]
    texts: dict[str, str]
    channels: tuple[Choice, ...]
    topics: tuple[Choice, ...]
    questions: tuple[Question, ...]

    def text(self, key: str, **values: Any) -> str:
        """A configured text, with `{name}` placeholders filled in."""
        return self.texts[key].format(**values) if values else self.texts[key]


@dataclass(frozen=True)
class WebSettings:
    """How the service runs: its secret, where the processor's query API is, its public address."""

    secret: bytes
    processor_url: str
    public_url: str
    dev: bool


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(colour[i:i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _check_colours(colors: dict[str, str]) -> None:
    for name, value in colors.items():
        if not isinstance(value, str) or not HEX_COLOUR.fullmatch(value):
            raise ConfigError(f"web config: colors.{name} must be #rrggbb")
    for fg, bg in (("text", "background"), ("muted", "background"), ("primary_text", "primary"), ("primary", "background")):
        if contrast_ratio(colors[fg], colors[bg]) < MIN_CONTRAST:
            raise ConfigError(f"web config: colors.{fg} on colors.{bg} has contrast below {MIN_CONTRAST}:1 (WCAG AA)")


def parse_web_config(data: dict[str, Any]) -> WebConfig:
    """A WebConfig from merged TOML data; ConfigError names what is wrong."""
    try:
        colors = dict(data["colors"])
        _check_colours(colors)
        channels = tuple(Choice(c["code"], c["label"], c["why"]) for c in data["channels"])
        unknown = [c.code for c in channels if c.code not in CHANNELS]
        if unknown:
            raise ConfigError(f"web config: unknown channel(s) {', '.join(unknown)}")
        config = WebConfig(
            brand=str(data["brand"]), lang=str(data["lang"]), locale=str(data["locale"]),
            notice_version=str(data["notice_version"]), max_questions=int(data["max_questions"]),
            link_days=int(data["link_days"]), confirm_days=int(data["confirm_days"]),
            pause_days=tuple(int(days) for days in data["pause_days"]),
            colors=colors, texts={key: str(value) for key, value in data["texts"].items()},
            channels=channels,
            topics=tuple(Choice(t["key"], t["label"], t["why"]) for t in data["topics"]),
            questions=tuple(Question(q["key"], q["question"], q["why"], tuple(q.get("choices", ()))) for q in data["questions"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"web config: missing or malformed setting {error}") from None
    missing = set(tomllib.loads(DEFAULTS.read_text())["texts"]) - set(config.texts)
    if missing:
        raise ConfigError(f"web config: missing texts {', '.join(sorted(missing))}")
    return config


def load_web_config(path: Path | None = None) -> WebConfig:
    """The shipped defaults, with `path` (or $PREFSTREAM_WEB_CONFIG) merged over them."""
    data = tomllib.loads(DEFAULTS.read_text())
    path = path or (Path(os.environ["PREFSTREAM_WEB_CONFIG"]) if os.environ.get("PREFSTREAM_WEB_CONFIG") else None)
    if path is not None:
        try:
            data = _merge(data, tomllib.loads(path.read_text()))
        except OSError as error:
            raise ConfigError(f"web config {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"web config {path} is not valid TOML: {error}") from None
    return parse_web_config(data)


def load_web_settings(dev: bool = False, port: int = ports.WEB) -> WebSettings:
    """The secret (refused when missing, unless dev), processor and public URLs, from the environment.

    The public URL (what links start with) defaults to this machine's loopback address and `port`."""
    dev = dev or os.environ.get("PREFSTREAM_WEB_DEV", "") in ("1", "true", "yes")
    secret = os.environ.get("PREFSTREAM_WEB_SECRET", "")
    if not secret:
        if not dev:
            raise ConfigError("PREFSTREAM_WEB_SECRET is not set (at least 32 random characters; or --dev for a throwaway secret)")
        secret = secrets.token_urlsafe(32)
    elif len(secret) < 32:
        raise ConfigError("PREFSTREAM_WEB_SECRET must be at least 32 characters")
    return WebSettings(
        secret=secret.encode(),
        processor_url=os.environ.get("PREFSTREAM_PROCESSOR_URL", ports.PROCESSOR_URL).rstrip("/"),
        public_url=os.environ.get("PREFSTREAM_WEB_PUBLIC_URL", ports.local_url(port)).rstrip("/"),
        dev=dev,
    )
