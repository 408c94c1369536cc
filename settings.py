"""Configuration: every environment variable the product reads, named once, read in one place.

Precedence: the process environment, then an optional `.env` file in the project root, then the
defaults below. Importing this module also switches off every library's telemetry and hub access
(privacy and offline operation are the default, not an option).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# Libraries that phone home unless told not to (see PITFALLS.md). setdefault: an operator may
# still opt in explicitly.
OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "OTEL_SDK_DISABLED": "false",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "PHOENIX_TELEMETRY_ENABLED": "false",
}
for _key, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)


def _load_dotenv() -> None:
    """Read `.env` from the project root into the environment without overriding it."""
    path = ROOT / ".env"
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


_load_dotenv()


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """`a=x,b=y` -> ((a, x), (b, y)); blanks and malformed parts are ignored."""
    parts = (part.partition("=") for part in text.split(","))
    return tuple((k.strip(), v.strip()) for k, sep, v in parts if sep and k.strip() and v.strip())


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    chroma_path: Path
    chroma_host: str
    chroma_port: int
    refund_approval_threshold: Decimal
    staff_password: str
    openai_api_key: str
    openai_base_url: str
    openai_model: str
    # Per-layer model overrides, e.g. OPENAI_MODELS="policy=gpt-4o-mini,orders=gpt-4o".
    openai_models: tuple[tuple[str, str], ...]
    openai_timeout: float
    openai_max_retries: int
    host: str
    port: int
    # Tracing: an existing Phoenix to send to, else one we start on phoenix_port; "off" skips it.
    phoenix_endpoint: str
    phoenix_port: int
    phoenix_project: str
    tracing: bool
    model_cost_per_1k_tokens: Decimal  # for the dashboard's cost estimate (OpenAI path only)
    # Derived from installed packages, not data: shared by every DATA_DIR (tests use many).
    model_cache_dir: Path

    @property
    def uses_openai(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)


def load() -> Settings:
    """Read the settings from the environment now (tests call this after changing it)."""
    data_dir = Path(_env("DATA_DIR", str(ROOT / "var"))).resolve()
    return Settings(
        data_dir=data_dir,
        database_url=_env("DATABASE_URL", f"sqlite:///{data_dir / 'store.db'}"),
        chroma_path=Path(_env("CHROMA_PATH", str(data_dir / "chroma"))),
        chroma_host=_env("CHROMA_HOST"),
        chroma_port=int(_env("CHROMA_PORT", "8000")),
        refund_approval_threshold=Decimal(_env("REFUND_APPROVAL_THRESHOLD", "1000.00")),
        staff_password=_env("STAFF_PASSWORD"),
        openai_api_key=_env("OPENAI_API_KEY"),
        openai_base_url=_env("OPENAI_BASE_URL"),
        openai_model=_env("OPENAI_MODEL", "gpt-4o-mini"),
        openai_models=_pairs(_env("OPENAI_MODELS")),
        openai_timeout=float(_env("OPENAI_TIMEOUT", "20")),
        openai_max_retries=int(_env("OPENAI_MAX_RETRIES", "3")),
        host=_env("APP_HOST", "127.0.0.1"),
        port=int(_env("APP_PORT", "7860")),
        phoenix_endpoint=_env("PHOENIX_COLLECTOR_ENDPOINT").rstrip("/"),
        phoenix_port=int(_env("PHOENIX_PORT", "6006")),
        phoenix_project=_env("PHOENIX_PROJECT_NAME", "store-assistant"),
        tracing=_env("TRACING", "on").lower() not in {"off", "0", "false", "no"},
        model_cost_per_1k_tokens=Decimal(_env("MODEL_COST_PER_1K_TOKENS", "0.0006")),
        model_cache_dir=Path(_env("MODEL_CACHE_DIR", str(ROOT / ".cache" / "models"))).resolve(),
    )


@lru_cache(maxsize=1)
def get() -> Settings:
    """The process-wide settings, read once."""
    return load()


def local_secret(name: str) -> str:
    """A random secret generated on first use and kept in `DATA_DIR/secrets/NAME` (mode 0600).

    For values that must be stable across restarts but need no operator: the generated staff
    password, the key that pseudonymises customer ids in traces.
    """
    import secrets

    path = get().data_dir / "secrets" / name
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(18)
    try:  # O_EXCL: two processes racing on first run agree on one value
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value
