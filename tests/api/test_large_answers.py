"""A large list answer is sent whole, and the server then hands the heap it freed back to the OS."""

from __future__ import annotations

from neutrino.api import heap


def test_a_list_large_enough_to_trim_the_heap_after_it_answers_in_full(admin, monkeypatch):
    network = admin.create("networks", "network", name="big")
    admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.7.0.0/24")
    response = admin.post("/v2.0/ports", json={"ports": [{"network_id": network["id"], "name": f"p{i}"}
                                                         for i in range(5)]})
    assert response.status_code == 201, response.text
    monkeypatch.setattr(heap, "LARGE_ANSWER", 100)  # every list here counts as large

    response = admin.get("/v2.0/ports")

    assert response.status_code == 200, response.text
    assert heap.is_large(response.content)
    assert sorted(p["name"] for p in response.json()["ports"]) == [f"p{i}" for i in range(5)]


def test_trimming_the_heap_may_run_at_any_time():
    heap.release_free_heap()
