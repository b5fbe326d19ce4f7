"""Settings: the only place that reads the environment (``VIDGATE_*`` variables)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.checkpoint import DEMO_CHECKPOINT
from pipelines.decoding.isolation import cores

GPU_DECODING_IN_FLIGHT = 16  # videos in flight per process when the GPU decodes them (Settings.in_flight)


class Settings(BaseSettings):
    """vidgate service settings; every field can be set as ``VIDGATE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="VIDGATE_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Job store, uploads and artifacts (embedded mode).")
    storage_url: str | None = Field(None, description="fsspec URL of the storage root; default data_dir/storage.")
    redis_url: str | None = Field(None, description="Redis URL: API only enqueues, `vidgate worker` consumes.")
    redis_prefix: str = "vidgate:"
    checkpoint: Path = Field(DEMO_CHECKPOINT, description="Model checkpoint (local file).")
    device: str = Field("auto", description="auto, cpu or cuda[:N].")
    threads: int = Field(0, description="CPU threads for torch (0: torch's default).")
    decoder: str = Field("pyav", description="Decoder backend: pyav, decord or torchcodec.")
    decode_timeout_s: float = 120.0
    decode_memory_bytes: int = 4 * 1024**3
    workers: int | None = Field(
        None, description="Videos one process recognises at once: the embedded worker threads, `vidgate worker`'s "
        "consumers, a one-process `vidgate batch`. Default: sized to the device (Settings.in_flight)."
    )
    max_snippets: int | None = Field(None, ge=1, le=4096, description="Most snippets planned per video (a job's "
                                     "seconds_per_snippet spreads up to this many over a long video); default: "
                                     "the model's, what it was trained with.")
    decoders: int = Field(
        default_factory=cores,
        description="Decoding children per process, started ahead and reused across videos (one per core).",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated API keys; empty: no auth."
    )
    max_upload_bytes: int = 2 * 1024**3
    max_duration_s: float = 4 * 3600.0
    max_pixels: int = 3840 * 2160
    max_queue: int = 1000
    lease_s: float = 30.0
    max_deliveries: int = 3
    sync_timeout_s: float = 30.0
    job_time_limit_s: float = Field(
        300.0, description="Wall-clock limit of a job: this many seconds plus job_time_per_video_s per second of "
        "video (0: no limit). A job past it fails with job_timeout."
    )
    job_time_per_video_s: float = Field(1.0, description="Seconds of job time allowed per second of video.")
    retention_s: float = Field(
        7 * 24 * 3600.0, description="Finished jobs and their files are deleted this long after they finish (0: keep)."
    )
    housekeeping_s: float = Field(300.0, description="Workers expire jobs and trim the queue this often.")
    upload_idle_timeout_s: float = Field(30.0, description="An upload that sends nothing this long gets 408.")
    intake_probes: int = Field(4, description="Uploads probed at once (each in its own limited child process).")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    def in_flight(self, device: str | None, backend: str | None = None) -> int:
        """How many videos one process recognises at once: ``workers`` when set, else sized to where the model
        runs (``device``: ``cpu`` or ``cuda``; None: a job handler that runs no model, which gets one) and
        which decoder it uses (``backend``, as resolved):

        * decoding on the CPU (``pyav``, ``decord``; the model on the CPU or on CUDA): one video per decoding
          child, ``decoders``, by default one per core. Each video in flight holds one child from its probe to
          its result; on the CPU the model's passes share the cores with them, on CUDA decoding is the
          bottleneck and the device loop batches the passes of the videos whose decoding is done. More videos
          than children would start extra children for them.
        * decoding on the GPU (``torchcodec-cuda`` with the model on CUDA): `GPU_DECODING_IN_FLIGHT`, enough to
          keep an H100's seven NVDEC engines and the device loop busy at once (a choice, not yet measured).
        """
        if self.workers is not None:
            return max(1, self.workers)
        if device is None:
            return 1
        if device.startswith("cuda") and backend == "torchcodec-cuda":
            return GPU_DECODING_IN_FLIGHT
        return max(1, self.decoders)

    @property
    def storage_root(self) -> str:
        return self.storage_url or str((self.data_dir / "storage").resolve())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
