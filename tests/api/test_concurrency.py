"""IPAM and VLAN allocation under concurrent writers, on SQLite and on PostgreSQL.

Threads call the services layer the way the API controller does (``store.write`` around a create
with validated attributes), so every race the HTTP server could meet is met here, without HTTP.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from dataclasses import replace
from functools import partial

import pytest
from sqlalchemy import select

from neutrino.api.errors import status_for
from neutrino.model.ranges import parse_vlan_ranges
from neutrino.services import errors as e
from neutrino.services.context import ADMIN
from neutrino.store import tables as t
from tests.conftest import make_services

THREADS = 8
PROJECT = "concurrency-project"


@pytest.fixture
def store_services(settings, database_url):
    services = make_services(replace(settings, db_url=database_url))
    yield services
    services.store.dispose()


@pytest.fixture
def small_vlan_services(settings, database_url):
    services = make_services(replace(settings, db_url=database_url,
                                     network_vlan_ranges=tuple(parse_vlan_ranges("physnet1:100:104"))))
    yield services
    services.store.dispose()


def network_attrs(name: str = "") -> dict:
    """What the controller hands the service for ``POST /v2.0/networks`` with only a name."""
    return {"name": name, "description": "", "admin_state_up": True, "shared": False, "router:external": False,
            "port_security_enabled": True, "availability_zone_hints": [], "project_id": PROJECT}


def port_attrs(network_id: str, **extra) -> dict:
    """What the controller hands the service for ``POST /v2.0/ports`` with a network id."""
    return {"network_id": network_id, "name": "", "description": "", "admin_state_up": True, "device_id": "",
            "device_owner": "", "binding:host_id": "", "binding:vnic_type": "normal", "project_id": PROJECT,
            **extra}


def create_network(services, name: str = "") -> str:
    return services.store.write(lambda tx: services.networks.create(tx, ADMIN, network_attrs(name)))


def create_subnet(services, network_id: str, cidr: str) -> dict:
    attrs = {"network_id": network_id, "ip_version": 4, "cidr": cidr, "name": "", "description": "",
             "dns_nameservers": [], "host_routes": [], "enable_dhcp": True, "project_id": PROJECT}
    subnet_id = services.store.write(lambda tx: services.subnets.create(tx, ADMIN, attrs))
    with services.store.read() as session:
        return services.subnets.views(session, ADMIN, [subnet_id])[0]


def create_port(services, attrs: dict) -> str:
    return services.store.write(lambda tx: services.ports.create(tx, ADMIN, attrs))


def run_together(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released at once; returns their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    crashes: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # re-raised in the test's thread, below
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    if crashes:
        raise crashes[0]
    return results


def outcome(call) -> tuple[str, object]:
    """('ok', result) or ('error', exception) for a NeutronError; anything else propagates."""
    try:
        return "ok", call()
    except e.NeutronError as exc:
        return "error", exc


def pool_addresses(subnet: dict) -> set[str]:
    addresses = set()
    for pool in subnet["allocation_pools"]:
        first, last = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        addresses.update(str(ipaddress.ip_address(n)) for n in range(int(first), int(last) + 1))
    return addresses


def allocations(services, network_id: str) -> list[tuple[str, str]]:
    with services.store.read() as session:
        return [tuple(row) for row in session.execute(
            select(t.IpAllocation.ip_address, t.IpAllocation.port_id)
            .where(t.IpAllocation.network_id == network_id))]


def test_threads_filling_a_slash_24_assign_every_address_exactly_once(store_services):
    services = store_services
    network_id = create_network(services, "fill")
    subnet = create_subnet(services, network_id, "10.20.30.0/24")
    assignable = pool_addresses(subnet)
    assert len(assignable) == 253 and subnet["gateway_ip"] not in assignable

    def fill(_):
        created, failures = [], []
        while True:
            kind, value = outcome(lambda: create_port(services, port_attrs(network_id)))
            if kind == "ok":
                created.append(value)
                continue
            failures.append(value)
            # Exhaustion is final: asking again fails the same way.
            failures.append(outcome(lambda: create_port(services, port_attrs(network_id)))[1])
            return created, failures

    results = run_together(THREADS, fill)

    created = [port for ports, _ in results for port in ports]
    failures = [failure for _, errors in results for failure in errors]
    assert len(created) == len(set(created)) == len(assignable)
    assert all(isinstance(f, e.IpAddressGenerationFailure) for f in failures), failures
    assert {status_for(f) for f in failures} == {409}
    held = allocations(services, network_id)
    counts = Counter(address for address, _ in held)
    assert [a for a, n in counts.items() if n > 1] == []
    assert set(counts) == assignable
    assert sorted(port for _, port in held) == sorted(created)


def test_concurrent_requests_for_one_fixed_ip_have_one_winner(store_services):
    services = store_services
    network_id = create_network(services, "fixed")
    subnet = create_subnet(services, network_id, "10.20.31.0/24")
    wanted = [{"subnet_id": subnet["id"], "ip_address": "10.20.31.50"}]

    results = run_together(THREADS, lambda _: outcome(
        lambda: create_port(services, port_attrs(network_id, fixed_ips=wanted))))

    winners = [value for kind, value in results if kind == "ok"]
    losers = [value for kind, value in results if kind == "error"]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert all(isinstance(loser, e.IpAddressInUse) for loser in losers), losers
    assert allocations(services, network_id) == [("10.20.31.50", winners[0])]


def segments_of(services) -> list[tuple[str, int]]:
    with services.store.read() as session:
        return [tuple(row) for row in session.execute(
            select(t.Network.physical_network, t.Network.segmentation_id).where(t.Network.network_type == "vlan"))]


def test_concurrent_tenant_networks_never_share_a_vlan(store_services):
    services = store_services
    per_thread = 4

    results = run_together(THREADS, lambda i: [create_network(services, f"net-{i}-{n}") for n in range(per_thread)])

    assert len({network for ids in results for network in ids}) == THREADS * per_thread
    vlans = segments_of(services)
    assert len(vlans) == THREADS * per_thread
    assert len(set(vlans)) == len(vlans), Counter(vlans).most_common(3)
    assert all(physnet == "physnet1" and 100 <= vlan <= 199 for physnet, vlan in vlans)


def test_exhausting_a_vlan_range_gives_no_network_available(small_vlan_services):
    services = small_vlan_services
    attempts = 3

    results = run_together(THREADS, lambda i: [outcome(partial(create_network, services, f"net-{i}-{n}"))
                                               for n in range(attempts)])

    flat = [item for per_thread in results for item in per_thread]
    created = [value for kind, value in flat if kind == "ok"]
    refused = [value for kind, value in flat if kind == "error"]
    assert len(created) == 5
    assert len(refused) == THREADS * attempts - 5
    assert all(isinstance(r, e.NoNetworkAvailable) for r in refused), refused
    assert {status_for(r) for r in refused} == {503}
    assert sorted(vlan for _, vlan in segments_of(services)) == [100, 101, 102, 103, 104]
