"""Videos in flight per process: one declaration (`Settings.in_flight`), sized to the device unless set."""

from __future__ import annotations

import pytest

from pipelines.decoding.isolation import cores
from service.config import GPU_DECODING_IN_FLIGHT, Settings


def test_videos_in_flight_follow_the_device_and_the_decoder() -> None:
    default = Settings(workers=None)
    assert default.decoders == cores()  # one decoding child per core
    assert default.in_flight("cpu", "pyav") == cores()  # one video per decoding child
    assert default.in_flight("cuda", "pyav") == cores()  # decoding on the CPU keeps every child busy
    assert default.in_flight("cuda", "torchcodec-cuda") == GPU_DECODING_IN_FLIGHT  # no child decodes
    assert Settings(workers=None, decoders=3).in_flight("cpu", "pyav") == 3
    assert default.in_flight(None) == 1  # a job handler that runs no model


@pytest.mark.parametrize("workers", [1, 5])
def test_vidgate_workers_overrides_the_sizing(workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_WORKERS", str(workers))
    settings = Settings()
    assert [settings.in_flight(d, b) for d, b in (("cpu", "pyav"), ("cuda", "torchcodec-cuda"), (None, None))] == \
        [workers] * 3
