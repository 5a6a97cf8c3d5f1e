"""Two hosts on one fabric (issue 3, point 6): a network's instances reach each other across hosts
over its provider VLAN, as tcpdump on the wire shows, and never reach another network's instances.

Both networks use the SAME CIDR (distinct addresses), so only L2 isolation, not routing, decides.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from tests.host.simhost import stop_process

CIDR = "10.9.0.0/24"


def test_two_hosts(make_host, cloud, fabric, tmp_path):
    a, b = make_host(), make_host()
    red, blue = cloud.create_network("red", cidr=CIDR), cloud.create_network("blue", cidr=CIDR)
    red_vlan, blue_vlan = red["provider:segmentation_id"], blue["provider:segmentation_id"]
    instances = {  # namespace -> (host, network, address)
        "red1": (a, red, "10.9.0.11"), "red2": (b, red, "10.9.0.12"),
        "blue1": (a, blue, "10.9.0.21"), "blue2": (b, blue, "10.9.0.22"),
    }
    for namespace, (host, network, address) in instances.items():
        host.plug(cloud.create_port(network, address)["id"], namespace)

    wire = tmp_path / "fabric.txt"
    capture = fabric.capture(fabric.uplink_name(a, "eth1"), wire, ["arp", "or", "icmp", "or", "vlan"])
    try:
        assert a.ping("red1", "10.9.0.12", count=3), "red across hosts"
        assert a.ping("blue1", "10.9.0.22", count=3), "blue across hosts"
        blocked = [(a, "red1", "10.9.0.21"), (a, "red1", "10.9.0.22"), (b, "blue2", "10.9.0.11"),
                   (b, "red2", "10.9.0.21")]
        with ThreadPoolExecutor(len(blocked)) as pool:
            reached = list(pool.map(lambda case: case[0].ping(case[1], case[2], count=2), blocked))
        assert reached == [False] * len(blocked), f"reached across networks: {blocked}"
    finally:
        stop_process(capture)
    frames = [line for line in wire.read_text().splitlines() if line.strip()]

    def frames_of(pattern: str) -> list[str]:
        return [frame for frame in frames if re.search(pattern, frame)]

    red_pings = frames_of(r"10\.9\.0\.11 > 10\.9\.0\.12: ICMP echo request")
    red_replies = frames_of(r"10\.9\.0\.12 > 10\.9\.0\.11: ICMP echo reply")
    blue_pings = frames_of(r"10\.9\.0\.21 > 10\.9\.0\.22: ICMP echo request")
    assert len(red_pings) >= 3 and len(red_replies) >= 3 and len(blue_pings) >= 3, "\n".join(frames)
    assert all(f"vlan {red_vlan}," in frame for frame in red_pings + red_replies), "\n".join(red_pings)
    assert all(f"vlan {blue_vlan}," in frame for frame in blue_pings), "\n".join(blue_pings)
    # Every frame on the wire is tagged, and each address only ever on its own network's VLAN.
    untagged = [frame for frame in frames if "802.1Q" not in frame]
    assert not untagged, "untagged frames on the wire:\n" + "\n".join(untagged)
    for address, vlan in (("10.9.0.11", red_vlan), ("10.9.0.12", red_vlan), ("10.9.0.21", blue_vlan),
                          ("10.9.0.22", blue_vlan)):
        sent = [frame for frame in frames if f"tell {address}," in frame or f"{address} > " in frame]
        assert sent and all(f"vlan {vlan}," in frame for frame in sent), f"{address}:\n" + "\n".join(sent)
