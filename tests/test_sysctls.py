"""A scenario's per-run sysctls: what the loader takes and refuses, one line each."""

from __future__ import annotations

import pytest

from harness.core.catalog import CatalogError, parse_scenario
from harness.core.sysctls import SysctlError, describe, parse_sysctls, sysctl_path

SCENARIO = '''
id = "with-sysctls"
title = "t"
statement = "s"
source = "tcp(7)"
pattern = ">S <S. >."
steps = [{ on = "server", call = "listen" }, { on = "client", call = "connect" }]
states = { client = "ESTABLISHED" }
'''


def test_a_scenario_carries_its_sysctls_in_order() -> None:
    sc = parse_scenario(SCENARIO + 'sysctls = { "net.ipv4.tcp_fin_timeout" = 1, '
                                   '"net.ipv4.tcp_rmem" = "4096 131072 6291456" }')
    assert dict(sc.sysctls) == {"net.ipv4.tcp_fin_timeout": 1,
                                "net.ipv4.tcp_rmem": "4096 131072 6291456"}
    assert describe(sc.sysctls) == ("net.ipv4.tcp_fin_timeout=1, "
                                    "net.ipv4.tcp_rmem=4096 131072 6291456")


def test_a_scenario_without_sysctls_has_none() -> None:
    assert dict(parse_scenario(SCENARIO).sysctls) == {}


def test_a_name_is_a_path_under_proc_sys() -> None:
    assert sysctl_path("net.ipv4.tcp_fin_timeout") == "/proc/sys/net/ipv4/tcp_fin_timeout"


@pytest.mark.parametrize(("table", "message"), [
    ('{ "kernel.pid_max" = 1 }', "'kernel.pid_max' is not a network setting"),
    ('{ "net" = 1 }', "'net' is not a network setting"),
    ('{ "net.ipv4..x" = 1 }', "is not a network setting"),
    ('{ "net/ipv4/tcp_fin_timeout" = 1 }', "is not a network setting"),
    ('{ "net.ipv4.tcp_fin_timeout" = true }', "must be a whole number or a string, not True"),
    ('{ "net.ipv4.tcp_fin_timeout" = 1.5 }', "must be a whole number or a string, not 1.5"),
    ('{ "net.ipv4.tcp_fin_timeout" = "" }', "write the value as `sysctl` takes it"),
    ('{ "net.ipv4.tcp_fin_timeout" = "1\\n2" }', "on one line"),
    ('1', "sysctls must be a table such as"),
])
def test_a_bad_sysctl_is_one_line_naming_it(table: str, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_scenario(SCENARIO + f"sysctls = {table}", "mine.toml")
    text = str(caught.value)
    assert text.startswith("mine.toml: sysctls") and message in text and "\n" not in text


def test_parse_sysctls_takes_a_mapping_only() -> None:
    with pytest.raises(SysctlError, match="must be a table"):
        parse_sysctls(["net.ipv4.tcp_fin_timeout"])
