"""Which backend gets each new connection, for every algorithm, over real connections."""

from __future__ import annotations

from collections import Counter

import pytest

from cloudlb.model import Algorithm

from .support import CLIENT_IPS, Held, Lab, in_lab, request, requests, wait_until

pytestmark = pytest.mark.timeout(60)


def test_round_robin_rotates_exactly(use_uvloop: bool) -> None:
    async def scenario(lab: Lab) -> None:
        backends = await lab.echoes(3)
        config = lab.listener(backends, algorithm=Algorithm.ROUND_ROBIN)
        await lab.serve(config)

        got = await requests(config, 9)

        first = got[:3]
        assert sorted(first) == ["b1", "b2", "b3"]  # type: ignore[type-var]
        assert got == first * 3

    in_lab(scenario, use_uvloop=use_uvloop)


def test_random_uses_every_backend_roughly_evenly() -> None:
    async def scenario(lab: Lab) -> None:
        backends = await lab.echoes(3)
        config = lab.listener(backends, algorithm=Algorithm.RANDOM)
        await lab.serve(config)

        counts = Counter(await requests(config, 300))

        assert set(counts) == {"b1", "b2", "b3"}
        # Expected 100 each; a fair choice falls outside 50..150 with negligible probability.
        assert all(50 <= n <= 150 for n in counts.values()), counts

    in_lab(scenario)


def test_least_connections_sends_new_connections_to_the_least_busy() -> None:
    async def scenario(lab: Lab) -> None:
        backends = await lab.echoes(3)
        b2 = backends[1]
        config = lab.listener(backends, algorithm=Algorithm.LEAST_CONNECTIONS)
        await lab.serve(config)

        held = [await Held.open(config) for _ in range(6)]
        assert Counter(h.name for h in held) == {"b1": 2, "b2": 2, "b3": 2}

        for h in [h for h in held if h.name == "b2"]:
            h.close()
            held.remove(h)
        await wait_until(lambda: lab.active(config, b2) == 0, "b2's connections to close")
        for _ in range(3):  # b1 and b3 hold two each: short requests all go to idle b2
            assert await request(config) == "b2"
            await wait_until(lambda: lab.active(config, b2) == 0, "the request to finish")
        held += [await Held.open(config), await Held.open(config)]
        assert [h.name for h in held[-2:]] == ["b2", "b2"]  # 0 < 2, then 1 < 2
        for h in held:
            h.close()

    in_lab(scenario)


def test_source_ip_sticks_each_client_to_one_backend() -> None:
    async def scenario(lab: Lab) -> None:
        backends = await lab.echoes(3)
        config = lab.listener(backends, algorithm=Algorithm.SOURCE_IP)
        await lab.serve(config)

        seen = {ip: await requests(config, 4, source=ip) for ip in CLIENT_IPS}

        for ip, names in seen.items():
            assert len(set(names)) == 1, f"{ip} moved between backends: {names}"
        # Six clients, assigned in rotation over three backends: two each.
        assert Counter(names[0] for names in seen.values()) == {"b1": 2, "b2": 2, "b3": 2}

    in_lab(scenario)


def test_source_ip_moves_only_the_clients_of_a_removed_backend() -> None:
    async def scenario(lab: Lab) -> None:
        backends = await lab.echoes(3)
        config = lab.listener(backends, algorithm=Algorithm.SOURCE_IP)
        await lab.serve(config)
        before = {ip: await request(config, ip) for ip in CLIENT_IPS}
        gone = backends[0]

        await lab.serve(
            lab.listener(backends[1:], algorithm=Algorithm.SOURCE_IP, address=config.address, port=config.port)
        )

        after = {ip: await request(config, ip) for ip in CLIENT_IPS}
        for ip in CLIENT_IPS:
            if before[ip] == gone.name:
                assert after[ip] != gone.name
            else:
                assert after[ip] == before[ip], f"{ip} moved although its backend stayed"
        # And the moved clients stick to their new backend.
        for ip in CLIENT_IPS:
            assert await requests(config, 3, source=ip) == [after[ip]] * 3

    in_lab(scenario)
