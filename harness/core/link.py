"""An impaired veth link as a value: netem arguments on one side's egress or both, and the
first RSTs a side sends dropped; and what the user-space link can play of netem."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import UserError
from harness.core.vocabulary import SIDES


class LinkError(UserError, ValueError):
    """Link settings that cannot be played; the message says which and what to write."""


@dataclass(frozen=True)
class Link:
    """An impairment of the veth link: netem arguments on one side's egress or both, and
    the first RST(s) a side sends dropped."""

    netem: str = ""
    side: str = "both"
    drop_rst_from: str | None = None
    drop_rst_count: int = 1

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
        return ", ".join(parts)


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
