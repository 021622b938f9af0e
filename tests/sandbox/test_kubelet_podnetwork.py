"""Pod addresses: one loopback address per pod from the node's podCIDR, as host-local IPAM."""

from __future__ import annotations

import socket

import pytest

from sandbox.kubelet.podnetwork import NoAddressError, PodNetwork, random_cidr


def test_addresses_go_round_robin_and_a_released_one_is_not_reused_at_once() -> None:
    network = PodNetwork("127.201.3.0/29")  # hosts .1-.6; .1 is the bridge's
    first, second = network.allocate("a", []), network.allocate("b", [])
    assert (first, second) == ("127.201.3.2", "127.201.3.3")
    assert network.allocate("a", []) == first  # the same pod keeps its address
    network.release("a")
    assert network.allocate("c", []) == "127.201.3.4"


def test_a_pod_carried_on_keeps_its_address_and_a_full_range_says_so() -> None:
    network = PodNetwork("127.201.4.0/29")
    assert network.allocate("old", [], preferred="127.201.4.5") == "127.201.4.5"
    for uid in "bcde":
        network.allocate(uid, [])
    with pytest.raises(NoAddressError) as error:
        network.allocate("f", [])
    assert str(error.value) == (
        "failed to allocate for range 0: no IP addresses available in range set: "
        "127.201.4.2-127.201.4.6"
    )


def test_an_address_whose_port_is_taken_here_is_passed_over() -> None:
    network = PodNetwork("127.201.5.0/29")
    with socket.socket() as taken:
        taken.bind(("127.201.5.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert network.allocate("a", [port]) == "127.201.5.3"


def test_the_range_is_a_slash_24_of_loopback_away_from_127_0_0() -> None:
    cidr = random_cidr()
    assert cidr.startswith("127.") and cidr.endswith(".0/24") and not cidr.startswith("127.0.")
    with pytest.raises(ValueError, match=r"the pod CIDR 10.244.0.0/24 is not in 127.0.0.0/8"):
        PodNetwork("10.244.0.0/24")
