"""An impaired veth link as a value: netem arguments on one side's egress or both, and the
first RSTs a side sends dropped; and what the user-space link can play of netem."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.call_spec import type_problem
from harness.core.errors import UserError, closest, quoted
from harness.core.packet_token import parse_packet_token
from harness.core.pattern_error import PatternError
from harness.core.vocabulary import LINK_PATHS, LINK_SIDES, SIDES


class LinkError(UserError, ValueError):
    """Link settings that cannot be played; the message says which and what to write."""


#: The setting that chooses how netem arguments are played (read by `link_path` only):
#: `auto` (the default) the kernel's netem where the kernel has it, the user-space link
#: otherwise; `kernel` the kernel's netem or an error; `user` the user-space link always.
#: A link that drops chosen packets is played by the user-space link whatever it says.
LINK_ENV = "HARNESS_LINK"
#: Seconds the user-space link may take to start forwarding (default 10; a TCG guest is
#: slower: `harness kernels` gives its guests more).
LINK_START_ENV = "HARNESS_LINK_START"
LINK_START = 10.0


def link_path(environ: Mapping[str, str] = os.environ) -> str:
    """auto, kernel or user, from HARNESS_LINK (empty or unset: auto)."""
    value = environ.get(LINK_ENV, "").strip().lower() or "auto"
    if value not in LINK_PATHS:
        raise LinkError(f"{LINK_ENV}={environ[LINK_ENV]!r}: write one of "
                        f"{', '.join(LINK_PATHS)}")
    return value


def link_start(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds the user-space link may take to start, from HARNESS_LINK_START."""
    text = environ.get(LINK_START_ENV, "").strip()
    if not text:
        return LINK_START
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise LinkError(f"{LINK_START_ENV}={text!r}: write a number of seconds above 0 "
                        "(at most 3600)")
    return seconds


@dataclass(frozen=True)
class Drop:
    """The first `count` packets that fit `token` (a pattern token, fields and all: `<F.`,
    `>.[ack=2]`; the direction tells whose) dropped on the user-space link."""

    token: str
    count: int = 1


@dataclass(frozen=True)
class Link:
    """An impairment of the veth link: netem arguments on one side's egress or both, the
    first RST(s) a side sends dropped, and chosen packets dropped."""

    netem: str = ""
    side: str = "both"
    drop_rst_from: str | None = None
    drop_rst_count: int = 1
    drop: tuple[Drop, ...] = ()

    @property
    def in_user_space(self) -> bool:
        """Whether only the user-space link can play it (it drops chosen packets)."""
        return self.drop_rst_from is not None or bool(self.drop)

    def sides(self) -> tuple[str, ...]:
        """The sides whose egress gets the qdisc."""
        return SIDES if self.side == "both" else (self.side,)

    def emulated(self) -> tuple[float, float]:
        """(loss share, delay in seconds) from the netem arguments the user-space link can
        play: `delay TIME` and `loss PERCENT%`; LinkError for anything else."""
        import shlex  # only a link with netem arguments needs it

        try:
            words = shlex.split(self.netem)
        except ValueError as exc:
            raise LinkError(f"netem {self.netem!r}: {exc}") from None
        loss, delay = 0.0, 0.0
        while words:
            word = words.pop(0)
            if word in ("delay", "loss") and words:
                value = words.pop(0)
                if word == "delay":
                    delay = _seconds(value)
                else:
                    loss = _percent(value)
                continue
            raise LinkError(f"netem {self.netem!r}: the user-space link plays only "
                            f"`delay TIME` and `loss PERCENT%`, not {word!r}; other "
                            "options need a kernel with netem")
        return loss, delay

    def describe(self) -> str:
        """The impairment in words: `delay 150ms on both side(s), the first 1 RST(s) from the
        server dropped`."""
        parts = [f"{self.netem} on {self.side} side(s)"] if self.netem else []
        if self.drop_rst_from:
            parts.append(f"the first {self.drop_rst_count} RST(s) from the "
                         f"{self.drop_rst_from} dropped")
        parts.extend(f"the first {d.count} {d.token} dropped" for d in self.drop)
        return ", ".join(parts)


#: What a `link` table takes, and each key's types.
LINK_KEYS: Mapping[str, tuple[type, ...]] = {
    "netem": (str,), "side": (str,), "drop_rst_from": (str,), "drop_rst_count": (int,),
    "drop": (list,)}
_DROP_KEYS = ("token", "count")
_EXAMPLE = '{ netem = "delay 150ms" } or { drop = [{ token = "<F.", count = 1 }] }'


def parse_link(raw: Any) -> Link | None:
    """A link from a scenario's (or a test marker's) `link` table, None for none; LinkError
    names the first key or value that is wrong."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise LinkError(f"link must be a table such as {_EXAMPLE}")
    for key, value in raw.items():
        if key not in LINK_KEYS:
            near = closest(str(key), list(LINK_KEYS))
            hint = f"; did you mean {near[0]}?" if near else ""
            raise LinkError(f"link: unknown key {quoted(key)}{hint} (known: "
                            f"{', '.join(LINK_KEYS)})")
        problem = type_problem(f"link.{key}", value, LINK_KEYS[key])
        if problem:
            raise LinkError(problem)
    if raw.get("side", "both") not in LINK_SIDES:
        raise LinkError("link.side must be both, client or server")
    if raw.get("drop_rst_from", "client") not in SIDES:
        raise LinkError("link.drop_rst_from must be client or server")
    if not 1 <= raw.get("drop_rst_count", 1) <= 1000:
        raise LinkError("link.drop_rst_count must be at least 1 (and at most 1000)")
    drops = tuple(_drop(i, rule) for i, rule in enumerate(raw.get("drop", []), 1))
    return Link(**{**raw, "drop": drops})


def _drop(number: int, rule: Any) -> Drop:
    where = f"link.drop[{number}]"
    if not isinstance(rule, Mapping) or "token" not in rule or set(rule) - set(_DROP_KEYS):
        raise LinkError(f"{where} must be a table such as {{ token = \"<F.\", count = 1 }} "
                        "(token, and count: how many of them, 1 by default)")
    token, count = rule["token"], rule.get("count", 1)
    if not isinstance(token, str):
        raise LinkError(f"{where}.token must be a pattern token such as \"<F.\", not "
                        f"{quoted(token)}")
    try:
        parse_packet_token(token)
    except PatternError as exc:
        raise LinkError(f"{where}.token {token!r}: {exc.message} (at column "
                        f"{exc.position + 1})") from None
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise LinkError(f"{where}.count must be a whole number from 1 to 1000, not "
                        f"{quoted(count)}")
    return Drop(token, count)


def _seconds(text: str) -> float:
    for unit, scale in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0)):
        if text.endswith(unit):
            try:
                value = float(text[: -len(unit)]) * scale
            except ValueError:
                break
            if 0 <= value <= 3600:
                return value
            break
    raise LinkError(f"netem delay {text!r}: write a time such as 20ms, 500us or 1s")


def _percent(text: str) -> float:
    try:
        share = float(text.removesuffix("%")) / 100
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise LinkError(f"netem loss {text!r}: write a percentage such as 1%")
    return share
