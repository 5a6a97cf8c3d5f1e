"""List queries as Neutron answers them: ``fields``, filters (repeated values, booleans, empty strings),
multi-key ``sort_key``/``sort_dir``, and ``limit``/``marker``/``page_reverse`` pagination with
``<collection>_links``; bad parameters are a 400."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.api.expect import error, ok

NAMES = ["delta", "alpha", "charlie", "bravo", "alpha", "echo"]


def networks(api, params=None) -> list[dict]:
    return ok(api.get("/v2.0/networks", params=params))["networks"]


def names(api, params=None) -> list[str]:
    return [n["name"] for n in networks(api, params)]


@pytest.fixture
def named(demo) -> list[dict]:
    """Six networks of the demo project, two of them named alpha; echo is administratively down."""
    return [demo.create("networks", "network", name=name, admin_state_up=name != "echo") for name in NAMES]


@pytest.fixture
def twenty_five(demo) -> list[str]:
    body = {"networks": [{"name": f"net-{number:02d}"} for number in range(25)]}
    return [n["id"] for n in ok(demo.post("/v2.0/networks", json=body), 201)["networks"]]


def follow(api, url: str, rel: str, collection: str = "networks") -> tuple[list[list[dict]], list[str]]:
    """Every page from ``url`` on, following ``rel`` links: (pages, the URLs requested)."""
    pages, urls = [], []
    while url is not None:
        assert len(urls) < 50, "pagination does not end"
        urls.append(url)
        body = ok(api.get(url))
        pages.append(body[collection])
        links = {link["rel"]: link["href"] for link in body.get(f"{collection}_links", [])}
        url = links.get(rel)
    return pages, urls


# --- fields ---

def test_fields_limit_each_item_to_the_fields_asked_for(demo, named):
    listed = networks(demo, [("fields", "id"), ("fields", "name")])
    assert len(listed) == len(NAMES)
    assert all(set(n) == {"id", "name"} for n in listed)

    shown = ok(demo.get(f"/v2.0/networks/{named[0]['id']}", params=[("fields", "status"), ("fields", "mtu")]))
    assert shown == {"network": {"status": "ACTIVE", "mtu": 1500}}


def test_fields_may_be_comma_separated(demo, named):
    assert all(set(n) == {"id", "status"} for n in networks(demo, {"fields": "id,status"}))


# --- filters ---

def test_a_filter_matches_equal_values(demo, named):
    assert names(demo, {"name": "alpha"}) == ["alpha", "alpha"]
    assert names(demo, {"name": "zulu"}) == []


def test_a_repeated_filter_matches_any_of_its_values(demo, named):
    assert sorted(names(demo, [("name", "alpha"), ("name", "echo"), ("name", "zulu")])) == ["alpha", "alpha", "echo"]
    wanted = [named[0]["id"], named[3]["id"]]
    assert sorted(n["id"] for n in networks(demo, [("id", wanted[0]), ("id", wanted[1])])) == sorted(wanted)


def test_filters_on_different_attributes_must_all_match(demo, named):
    assert names(demo, {"name": "echo", "admin_state_up": "true"}) == []
    assert names(demo, {"name": "echo", "admin_state_up": "false"}) == ["echo"]


def test_boolean_filters_take_neutrons_spellings(demo, named):
    up = ["alpha", "alpha", "bravo", "charlie", "delta"]
    for value, expected in [("false", ["echo"]), ("False", ["echo"]), ("0", ["echo"]),
                            ("true", up), ("True", up), ("TRUE", up), ("1", up)]:
        assert sorted(names(demo, {"admin_state_up": value})) == expected, value
    assert sorted(names(demo, [("admin_state_up", "true"), ("admin_state_up", "0")])) == sorted(NAMES)


def test_an_empty_string_filter_matches_empty_values(demo, named):
    unnamed = demo.create("networks", "network")
    assert [n["id"] for n in networks(demo, {"name": ""})] == [unnamed["id"]]


def test_a_filter_on_the_project(admin, demo, other, named):
    theirs = other.create("networks", "network", name="theirs")
    assert [n["id"] for n in networks(admin, {"project_id": other.project_id})] == [theirs["id"]]
    assert [n["id"] for n in networks(admin, {"tenant_id": other.project_id})] == [theirs["id"]]
    assert networks(demo, {"project_id": other.project_id}) == []  # scoping still applies


def test_bad_filters_are_a_400(demo, named):
    for params, wrong in [
        ({"colour": "blue"}, "colour"),
        ({"name": "alpha", "flavour": "x"}, "flavour"),
        ({"admin_state_up": "maybe"}, "admin_state_up"),
        ({"shared": "yes please"}, "shared"),
        ({"availability_zone_hints": "nova"}, "availability_zone_hints"),
    ]:
        found = error(demo.get("/v2.0/networks", params=params), 400, "HTTPBadRequest")
        assert wrong in found["message"], (params, found)
    error(demo.get("/v2.0/ports", params={"binding:host_id": "compute-1"}), 400, "HTTPBadRequest")  # admin-only


# --- sorting ---

def test_sort_by_one_key_either_way(demo, named):
    assert names(demo, {"sort_key": "name", "sort_dir": "asc"}) == sorted(NAMES)
    assert names(demo, {"sort_key": "name", "sort_dir": "desc"}) == sorted(NAMES, reverse=True)


def test_sort_by_several_keys(demo, named):
    listed = networks(demo, [("sort_key", "name"), ("sort_dir", "asc"), ("sort_key", "id"), ("sort_dir", "desc")])
    alphas = [n["id"] for n in listed if n["name"] == "alpha"]
    assert [n["name"] for n in listed] == sorted(NAMES)
    assert alphas == sorted(alphas, reverse=True)

    listed = networks(demo, [("sort_key", "admin_state_up"), ("sort_dir", "asc"),
                             ("sort_key", "name"), ("sort_dir", "desc")])
    assert [n["name"] for n in listed] == ["echo", "delta", "charlie", "bravo", "alpha", "alpha"]


def test_bad_sorting_is_a_400(demo, named):
    for params in [
        {"sort_key": "colour", "sort_dir": "asc"},
        {"sort_key": "subnets", "sort_dir": "asc"},
        {"sort_key": "name", "sort_dir": "up"},
        {"sort_key": "name", "sort_dir": "ASC "},
        {"sort_key": "name"},  # Neutron wants as many sort_dir as sort_key
        {"sort_dir": "asc"},
        [("sort_key", "name"), ("sort_key", "id"), ("sort_dir", "asc")],
    ]:
        error(demo.get("/v2.0/networks", params=params), 400, "HTTPBadRequest")


# --- pagination ---

def test_following_next_links_pages_through_every_network_exactly_once(demo, twenty_five):
    pages, urls = follow(demo, "/v2.0/networks?limit=10", "next")

    assert [len(page) for page in pages] == [10, 10, 5]
    seen = [n["id"] for page in pages for n in page]
    assert sorted(seen) == sorted(twenty_five) and len(set(seen)) == 25
    assert all(url.startswith("http://testserver/v2.0/networks?") for url in urls[1:])
    assert all(dict(parse_qsl(urlsplit(url).query))["limit"] == "10" for url in urls[1:])


def test_a_limit_that_divides_the_collection_still_pages_each_network_once(demo, twenty_five):
    pages, urls = follow(demo, "/v2.0/networks?limit=5", "next")
    seen = [n["id"] for page in pages for n in page]
    assert sorted(seen) == sorted(twenty_five) and len(seen) == 25
    assert len(urls) <= 6 and all(len(page) == 5 for page in pages if page)


def test_pages_keep_the_sort_order_and_the_filters(demo, twenty_five):
    demo.create("networks", "network", name="other")
    first = "/v2.0/networks?limit=4&sort_key=name&sort_dir=desc&name=net-03&name=net-07&name=net-11" \
            "&name=net-19&name=net-20&name=net-24"
    pages, _ = follow(demo, first, "next")
    assert [len(page) for page in pages] == [4, 2]
    assert [n["name"] for page in pages for n in page] == ["net-24", "net-20", "net-19", "net-11", "net-07", "net-03"]


def test_previous_links_page_back_to_the_start(demo, twenty_five):
    forward, _ = follow(demo, "/v2.0/networks?limit=10&sort_key=name&sort_dir=asc", "next")
    last = forward[-1][-1]["id"]

    backward, _ = follow(demo, f"/v2.0/networks?limit=10&sort_key=name&sort_dir=asc&marker={last}&page_reverse=True",
                         "previous")

    names_back = [n["name"] for page in reversed(backward) for n in page]
    assert names_back == [f"net-{number:02d}" for number in range(24)]


def test_the_first_page_has_a_next_link_and_the_last_none(demo, twenty_five):
    first = ok(demo.get("/v2.0/networks", params={"limit": 20}))
    assert [link["rel"] for link in first["networks_links"]] == ["next"]
    marker = first["networks"][-1]["id"]
    last = ok(demo.get("/v2.0/networks", params={"limit": 20, "marker": marker}))
    assert len(last["networks"]) == 5
    assert "next" not in {link["rel"] for link in last.get("networks_links", [])}


def test_no_limit_means_everything_and_no_links(demo, twenty_five):
    body = ok(demo.get("/v2.0/networks"))
    assert len(body["networks"]) == 25 and "networks_links" not in body
    assert len(ok(demo.get("/v2.0/networks", params={"limit": 0}))["networks"]) == 25


def test_a_bad_limit_is_a_400(demo):
    for limit in ["ten", "-1", "1.5", ""]:
        error(demo.get("/v2.0/networks", params={"limit": limit}), 400, "HTTPBadRequest")


def test_an_unknown_marker_is_not_found(demo, named):
    error(demo.get("/v2.0/networks", params={"limit": 2, "marker": "3f0e8c0e-5d1c-4c1e-9a55-2b7f3e1d9a10"}),
          404, "NetworkNotFound")


def test_another_projects_network_is_no_marker(demo, other, named):
    theirs = other.create("networks", "network", name="theirs")
    error(demo.get("/v2.0/networks", params={"limit": 2, "marker": theirs["id"]}), 404, "NetworkNotFound")
