"""The store on both databases: migrations, the global revision, change rows, constraint-backed uniqueness."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, inspect, select

from neutrino.services.context import ADMIN
from neutrino.services.errors import MacAddressInUse, VlanIdInUse
from neutrino.store import tables as t
from neutrino.store.revisions import compact, read_head
from tests.conftest import make_services


@pytest.fixture
def store_services(settings, database_url):
    services = make_services(replace(settings, db_url=database_url))
    yield services
    services.store.dispose()


def _network(services, **attrs) -> str:
    return services.store.write(lambda tx: services.networks.create(tx, ADMIN, dict(name="n", **attrs)))


def test_migrations_create_every_table_and_are_idempotent(store_services):
    store_services.store.migrate()  # a second run changes nothing
    names = set(inspect(store_services.store.read_engine).get_table_names())
    assert {table.name for table in t.Base.metadata.sorted_tables} <= names
    assert "alembic_version" in names
    with store_services.store.read() as session:
        assert read_head(session) == (0, 0)


def test_each_write_takes_the_next_revision_with_one_change_per_resource(store_services):
    first = _network(store_services)
    second = _network(store_services)
    with store_services.store.read() as session:
        head, _ = read_head(session)
        changes = session.execute(select(t.Change).order_by(t.Change.revision, t.Change.seq)).scalars().all()
    assert head == 2
    assert [(c.revision, c.kind, c.resource_id) for c in changes] == [(1, "network", first), (2, "network", second)]
    assert changes[0].body["id"] == first and changes[0].body["provider:segmentation_id"] == 100


def test_a_failed_write_takes_no_revision_and_leaves_nothing(store_services):
    _network(store_services, **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                                "provider:segmentation_id": 150})
    with pytest.raises(VlanIdInUse):
        _network(store_services, **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                                    "provider:segmentation_id": 150})
    with store_services.store.read() as session:
        assert read_head(session)[0] == 1
        assert session.execute(select(func.count()).select_from(t.Network)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(t.Change)).scalar_one() == 1


def test_a_deleted_resource_is_a_change_without_body(store_services):
    network = _network(store_services)
    store_services.store.write(lambda tx: store_services.networks.delete(tx, ADMIN, network))
    with store_services.store.read() as session:
        last = session.execute(select(t.Change).order_by(t.Change.revision.desc())).scalars().first()
    assert (last.revision, last.kind, last.resource_id, last.body) == (2, "network", network, None)


def test_compaction_forgets_old_changes_and_records_how_far(store_services):
    for _ in range(3):
        _network(store_services)
    store_services.store.write(lambda tx: compact(tx.session, 2))
    with store_services.store.read() as session:
        assert read_head(session) == (3, 2)
        assert session.execute(select(t.Change.revision)).scalars().all() == [3]


def test_the_database_refuses_a_second_port_with_the_same_mac(store_services):
    network = _network(store_services)
    attrs = {"network_id": network, "mac_address": "fa:16:3e:00:00:01", "fixed_ips": []}
    store_services.store.write(lambda tx: store_services.ports.create(tx, ADMIN, dict(attrs)))
    with pytest.raises(MacAddressInUse):
        store_services.store.write(lambda tx: store_services.ports.create(tx, ADMIN, dict(attrs)))


def test_deleting_a_port_releases_its_addresses(store_services):
    network = _network(store_services)
    store_services.store.write(lambda tx: store_services.subnets.create(
        tx, ADMIN, {"network_id": network, "cidr": "10.9.0.0/29", "ip_version": 4}))
    port = store_services.store.write(lambda tx: store_services.ports.create(
        tx, ADMIN, {"network_id": network, "fixed_ips": [{"ip_address": "10.9.0.3"}]}))
    store_services.store.write(lambda tx: store_services.ports.delete(tx, ADMIN, port))
    with store_services.store.read() as session:
        assert session.execute(select(func.count()).select_from(t.IpAllocation)).scalar_one() == 0
    again = store_services.store.write(lambda tx: store_services.ports.create(
        tx, ADMIN, {"network_id": network, "fixed_ips": [{"ip_address": "10.9.0.3"}]}))
    assert again != port


def test_migrations_match_the_models(store_services):
    """A model change without its migration fails here (alembic's autogenerate finds nothing to add)."""
    from alembic import command

    from neutrino.store.migrate import alembic_config

    with store_services.store.write_engine.connect() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.check(config)
