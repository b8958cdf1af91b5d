"""The outgoing-address policy (app/kit/outbound.py): which addresses are refused, how host
forms are read, and that the HTTP client checks at connect time, after resolving, and then
connects to the very address it checked."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from app.config import Settings
from app.kit import outbound
from app.kit.outbound import (
    IPAddress,
    OutboundPolicy,
    OutboundRefused,
    address_kind,
    ip_literal,
    outbound_client,
)

NOBODY = OutboundPolicy.parse("")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.1.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        # IPv6 forms that carry an IPv4 address are judged by the address they carry.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700:4700::1111", "::ffff:93.184.216.34", "8.8.8.8"]
)
def test_public_addresses_pass(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("[::1]", "::1"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
    ],
)
def test_every_spelling_of_an_address_is_read_as_that_address(host: str, address: str) -> None:
    assert ip_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host",
    ["example.com", "1.2.3.4.5", "256.1.1.1", "999999999999", "0x", "08.1.1.1", "1_0.1", "0x-1"],
)
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    assert ip_literal(host) is None


def test_the_allow_list_takes_hosts_ports_addresses_and_cidrs() -> None:
    policy = OutboundPolicy.parse(" CRM.Internal , 10.0.0.0/8,127.0.0.1:8000, [::1]:9000,fd00::5 ")

    assert policy.host_listed("crm.internal", 443)
    assert policy.host_listed("CRM.internal.", 80)
    assert not policy.host_listed("other.internal", 443)
    assert policy.host_listed("127.0.0.1", 8000)
    assert not policy.host_listed("127.0.0.1", 8001)
    assert policy.host_listed("::1", 9000)
    assert policy.refused_kind(ipaddress.ip_address("10.20.30.40")) is None
    assert policy.refused_kind(ipaddress.ip_address("::ffff:10.20.30.40")) is None
    assert policy.refused_kind(ipaddress.ip_address("fd00::5")) is None
    assert policy.refused_kind(ipaddress.ip_address("192.168.0.1")) == "private"
    assert policy.refused_kind(ipaddress.ip_address("127.0.0.1")) == "loopback"


@pytest.mark.parametrize("entry", ["http://crm.internal/", "crm internal", "host:99999", "a@b"])
def test_a_bad_allow_list_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="is not a host"):
        OutboundPolicy.parse(f"ok.example,{entry}")
    with pytest.raises(ValidationError, match="is not a host"):
        Settings(outbound_allow=entry)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://2130706433/", "2130706433 is a loopback address (127.0.0.1)"),
        ("http://0x7f.1:8080/x", "0x7f.1 is a loopback address (127.0.0.1)"),
        ("http://[::ffff:127.0.0.1]/", "is a loopback address (::ffff:7f00:1, that is 127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"),
        ("https://10.0.0.5/hook", "10.0.0.5 is a private address"),
        ("http://localhost:9/", "localhost resolves to a loopback address"),
    ],
)
async def test_urls_to_refused_addresses_are_refused_naming_why(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        await NOBODY.check_url(url)

    assert reason in refused.value.reason
    assert refused.value.reason.endswith("add the host to CALLSOURCE_OUTBOUND_ALLOW to allow it")


async def test_listed_hosts_and_networks_pass_the_check() -> None:
    await OutboundPolicy.parse("localhost").check_url("http://localhost:9/")
    await OutboundPolicy.parse("127.0.0.0/8").check_url("http://2130706433/")
    # A name that does not resolve (yet) is left to the check at connect time.
    await NOBODY.check_url("https://crm.invalid/hook")


# --- at connect time -------------------------------------------------------------------------


class CountingServer:
    """A loopback HTTP server that counts the connections reaching it and keeps each request's
    head; it answers 200, or a redirect to `redirect_to` when set."""

    def __init__(self) -> None:
        self.connections = 0
        self.heads: list[bytes] = []
        self.redirect_to: str | None = None
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            redirect = f"302 Found\r\nLocation: {self.redirect_to}"
            status = redirect if self.redirect_to else "200 OK"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
            )
            await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    counting = CountingServer()
    await counting.start()
    try:
        yield counting
    finally:
        await counting.stop()


def _refusal(exc: BaseException) -> OutboundRefused:
    assert isinstance(exc, httpx.ConnectError)
    assert isinstance(exc.__cause__, OutboundRefused)
    return exc.__cause__


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "localhost", "127.1"])
async def test_a_refused_address_is_never_connected_to(server: CountingServer, host: str) -> None:
    async with outbound_client(NOBODY) as http:
        with pytest.raises(httpx.ConnectError) as refused:
            await http.get(f"http://{host}:{server.port}/")

    assert "loopback" in _refusal(refused.value).reason
    assert server.connections == 0


async def test_an_allowed_address_is_connected_to(server: CountingServer) -> None:
    async with outbound_client(OutboundPolicy.parse("127.0.0.1")) as http:
        response = await http.get(f"http://localhost:{server.port}/")

    assert response.status_code == 200
    assert server.connections == 1


async def test_the_connection_goes_to_the_address_checked_with_the_host_header_kept(
    server: CountingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system resolver knows no such name: only the checked address can be connected to.
    async def resolve(host: str, port: int) -> list[IPAddress]:
        assert host == "crm.pinned.test"
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(outbound, "resolve", resolve)
    async with outbound_client(OutboundPolicy.parse("127.0.0.1/32")) as http:
        response = await http.get(f"http://crm.pinned.test:{server.port}/leads")

    assert response.status_code == 200
    assert f"host: crm.pinned.test:{server.port}".encode() in server.heads[0].lower()


async def test_a_name_that_rebinds_to_a_private_address_after_the_check_is_refused(
    server: CountingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in next(answers)]

    monkeypatch.setattr(outbound, "resolve", resolve)
    url = f"http://rebind.test:{server.port}/"
    await NOBODY.check_url(url)  # public at creation
    async with outbound_client(NOBODY) as http:
        with pytest.raises(httpx.ConnectError) as refused:
            await http.get(url)

    assert "rebind.test resolves to a loopback address 127.0.0.1" in _refusal(refused.value).reason
    assert server.connections == 0


async def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]

    monkeypatch.setattr(outbound, "resolve", resolve)
    with pytest.raises(OutboundRefused, match=r"resolves to a private address 10\.0\.0\.5"):
        await NOBODY.check_url("https://mixed.test/")


async def test_redirects_are_not_followed_and_never_to_a_refused_address(
    server: CountingServer,
) -> None:
    server.redirect_to = "http://169.254.169.254/latest/meta-data/"
    async with outbound_client(OutboundPolicy.parse("127.0.0.1")) as http:
        response = await http.get(f"http://127.0.0.1:{server.port}/")
        assert response.status_code == 302
        with pytest.raises(httpx.ConnectError) as refused:
            await http.get(f"http://127.0.0.1:{server.port}/", follow_redirects=True)

    assert "cloud metadata" in _refusal(refused.value).reason
